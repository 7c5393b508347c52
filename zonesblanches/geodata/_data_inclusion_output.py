"""The services table data·inclusion rows become: its columns, the merge of duplicates, and
the result (:class:`DataInclusionRead`) with its counts and French summary.

Two rows of one category within :data:`MERGE_DISTANCE_M` that share their ``structure_id`` or
their normalised name are one service; the one kept has the best ``score_qualite``, then the
latest ``date_maj``; its ``sources`` lists every source merged. Public names are re-exported
by :mod:`zonesblanches.geodata.data_inclusion`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from zonesblanches._text import fr_count, normalize
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.geodata.categories import CATEGORIES

MERGE_DISTANCE_M = 50.0
"""Two rows of one category closer than this, same structure or same name, are one service."""

PRECISIONS = ("coordonnees_fournies", "adresse", "rue", "commune")

OUTPUT_COLUMNS = (
    "service_id",
    "nom",
    "categorie",
    "regle_categorie",
    "commune",
    "code_insee",
    "code_postal",
    "adresse",
    "statut",
    "date_maj",
    "source",
    "sources",
    "score_qualite",
    "lien_source",
    "id_data_inclusion",
    "structure_id",
    "siret",
    "reseaux_porteurs",
    "type",
    "thematiques",
    "precision",
    "doublons",
)
"""Columns of :attr:`DataInclusionRead.services` before ``geometry``. ``statut`` is empty: the
planner fills it (actif / fermé / à vérifier)."""


@dataclass
class DataInclusionRead:
    """What :func:`load_data_inclusion` kept, merged, rejected and counted.

    Attributes
    ----------
    services : geopandas.GeoDataFrame
        EPSG:4326 points, columns :data:`OUTPUT_COLUMNS` + ``geometry``, sorted by id.
    rejects : pandas.DataFrame
        ``ligne`` (row number as a spreadsheet shows it, header = 1; row number from 1 for
        parquet and json), ``champ``, ``motif``, then ``id``, ``nom``, ``source``, ``commune``,
        ``code_insee``.
    merged : pandas.DataFrame
        One row per duplicate merged into a kept service: ``ligne``, ``id``, ``nom``,
        ``source``, ``fusionne_dans`` (id kept).
    remote : pandas.DataFrame
        Remote-only services (``a-distance``): ``ligne``, ``id``, ``nom``, ``categorie``.
    flags : pandas.DataFrame
        Kept rows with a warning (``ligne``, ``id``, ``champ``, ``motif``): declared commune
        not that of the coordinates, geocoder fallback…
    counts : dict
        ``lus``, ``retenus``, ``fusionnes``, ``rejetes``, ``a_distance``, ``hors_mobilite``,
        ``hors_zone``, ``avant_depuis``.
    warnings : list of str
    provenance : dict
        ``fichier``, ``format``, and when downloaded ``licence``, ``telecharge_le``,
        ``mise_a_jour``, ``url``.
    """

    services: gpd.GeoDataFrame
    rejects: pd.DataFrame
    merged: pd.DataFrame
    remote: pd.DataFrame
    flags: pd.DataFrame
    counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def by_category(self) -> dict[str, int]:
        """Kept services per category code (every category, zeros included)."""
        found = self.services["categorie"].value_counts().to_dict()
        return {code: int(found.get(code, 0)) for code in CATEGORIES}

    def by_precision(self) -> dict[str, int]:
        """Kept services per ``precision`` (every value, zeros included)."""
        found = self.services["precision"].value_counts().to_dict()
        return {p: int(found.get(p, 0)) for p in PRECISIONS}

    def summary(self) -> list[str]:
        """French sentences for the CLI and the method notes."""
        c = self.counts
        cats = ", ".join(
            f"{CATEGORIES[k].label.lower()} {v}" for k, v in self.by_category().items() if v
        )
        prec = self.by_precision()
        lines = [
            f"Inventaire data·inclusion : {fr_count(c['lus'], 'service lu', 'services lus')}, "
            f"{fr_count(c['retenus'], 'retenu')} ({cats or 'aucun'}).",
            f"{fr_count(c['fusionnes'], 'doublon fusionné', 'doublons fusionnés')} ; "
            f"{fr_count(c['a_distance'], 'service à distance', 'services à distance')}, non "
            f"cartographié{'s' if c['a_distance'] >= 2 else ''} ; "
            f"{fr_count(c['rejetes'], 'rejeté')} ; hors mobilité "
            f"{c['hors_mobilite']} ; hors zone {c['hors_zone']}"
            + (f" ; antérieurs à la date demandée {c['avant_depuis']}" if c["avant_depuis"] else "")
            + ".",
            f"Localisation : {prec['coordonnees_fournies']} par coordonnées fournies, "
            f"{prec['adresse']} géocodé(s) à l'adresse, {prec['rue']} à la rue, "
            f"{prec['commune']} à la commune.",
        ]
        if self.provenance.get("licence"):
            lines.append(
                f"Source : data·inclusion (data.gouv.fr), licence {self.provenance['licence']}, "
                f"téléchargé le {str(self.provenance.get('telecharge_le', '?'))[:10]}."
            )
        return lines


@cache
def _to_l93() -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(WGS84, LAMBERT93, always_xy=True)


def _merge_duplicates(services: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Merge rows of one category within 50 m sharing a structure id or a normalised name."""
    from scipy.spatial import cKDTree

    merged_cols = ["ligne", "id", "nom", "source", "fusionne_dans"]
    n = len(services)
    if n < 2:
        return _finish(services), pd.DataFrame(columns=merged_cols)
    x, y = _to_l93().transform(services.geometry.x.to_numpy(), services.geometry.y.to_numpy())
    # 1 mm of slack: a pair exactly 50 m apart stays a pair after the WGS84 round trip
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(
        MERGE_DISTANCE_M + 1e-3, output_type="ndarray"
    )
    cat = services["categorie"].to_numpy()
    struct = services["structure_id"].to_numpy()
    names = np.array([normalize(v) for v in services["nom"]], dtype=object)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        same_struct = struct[i] != "" and struct[i] == struct[j]
        same_name = names[i] != "" and names[i] == names[j]
        if cat[i] == cat[j] and (same_struct or same_name):
            parent[root(i)] = root(j)
    groups = np.array([root(i) for i in range(n)])
    rank = {p: k for k, p in enumerate(PRECISIONS)}
    order = services.assign(
        _g=groups,
        _score=services["score_qualite"].fillna(-1.0),
        _prec=services["precision"].map(rank),
    ).sort_values(
        ["_g", "_score", "date_maj", "_prec", "service_id"],
        ascending=[True, False, False, True, True],
        kind="stable",
    )
    first = ~order["_g"].duplicated()
    kept = order[first].copy()
    dropped = order[~first]
    keeper = dict(zip(kept["_g"], kept["service_id"], strict=True))
    sizes = order["_g"].value_counts()
    multi = order[order["_g"].isin(sizes.index[sizes > 1])]
    for g, sub in multi.groupby("_g", sort=False):
        idx = kept.index[kept["_g"] == g][0]
        kept.at[idx, "sources"] = "; ".join(sorted(set(sub["source"])))
        kept.at[idx, "doublons"] = len(sub) - 1
    merged = pd.DataFrame(
        {
            "ligne": dropped["_ligne"].to_numpy(),
            "id": dropped["service_id"].to_numpy(),
            "nom": dropped["nom"].to_numpy(),
            "source": dropped["source"].to_numpy(),
            "fusionne_dans": [keeper[g] for g in dropped["_g"]],
        },
        columns=merged_cols,
    ).sort_values("ligne", kind="stable")
    kept = kept.drop(columns=["_g", "_score", "_prec"])
    return _finish(kept), merged.reset_index(drop=True)


def _finish(services: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = services.drop(columns=["_ligne"], errors="ignore")
    out = out.sort_values("service_id", kind="stable").reset_index(drop=True)
    out["doublons"] = out["doublons"].astype(int)
    return gpd.GeoDataFrame(out[list(OUTPUT_COLUMNS) + ["geometry"]], geometry="geometry",
                            crs=WGS84)  # fmt: skip
