"""Before/after scenarios: add, remove or move services and see who gains and who loses.

« Que change le déménagement d'une structure ? » A scenario applies changes to the services,
runs the coverage analysis before and after on the same demand units, and compares them unit by
unit: a unit *gains* when it is within the threshold after but not before, *loses* in the
opposite case, and is *unchanged* otherwise (its time may still change). A move can make both
winners and losers.

Consistency, checked by :meth:`ScenarioResult.balance`: for every category × mode, the
population that gains minus the population that loses equals the change in covered population.

Changes are data, not text (the command-line syntax ``HDF-002:62895`` is parsed by
:func:`zonesblanches.api.parse_move` and :func:`~zonesblanches.api.parse_add`):

- move: ``("HDF-002", "62895")`` (service id → code INSEE of the new commune, placed at the
  commune's interior point) or ``("HDF-002", (2.8961, 50.4928))`` (longitude, latitude), or a
  mapping ``{service_id: place}``;
- add: ``("garage_solidaire", "62895")`` or ``("garage_solidaire", (2.9, 50.5))``, or service
  points (:func:`zonesblanches.api.scenario` reads a services file into points);
- remove: ``"HDF-002"`` or a list of ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point

from zonesblanches._text import closest, normalize
from zonesblanches.columns import service_col, time_col
from zonesblanches.coverage.analysis import (
    CoverageResult,
    compute_coverage,
    grouped_weighted_median,
)
from zonesblanches.coverage.equity import qpv_links
from zonesblanches.crs import WGS84
from zonesblanches.errors import DataError, ParameterError, ZonesBlanchesError
from zonesblanches.geodata.categories import CATEGORIES, category_label
from zonesblanches.geodata.communes import current_code

GAIN, LOSS, SAME = "gagne", "perd", "inchange"
"""Values of the ``evolution`` column."""

ACTIONS = ("ajout", "retrait", "deplacement")
"""Values of the ``action`` column of the changes table."""

Place = str | tuple[float, float]
"""A commune code (``"62895"``) or a ``(lon, lat)`` pair."""


def _commune_points(communes: gpd.GeoDataFrame | None) -> pd.DataFrame:
    from zonesblanches.geodata import reference

    table = reference.load_communes() if communes is None else communes
    if "lon" in table and "lat" in table:
        pts = pd.DataFrame(
            {
                "code_insee": table["code_insee"].astype(str),
                "nom": table["nom"].astype(str) if "nom" in table else "",
                "lon": table["lon"].astype(float),
                "lat": table["lat"].astype(float),
            }
        )
    else:
        rp = table.to_crs(WGS84).representative_point()
        pts = pd.DataFrame(
            {
                "code_insee": table["code_insee"].astype(str),
                "nom": table["nom"].astype(str) if "nom" in table else "",
                "lon": rp.x,
                "lat": rp.y,
            }
        )
    return pts.set_index("code_insee")


def _locate(place: Place, communes: pd.DataFrame) -> tuple[Point, str, str, str]:
    """Point, code INSEE, commune name and precision of a destination."""
    if isinstance(place, tuple):
        return Point(place), "", "", "coordonnees"
    code = current_code(place, communes.index)
    if code is None:
        raise ParameterError(
            f"Commune inconnue : « {place} » (code INSEE, géographie 2026, commune de la région)."
        )
    row = communes.loc[code]
    return Point(float(row["lon"]), float(row["lat"])), code, str(row["nom"]), "commune"


# --------------------------------------------------------------------------------------------
# Applying changes
# --------------------------------------------------------------------------------------------


def _as_list(value: object) -> list:
    if value is None:
        return []
    if isinstance(value, (str, tuple, gpd.GeoDataFrame)):
        return [value]
    if isinstance(value, Mapping):
        return list(value.items())
    return list(value)


def _pair(item: object, what: str) -> tuple:
    """A ``(key, place)`` change; text in the command-line syntax is refused (parse it first)."""
    if isinstance(item, tuple) and len(item) == 2:
        return item
    raise ParameterError(
        f"{what} doit être un couple (identifiant ou catégorie, lieu), pas {item!r} ; la syntaxe "
        "de la ligne de commande se lit avec zonesblanches.api.parse_move / parse_add."
    )


def _unknown_id(sid: str, ids: Iterable[str]) -> ParameterError:
    ids = list(ids)
    hints = closest(sid, {normalize(i): i for i in ids})
    msg = f"Service inconnu : « {sid} »."
    if hints:
        msg += " Vouliez-vous dire : " + " ; ".join(hints) + " ?"
    return ParameterError(msg)


def apply_changes(
    services: gpd.GeoDataFrame,
    *,
    add: object = None,
    remove: object = None,
    move: object = None,
    communes: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The services after the changes, and the table of changes.

    Parameters
    ----------
    services : geopandas.GeoDataFrame
        The services before (``service_id``, ``categorie``, points).
    add : tuple, GeoDataFrame, or a list of them
        ``(categorie, place)`` pairs (place: code INSEE or ``(lon, lat)``), or service points
        (a services file is read by :func:`zonesblanches.api.scenario`, which passes its points
        here).
    remove : str or list of str
        Service ids.
    move : tuple, list of tuples, or mapping
        ``(service_id, place)`` pairs, or ``{service_id: "62895" | (lon, lat)}``.
    communes : geopandas.GeoDataFrame, optional
        Where commune codes are looked up (default: the bundled communes of the region).

    Returns
    -------
    after : geopandas.GeoDataFrame
        The services after the changes (EPSG:4326).
    changes : geopandas.GeoDataFrame
        One row per change: ``action`` (ajout, retrait, deplacement), ``service_id``, ``nom``,
        ``categorie``, ``commune_avant``, ``code_insee_avant``, ``commune_apres``,
        ``code_insee_apres``, ``lon_avant``, ``lat_avant``, ``lon_apres``, ``lat_apres``;
        geometry: the position after (before, for a removal).
    """
    for col in ("service_id", "categorie"):
        if col not in services:
            raise ParameterError(f"La table des services doit avoir une colonne « {col} ».")
    after = services.to_crs(WGS84).reset_index(drop=True).copy()
    after["service_id"] = after["service_id"].astype(str)
    if after["service_id"].duplicated().any():
        dup = ", ".join(after.loc[after["service_id"].duplicated(), "service_id"].head(5))
        raise DataError(f"Identifiants de services en double : {dup}.")
    points = None
    rows: list[dict] = []

    def commune_table() -> pd.DataFrame:
        nonlocal points
        if points is None:
            points = _commune_points(communes)
        return points

    def describe(i: int) -> dict:
        r = after.iloc[i]
        geom = after.geometry.iloc[i]
        return {
            "service_id": r["service_id"],
            "nom": r.get("nom", ""),
            "categorie": r["categorie"],
            "commune_avant": r.get("commune", ""),
            "code_insee_avant": r.get("code_insee", ""),
            "lon_avant": geom.x,
            "lat_avant": geom.y,
        }

    # Removals.
    removed = []
    for sid in _as_list(remove):
        sid = str(sid).strip()
        hit = np.flatnonzero(after["service_id"].to_numpy() == sid)
        if len(hit) == 0:
            raise _unknown_id(sid, after["service_id"])
        row = describe(int(hit[0]))
        row.update(
            {
                "action": "retrait",
                "commune_apres": "",
                "code_insee_apres": "",
                "lon_apres": np.nan,
                "lat_apres": np.nan,
                "geometry": Point(row["lon_avant"], row["lat_avant"]),
            }
        )
        rows.append(row)
        removed.append(sid)
    # Moves.
    moves = []
    for item in _as_list(move):
        sid, place = _pair(item, "Un déplacement")
        sid = str(sid).strip()
        if isinstance(place, list):
            place = tuple(float(v) for v in place)
        if sid in removed:
            raise ParameterError(
                f"Le service « {sid} » ne peut pas être à la fois retiré et déplacé."
            )
        hit = np.flatnonzero(after["service_id"].to_numpy() == sid)
        if len(hit) == 0:
            raise _unknown_id(sid, after["service_id"])
        i = int(hit[0])
        point, code, name, precision = _locate(place, commune_table())
        row = describe(i)
        row.update(
            {
                "action": "deplacement",
                "commune_apres": name,
                "code_insee_apres": code,
                "lon_apres": point.x,
                "lat_apres": point.y,
                "geometry": point,
            }
        )
        rows.append(row)
        moves.append((i, point, code, name, precision))
    for i, point, code, name, precision in moves:
        after.loc[after.index[i], after.geometry.name] = point
        for col, value in (("code_insee", code), ("commune", name), ("precision", precision)):
            if col in after:
                after.loc[after.index[i], col] = value
    after = after[~after["service_id"].isin(removed)].reset_index(drop=True)
    # Additions.
    added: list[gpd.GeoDataFrame] = []
    counter = 0
    taken = set(after["service_id"])
    for item in _as_list(add):
        if isinstance(item, gpd.GeoDataFrame):
            frame = item
        else:
            cat, place = _pair(item, "Un ajout")
            point, code, name, precision = _locate(place, commune_table())
            counter += 1
            while f"NOUVEAU-{counter}" in taken:
                counter += 1
            frame = gpd.GeoDataFrame(
                {
                    "service_id": [f"NOUVEAU-{counter}"],
                    "nom": [f"Nouveau service « {category_label(cat)} »"],
                    "categorie": [cat],
                    "commune": [name],
                    "code_insee": [code],
                    "statut": ["scenario"],
                    "precision": [precision],
                },
                geometry=[point],
                crs=WGS84,
            )
        for col in ("service_id", "categorie"):
            if col not in frame:
                raise DataError(f"Services ajoutés sans colonne « {col} ».")
        frame = frame.to_crs(WGS84).reset_index(drop=True).copy()
        frame["service_id"] = frame["service_id"].astype(str)
        clash = frame["service_id"].isin(taken) | frame["service_id"].duplicated()
        frame.loc[clash, "service_id"] = [
            f"AJOUT-{j + 1}-{sid}" for j, sid in enumerate(frame.loc[clash, "service_id"])
        ]
        taken |= set(frame["service_id"])
        for j in range(len(frame)):
            geom = frame.geometry.iloc[j]
            r = frame.iloc[j]
            rows.append(
                {
                    "action": "ajout",
                    "service_id": r["service_id"],
                    "nom": r.get("nom", ""),
                    "categorie": r["categorie"],
                    "commune_avant": "",
                    "code_insee_avant": "",
                    "lon_avant": np.nan,
                    "lat_avant": np.nan,
                    "commune_apres": r.get("commune", ""),
                    "code_insee_apres": r.get("code_insee", ""),
                    "lon_apres": geom.x,
                    "lat_apres": geom.y,
                    "geometry": geom,
                }
            )
        added.append(frame)
    if added:
        after = gpd.GeoDataFrame(
            pd.concat([after, *added], ignore_index=True), geometry=after.geometry.name, crs=WGS84
        )
    if not rows:
        raise ParameterError(
            "Le scénario ne change rien : indiquez au moins un ajout (--ajouter), un retrait "
            "(--retirer) ou un déplacement (--deplacer)."
        )
    columns = [
        "action",
        "service_id",
        "nom",
        "categorie",
        "commune_avant",
        "code_insee_avant",
        "commune_apres",
        "code_insee_apres",
        "lon_avant",
        "lat_avant",
        "lon_apres",
        "lat_apres",
        "geometry",
    ]
    changes = gpd.GeoDataFrame(pd.DataFrame(rows)[columns], geometry="geometry", crs=WGS84)
    return gpd.GeoDataFrame(after, geometry=after.geometry.name, crs=WGS84), changes


