"""The data·inclusion national inventory: download, read, classify, locate and merge services.

data·inclusion (GIP de l'inclusion) publishes every Monday, on data.gouv.fr (dataset
:data:`DATASET_ID`), a ``services`` table and a ``structures`` table in five formats, through
stable permalinks that redirect to the current file (:data:`RESOURCES`). This module turns the
``services`` table into the project's services:

1. **Read** (:func:`read_table`): parquet first (its list columns are real lists); csv (lists in
   their Python text form, ``"['a', 'b']"``), geojson, json (records) and xlsx also accepted. The
   format is recognised by content, not name. A file that is not the ``services`` table (another
   dataset, the ``structures`` table) or a corrupt/truncated one gives a :class:`DataError` in
   French.
2. **Mobility only**: rows without a ``mobilite--`` thématique are out of scope (counted).
3. ``depuis``: only services whose ``date_maj`` is on or after that date (rows without a date are
   left out too: they cannot be shown to be recent).
4. **Remote-only**: a service whose ``modes_accueil`` holds only ``a-distance`` is no place to go
   to: counted (per category), not mapped.
5. **Category** by the rule table of :mod:`zonesblanches.geodata.thematiques` (column
   ``regle_categorie``); a mobility service no rule places is rejected with its reason.
6. **Location**: given coordinates (``precision = coordonnees_fournies``) must fall in
   metropolitan France, else the row is rejected (overseas services are outside the tool's
   scope); rows without coordinates are geocoded from their address (Géoplateforme batch
   geocoder, :mod:`zonesblanches.geodata.geocodage`: ``adresse``, ``rue`` or ``commune``
   precision), else placed at their commune's point (``commune``); offline, or when the geocoder
   fails or scores under its threshold, the row falls back on its commune and the warning says
   so. A declared commune that disagrees with the coordinates is flagged (both communes named),
   the coordinates are kept.
7. ``zone``: only services inside the given geometry (territory plus margin) are kept.
8. **Duplicates**: two rows of the same category within 50 m that share their ``structure_id``
   or their normalised name are one service; the one kept has the best ``score_qualite``, then
   the latest ``date_maj``; its ``sources`` lists every source merged. Merged rows are listed.

Accounting (asserted by the tests): ``lus = retenus + fusionnes + rejetes + a_distance +
hors_mobilite + hors_zone + avant_depuis``; every rejected row is in ``rejects`` with its line,
field and reason.

Provenance: a download records the date and the dataset licence read from the data.gouv.fr API
(``license``), beside the file (``<table>.<format>.json``); :attr:`DataInclusionRead.provenance`
carries them to the outputs.

One module per job, like OSMnx; this one holds the entry point (:func:`load_data_inclusion`, the
search zone, the join to ``structures``) and re-exports the public names of the others:
:mod:`~zonesblanches.geodata._data_inclusion_download` (permalinks, download, cache),
:mod:`~zonesblanches.geodata._data_inclusion_read` (step 1),
:mod:`~zonesblanches.geodata._data_inclusion_rows` (steps 2 to 7) and
:mod:`~zonesblanches.geodata._data_inclusion_output` (step 8, output columns, the result).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from zonesblanches._text import fr_count
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import DataError, NetworkUnavailableError, ParameterError
from zonesblanches.geodata._data_inclusion_download import (
    DATASET_ID,
    DATASET_PAGE,
    HINT,
    RESOURCES,
    cached_table,
    download_table,
    permalink,
)
from zonesblanches.geodata._data_inclusion_output import (
    MERGE_DISTANCE_M,
    OUTPUT_COLUMNS,
    PRECISIONS,
    DataInclusionRead,
)
from zonesblanches.geodata._data_inclusion_read import (
    LIST_COLUMNS,
    REQUIRED,
    USED_COLUMNS,
    _kind,
    _table_columns,
    check_services_table,
    looks_like_data_inclusion,
    read_table,
)
from zonesblanches.geodata._data_inclusion_rows import (
    FRANCE_BBOX,
    _Communes,
    _Loader,
    _text,
)
from zonesblanches.geodata.communes import departement_of

__all__ = [
    "DATASET_ID",
    "DATASET_PAGE",
    "FRANCE_BBOX",
    "HINT",
    "LIST_COLUMNS",
    "MERGE_DISTANCE_M",
    "OUTPUT_COLUMNS",
    "PRECISIONS",
    "REQUIRED",
    "RESOURCES",
    "USED_COLUMNS",
    "DataInclusionRead",
    "cached_table",
    "check_services_table",
    "download_table",
    "load_data_inclusion",
    "looks_like_data_inclusion",
    "permalink",
    "read_table",
    "search_zone",
]


def load_data_inclusion(
    services: str | os.PathLike | None = None,
    structures: str | os.PathLike | None = None,
    *,
    download: bool = False,
    depuis: str | date | None = None,
    zone: shapely.Geometry | None = None,
    departements: list[str] | None = None,
    communes: gpd.GeoDataFrame | None = None,
    geocoder=None,
    geocode: bool = True,
    rejects_path: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
) -> DataInclusionRead:
    """Read data·inclusion services (file, cache or download) into the project's services.

    Parameters
    ----------
    services : path-like, optional
        The ``services`` table (parquet, csv, geojson, json, xlsx). Default: the cached
        download, or (``download=True``) a fresh download.
    structures : path-like, optional
        The ``structures`` table: adds ``siret`` and ``reseaux_porteurs`` (Mob'In, Wimoov…).
    download : bool
        Without ``services``, download the national table when no copy is cached (or when
        the cached copy is older than the published one).
    depuis : str or date, optional
        Keep only services updated (``date_maj``) on or after this date (``"2024-01-01"``).
    zone : shapely geometry (EPSG:4326), optional
        Territory plus margin: services outside are counted ``hors_zone``.
    departements : list of str, optional
        Départements whose rows without coordinates are located (geocoding costs requests);
        default: those of the reference communes meeting ``zone`` (all when no zone).
    communes : geopandas.GeoDataFrame, optional
        Commune points/polygons (``code_insee``, ``nom``, ``lon``, ``lat``); default: the
        bundled communes (Hauts-de-France).
    geocoder : zonesblanches.geodata.geocodage.Geocoder, optional
        Default: a :class:`~zonesblanches.geodata.geocodage.Geocoder` with default settings.
    geocode : bool
        Geocode addresses of rows without coordinates (else: commune level).
    rejects_path : path-like, optional
        Where to write the rejected rows (``;``, UTF-8 with BOM); always written when given.
    cache : path-like, optional
        Cache root (downloads, geocoder answers).
    progress : bool
        Download progress bar.

    Returns
    -------
    DataInclusionRead

    Raises
    ------
    DataError
        Corrupt file, a file that is not the services table, nothing cached and no download.
    NetworkUnavailableError
        A download was asked for while offline and nothing is cached.
    """
    provenance: dict = {}
    if services is None:
        found = (
            download_table(cache=cache, progress=progress)
            if download
            else cached_table(cache=cache)
        )
        if found is None:
            raise DataError(
                "Aucune copie de l'inventaire data·inclusion en cache : téléchargez-le "
                f"(--services data-inclusion en ligne) ou {HINT[0].lower()}{HINT[1:]}"
            )
        services, record = found
        provenance.update(record)
        if structures is None:  # the national file: its structures table too (réseaux, siret)
            structures = _national_structures(download, cache, progress, provenance)
    path = Path(services)
    if not path.is_file():
        raise DataError(f"Fichier data·inclusion introuvable : {path}")
    try:  # header first: a foreign table is refused before the whole file is read
        columns = _table_columns(path, _kind(path)) if _kind(path) != "json" else None
    except Exception:  # unreadable: read_table below gives the French message
        columns = None
    if columns is not None:
        check_services_table(columns, path.name)
    frame, kind = read_table(path, columns=USED_COLUMNS, mobility_only=True)
    check_services_table(list(frame.columns), path.name)
    provenance.update({"fichier": str(path), "format": kind})
    since = _parse_depuis(depuis)
    index = _Communes(communes)
    if departements is None and zone is not None:
        departements = _zone_departements(index, zone)
    result = _Loader(frame, kind, index, since, zone, departements).run(geocoder, geocode, cache)
    if structures is not None:
        _join_structures(result, Path(structures))
    elif "structures" in provenance:
        result.warnings.append(
            f"{provenance['structures']} : siret et réseaux porteurs (Mob'In, Wimoov…) laissés "
            "vides."
        )
    result.provenance = provenance
    if rejects_path is not None:
        _write_rejects(result.rejects, rejects_path)
    return result


def search_zone(geometry: shapely.Geometry, margin_m: float) -> shapely.Geometry:
    """The territory (EPSG:4326) widened by ``margin_m`` metres (buffer in Lambert-93).

    Services are searched in this zone, across EPCI, département and region limits, so that a
    commune at the edge counts a service just over the border. The caller chooses the margin,
    e.g. what the largest threshold reaches at the fastest mode.
    """
    if margin_m < 0:
        raise ParameterError("La marge de recherche des services doit être positive (mètres).")
    if margin_m == 0:
        return geometry
    l93 = gpd.GeoSeries([geometry], crs=WGS84).to_crs(LAMBERT93)
    return l93.buffer(margin_m, quad_segs=8).to_crs(WGS84).iloc[0]


def _parse_depuis(depuis: str | date | None) -> pd.Timestamp | None:
    if depuis is None or depuis == "":
        return None
    try:
        return pd.Timestamp(depuis).normalize()
    except (ValueError, TypeError) as exc:
        raise ParameterError(
            f"Date « {depuis} » illisible pour --depuis : écrivez-la AAAA-MM-JJ (2024-01-01)."
        ) from exc


def _zone_departements(index: _Communes, zone: shapely.Geometry) -> list[str]:
    shapely.prepare(zone)
    tree = shapely.STRtree(index.frame.geometry.values)
    hit = tree.query(zone, predicate="intersects")
    codes = index.frame["code_insee"].astype(str).to_numpy()[hit]
    return sorted({departement_of(c) for c in codes})


def _write_rejects(rejects: pd.DataFrame, path: str | os.PathLike) -> Path:
    from zonesblanches.geodata.services import write_rejects

    return write_rejects(rejects, path)


def _national_structures(download: bool, cache, progress: bool, provenance: dict) -> Path | None:
    """The ``structures`` table beside the national ``services`` file (downloaded with it, or
    its cached copy), or ``None`` with ``provenance["structures"]`` saying why: the services
    are then used without ``siret`` and ``reseaux_porteurs``."""
    try:
        found = (
            download_table("structures", cache=cache, progress=progress)
            if download
            else cached_table("structures", cache=cache)
        )
    except (DataError, NetworkUnavailableError) as exc:
        provenance["structures"] = f"table « structures » indisponible ({exc})"
        return None
    if found is None:
        provenance["structures"] = "table « structures » non téléchargée"
        return None
    return found[0]


def _join_structures(result: DataInclusionRead, path: Path) -> None:
    frame, _ = read_table(path, columns=("id", "siret", "nom", "reseaux_porteurs"))
    if "id" not in frame or "nom" not in frame:
        raise DataError(
            f"« {path.name} » n'est pas la table « structures » de data·inclusion (colonnes id "
            "et nom attendues)."
        )
    ids = frame["id"].astype(str).tolist()
    siret = dict(zip(ids, _text(frame, "siret"), strict=True))
    reseaux = dict(
        zip(ids, ["; ".join(r) for r in frame.get("reseaux_porteurs", [[]] * len(frame))],
            strict=True)
    )  # fmt: skip
    s = result.services
    s["siret"] = [siret.get(k, "") for k in s["structure_id"]]
    s["reseaux_porteurs"] = [reseaux.get(k, "") for k in s["structure_id"]]
    missing = int((~s["structure_id"].isin(siret) & (s["structure_id"] != "")).sum())
    if missing:
        result.warnings.append(
            f"{fr_count(missing, 'service renvoie', 'services renvoient')} à une structure absente "
            f"de « {path.name} » (siret et réseaux laissés vides)."
        )