# --------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    """Coverage before and after a change of services, unit by unit.

    Attributes
    ----------
    before, after : CoverageResult
        The two analyses, same units, categories, modes and thresholds.
    changes : geopandas.GeoDataFrame
        What the scenario changed (see :func:`apply_changes`): the map layer of the changes.
    diff : pandas.DataFrame
        One row per unit × category × mode: unit keys, ``population``, ``categorie``, ``mode``,
        ``seuil_min``, ``temps_avant``, ``temps_apres``, ``gain_temps_min`` (before − after,
        positive when faster), ``service_avant``, ``service_apres``, ``couvert_avant``,
        ``couvert_apres``, ``evolution`` (gagne, perd, inchange).
    qpv_links : pandas.DataFrame or None
        Unit × QPV shares (``unite``, ``code_qp``, ``part``) when QPV residents are known.
    notes : list of str
        French notes.
    """

    before: CoverageResult
    after: CoverageResult
    changes: gpd.GeoDataFrame
    diff: pd.DataFrame
    qpv_links: pd.DataFrame | None = None
    qpv_names: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        return list(self.before.categories)

    @property
    def modes(self) -> list[str]:
        return list(self.before.thresholds)

    def summary(self, by: str | None = "code_epci") -> pd.DataFrame:
        """Coverage before and after per group × category × mode.

        Parameters
        ----------
        by : str or None
            A unit column (``code_epci``, ``code_insee``…) or ``None`` for the whole territory.

        Returns
        -------
        pandas.DataFrame
            Group keys, ``categorie``, ``mode``, ``seuil_min``, ``population``,
            ``population_couverte_avant``, ``population_couverte_apres``, ``variation``,
            ``population_gagnante``, ``population_perdante``, ``unites_gagnantes``,
            ``unites_perdantes``, ``part_couverte_avant``, ``part_couverte_apres`` (0–1),
            ``temps_median_avant``, ``temps_median_apres`` (population-weighted, minutes).
        """
        d = self.diff
        if by is None:
            d = d.assign(territoire=self.before.territory or "territoire")
            keys = ["territoire"]
        else:
            if by not in d:
                raise ParameterError(f"Colonne de regroupement absente des unités : « {by} ».")
            keys = [by]
            for extra in (
                ("nom_epci",) if by == "code_epci" else ("nom",) if by == "code_insee" else ()
            ):
                if extra in d:
                    keys.append(extra)
        gkeys = [*keys, "categorie", "mode"]
        pop = d["population"].to_numpy(dtype=float)
        cb, ca = d["couvert_avant"].to_numpy(bool), d["couvert_apres"].to_numpy(bool)
        gain = (d["evolution"] == GAIN).to_numpy()
        loss = (d["evolution"] == LOSS).to_numpy()
        work = pd.DataFrame({k: d[k].to_numpy() for k in gkeys})
        work["population"] = pop
        work["population_couverte_avant"] = pop * cb
        work["population_couverte_apres"] = pop * ca
        work["population_gagnante"] = pop * gain
        work["population_perdante"] = pop * loss
        work["unites_gagnantes"] = gain.astype(np.int64)
        work["unites_perdantes"] = loss.astype(np.int64)
        grouped = work.groupby(gkeys, sort=True, dropna=False)
        out = grouped.sum()
        group = grouped.ngroup().to_numpy()
        out.insert(0, "seuil_min", d.groupby(gkeys, sort=True, dropna=False)["seuil_min"].first())
        out["variation"] = out["population_couverte_apres"] - out["population_couverte_avant"]
        total = out["population"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            out["part_couverte_avant"] = np.where(
                total > 0, out["population_couverte_avant"] / total, np.nan
            )
            out["part_couverte_apres"] = np.where(
                total > 0, out["population_couverte_apres"] / total, np.nan
            )
        # The median of analysis.weighted_median, bit for bit, for all groups at once.
        n = len(out)
        out["temps_median_avant"] = grouped_weighted_median(d["temps_avant"], pop, group, n)
        out["temps_median_apres"] = grouped_weighted_median(d["temps_apres"], pop, group, n)
        out = out.reset_index()
        out = out[
            [
                *gkeys,
                "seuil_min",
                "population",
                "population_couverte_avant",
                "population_couverte_apres",
                "variation",
                "population_gagnante",
                "population_perdante",
                "unites_gagnantes",
                "unites_perdantes",
                "part_couverte_avant",
                "part_couverte_apres",
                "temps_median_avant",
                "temps_median_apres",
            ]
        ]
        if len(out):
            order_c = {c: i for i, c in enumerate(self.categories)}
            order_m = {m: i for i, m in enumerate(self.modes)}
            out = out.assign(_c=out["categorie"].map(order_c), _m=out["mode"].map(order_m))
            out = out.sort_values([*keys, "_c", "_m"], kind="stable").drop(columns=["_c", "_m"])
        return out.reset_index(drop=True)

    def by_commune(self) -> pd.DataFrame:
        """:meth:`summary` per commune (``code_insee``)."""
        return self.summary(by="code_insee")

    def by_epci(self) -> pd.DataFrame:
        """:meth:`summary` per EPCI (``code_epci``)."""
        return self.summary(by="code_epci")

    def by_qpv(self) -> pd.DataFrame:
        """QPV residents covered before and after, per QPV × category × mode.

        Empty (with ``attrs["note"]``) when QPV residents are not known (commune points).
        """
        cols = [
            "code_qp",
            "nom_qp",
            "categorie",
            "mode",
            "seuil_min",
            "habitants_qpv",
            "habitants_couverts_avant",
            "habitants_couverts_apres",
            "variation",
            "habitants_gagnants",
            "habitants_perdants",
        ]
        if self.qpv_links is None or len(self.qpv_links) == 0:
            out = pd.DataFrame(columns=cols)
            out.attrs["note"] = _NO_QPV
            return out
        links = self.qpv_links
        rows = []
        for cat in self.categories:
            for mode in self.modes:
                d = self.diff[(self.diff["categorie"] == cat) & (self.diff["mode"] == mode)]
                pop = d["population"].to_numpy(dtype=float)
                people = pop[links["unite"].to_numpy()] * links["part"].to_numpy()
                u = links["unite"].to_numpy()
                cb, ca = d["couvert_avant"].to_numpy()[u], d["couvert_apres"].to_numpy()[u]
                frame = pd.DataFrame(
                    {
                        "code_qp": links["code_qp"].to_numpy(),
                        "habitants_qpv": people,
                        "habitants_couverts_avant": people * cb,
                        "habitants_couverts_apres": people * ca,
                        "habitants_gagnants": people * (~cb & ca),
                        "habitants_perdants": people * (cb & ~ca),
                    }
                )
                agg = frame.groupby("code_qp", sort=True).sum().reset_index()
                agg["variation"] = agg["habitants_couverts_apres"] - agg["habitants_couverts_avant"]
                agg["categorie"], agg["mode"] = cat, mode
                agg["seuil_min"] = self.before.thresholds[mode]
                agg["nom_qp"] = agg["code_qp"].map(self.qpv_names).fillna("")
                rows.append(agg[cols])
        return pd.concat(rows, ignore_index=True)

    def balance(self) -> pd.DataFrame:
        """Check per category × mode: gained − lost == change in covered population.

        The change is taken from the two analyses' own summaries (an independent computation).
        Column ``coherent`` is True when the two agree (to 1e-6 person).
        """
        before = self.before.summary(by=None).set_index(["categorie", "mode"])
        after = self.after.summary(by=None).set_index(["categorie", "mode"])
        mine = self.summary(by=None).set_index(["categorie", "mode"])
        out = pd.DataFrame(
            {
                "population_couverte_avant": before["population_couverte"],
                "population_couverte_apres": after["population_couverte"],
                "population_gagnante": mine["population_gagnante"],
                "population_perdante": mine["population_perdante"],
            }
        )
        out["variation"] = out["population_couverte_apres"] - out["population_couverte_avant"]
        out["gains_moins_pertes"] = out["population_gagnante"] - out["population_perdante"]
        out["coherent"] = np.isclose(out["gains_moins_pertes"], out["variation"], rtol=0, atol=1e-6)
        return out.reset_index()

    def winners(self, categorie: str | None = None, mode: str | None = None) -> pd.DataFrame:
        """Units that gain, most populated first."""
        return self._select(GAIN, categorie, mode)

    def losers(self, categorie: str | None = None, mode: str | None = None) -> pd.DataFrame:
        """Units that lose, most populated first."""
        return self._select(LOSS, categorie, mode)

    def _select(self, what: str, categorie: str | None, mode: str | None) -> pd.DataFrame:
        d = self.diff[self.diff["evolution"] == what]
        if categorie is not None:
            d = d[d["categorie"] == categorie]
        if mode is not None:
            d = d[d["mode"] == mode]
        return d.sort_values("population", ascending=False, kind="stable").reset_index(drop=True)

    def diff_layer(self, categorie: str | None = None, mode: str | None = None) -> gpd.GeoDataFrame:
        """Units with their ``evolution`` for one category × mode: the layer of the diff map.

        Defaults to the first category and mode. Columns: unit keys, ``population``,
        ``temps_avant``, ``temps_apres``, ``gain_temps_min``, ``evolution``, geometry.
        """
        categorie = categorie or self.categories[0]
        mode = mode or self.modes[0]
        d = self.diff[(self.diff["categorie"] == categorie) & (self.diff["mode"] == mode)]
        if len(d) == 0:
            raise ParameterError(f"Pas de résultat pour {categorie} × {mode} dans ce scénario.")
        units = self.before.units
        frame = d.drop(columns=["categorie", "mode"]).reset_index(drop=True)
        return gpd.GeoDataFrame(frame, geometry=units.geometry.to_numpy(), crs=units.crs)

    def __repr__(self) -> str:
        return (
            f"ScenarioResult(changes={len(self.changes)}, categories={self.categories}, "
            f"modes={self.modes})"
        )


_NO_QPV = (
    "Habitants des QPV non comptés : il faut le carroyage INSEE et les périmètres des QPV (avec "
    "un point par commune, on ne sait pas où vivent les habitants des quartiers)."
)


def _diff_table(before: CoverageResult, after: CoverageResult) -> pd.DataFrame:
    units = before.units
    keys = [c for c in ("unit_id", "code_insee", "nom", "code_epci", "nom_epci") if c in units]
    frames = []
    for cat in before.categories:
        for mode, threshold in before.thresholds.items():
            tb = before.units[time_col(cat, mode)].to_numpy(dtype=float)
            ta = after.units[time_col(cat, mode)].to_numpy(dtype=float)
            cb, ca = tb <= threshold, ta <= threshold
            evolution = np.where(ca & ~cb, GAIN, np.where(cb & ~ca, LOSS, SAME))
            with np.errstate(invalid="ignore"):
                delta = np.where(np.isfinite(tb) | np.isfinite(ta), tb - ta, 0.0)
            f = pd.DataFrame(units[keys]).reset_index(drop=True)
            f["population"] = units["population"].to_numpy(dtype=float)
            f["categorie"] = cat
            f["mode"] = mode
            f["seuil_min"] = threshold
            f["temps_avant"] = tb
            f["temps_apres"] = ta
            f["gain_temps_min"] = delta
            f["service_avant"] = before.units[service_col(cat, mode)].to_numpy()
            f["service_apres"] = after.units[service_col(cat, mode)].to_numpy()
            f["couvert_avant"] = cb
            f["couvert_apres"] = ca
            f["evolution"] = evolution
            frames.append(f)
    return pd.concat(frames, ignore_index=True)


def run_scenario(
    base_services: gpd.GeoDataFrame,
    *,
    add: object = None,
    remove: object = None,
    move: object = None,
    demand: gpd.GeoDataFrame,
    thresholds: Mapping[str, float],
    models: Mapping | None = None,
    categories: Sequence[str] | None = None,
    territory: str = "",
    unit_kind: str = "commune",
    communes: gpd.GeoDataFrame | None = None,
    qpv: gpd.GeoDataFrame | None = None,
) -> ScenarioResult:
    """Apply changes to the services and compare coverage before and after.

    Parameters
    ----------
    base_services : geopandas.GeoDataFrame
        The services today (``service_id``, ``categorie``, points).
    add, remove, move
        The changes (see :func:`apply_changes` and the module docstring for the syntax).
    demand : geopandas.GeoDataFrame
        Demand units with ``population`` (commune points or grid cells).
    thresholds : mapping
        Mode → minutes.
    models : mapping, optional
        Mode → travel-time model (default straight line).
    categories : sequence of str, optional
        Categories compared; default: those of the services the scenario touches.
    territory : str
        French label of the territory.
    unit_kind : str
        ``commune`` or ``carreau``.
    communes : geopandas.GeoDataFrame, optional
        Where commune codes of the changes are looked up (default: bundled communes).
    qpv : geopandas.GeoDataFrame, optional
        QPV perimeters, to count QPV residents when units are grid cells.

    Returns
    -------
    ScenarioResult
    """
    after_services, changes = apply_changes(
        base_services, add=add, remove=remove, move=move, communes=communes
    )
    if categories is None:
        touched = set(changes["categorie"])
        categories = [c for c in CATEGORIES if c in touched]
    before = compute_coverage(
        demand,
        base_services,
        thresholds,
        categories=categories,
        models=models,
        territory=territory,
        unit_kind=unit_kind,
    )
    after = compute_coverage(
        demand,
        after_services,
        thresholds,
        categories=categories,
        models=before.models,
        territory=territory,
        unit_kind=unit_kind,
    )
    diff = _diff_table(before, after)
    links = qpv_links(before.units, qpv, unit_kind)
    names = {}
    if links is not None and "nom_qp" in qpv:
        names = dict(zip(qpv["code_qp"].astype(str), qpv["nom_qp"].astype(str), strict=True))
    notes = list(dict.fromkeys(before.notes + after.notes))
    if links is None:
        notes.append(_NO_QPV)
    moved_to_commune = changes[
        (changes["action"] != "retrait") & (changes["code_insee_apres"] != "")
    ]
    if len(moved_to_commune):
        notes.append(
            "Services ajoutés ou déplacés vers une commune : placés au point intérieur de la "
            "commune (adresse exacte inconnue)."
        )
    result = ScenarioResult(before, after, changes, diff, links, names, notes)
    bad = result.balance()
    if not bad["coherent"].all():  # pragma: no cover - would be a bug
        raise ZonesBlanchesError(
            "Incohérence interne du scénario : gains − pertes ≠ variation de la population "
            "couverte."
        )
    return result


__all__ = [
    "ACTIONS",
    "GAIN",
    "LOSS",
    "SAME",
    "ScenarioResult",
    "apply_changes",
    "run_scenario",
]
