"""Equity indicators: who is within reach, in the QPV and elsewhere, counted in people.

Every function reads a *units frame*, the contract the coverage analysis produces: a
GeoDataFrame (EPSG:4326 or any CRS), one row per demand unit — a grid cell (square, or its
centre with ``idcar``) or a commune (point) — with ``population`` (float), optionally
``men_pauv`` (poor households), ``code_insee``, ``code_epci``, and for each category × mode a
column ``temps_{categorie}_{mode}`` (minutes, ``inf`` when unreachable) and
``service_{categorie}_{mode}`` (id of the nearest service).

**Assigning people to QPV.** With grid cells, a cell's people are shared among the QPV it
overlaps in proportion to the overlapped *area* (``method="area"``, the default): a 200 m cell is
often larger than the part of a small QPV it covers, and the people in a cell are assumed to be
spread evenly over it. ``method="centroid"`` gives a whole cell to the QPV containing its centre
instead. Both are computed in Lambert-93, the project's metric CRS (area *ratios* within a
cell differ from those of the equal-area LAEA by about 1e-5). Cells may come as squares or as
their centres (the travel times are computed from points): centres with their ``idcar`` get
their square back; centres without it can only follow the centroid rule, and the ``methode``
column says so.

**With communes only, there are no QPV figures**: a commune's centre says nothing of where
its QPV residents live, and the commune's population is not theirs (commune *outlines* are no
better: pass ``kind="commune"``). :func:`qpv_indicators` then reports only the time from the
centre of the host commune(s), labelled as indicative, with population and shares left empty,
and every result carries the French warning :data:`AVERTISSEMENT_COMMUNES` (column ``methode``
and ``DataFrame.attrs["avertissement"]``); :func:`qpv_gap` returns no rows. Give a Filosofi
grid for real QPV figures.

Shares are percentages (0–100), gaps are percentage points, times are minutes. Weighted medians
and 90th percentiles follow the "inverted CDF" rule of
:func:`~zonesblanches.coverage.zones.weighted_quantile` (no interpolation: the time at which half,
or 90 %, of the people are reached), and count unreachable people as ``inf``.

The objective weights of site suggestions (:func:`unit_weights`: people, QPV residents, poor
households) are computed here too, so that every QPV resident is counted one way. Tables are
written by :func:`zonesblanches.writers.write_tables`; column names are French, as users see
them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from zonesblanches._text import fr_num
from zonesblanches.columns import service_col, time_col, time_pairs
from zonesblanches.coverage.zones import (
    group_indices,
    unit_polygons,
    valid_array,
    weighted_quantile,
)
from zonesblanches.crs import LAMBERT93
from zonesblanches.errors import ParameterError
from zonesblanches.modes import mode_code

METHODS = {
    "area": "carreaux, au prorata de la surface dans le QPV",
    "centroid": "carreaux, centre du carreau dans le QPV",
    "commune": "centre de la commune d'accueil (indicatif)",
}
"""French label of each way of assigning people to QPV, written in the ``methode`` column."""

AVERTISSEMENT_COMMUNES = (
    "Sans carroyage de population, les chiffres par QPV ne sont pas mesurés : le temps indiqué "
    "est celui du centre de la commune d'accueil, pas celui des habitants du quartier. Passez le "
    "carroyage INSEE (--carreaux FICHIER) pour obtenir la population des QPV et leur part à "
    "portée des services."
)


# Validation


def available_pairs(units: pd.DataFrame) -> list[tuple[str, str]]:
    """(category, mode) pairs that have a ``temps_*`` column in ``units``, in column order."""
    return time_pairs(units.columns)


def _pairs(
    units: pd.DataFrame, categories: Sequence[str] | None, modes: Sequence[str] | None
) -> list[tuple[str, str]]:
    present = available_pairs(units)
    if not present:
        raise ParameterError(
            "Les unités n'ont aucune colonne de temps (temps_<catégorie>_<mode>) : lancez d'abord "
            "le calcul des temps d'accès."
        )
    mode_list = [mode_code(m) for m in modes] if modes is not None else None
    if isinstance(categories, str):
        categories = [categories]
    if categories is not None and mode_list is not None:
        wanted = [(c, m) for c in categories for m in mode_list]
        missing = [time_col(c, m) for c, m in wanted if (c, m) not in present]
    else:
        wanted = [
            (c, m)
            for c, m in present
            if (categories is None or c in categories) and (mode_list is None or m in mode_list)
        ]
        asked = [*(categories or []), *(mode_list or [])]
        missing = [a for a in asked if not any(a in pair for pair in wanted)]
    if missing or not wanted:
        raise ParameterError(
            "Temps absents des unités pour : "
            + (", ".join(missing) if missing else "la demande")
            + ". Colonnes de temps disponibles : "
            + ", ".join(time_col(c, m) for c, m in present)
            + "."
        )
    pairs = wanted
    return pairs


def _thresholds(thresholds: Mapping[str, float] | float, modes: Sequence[str]) -> dict[str, float]:
    if isinstance(thresholds, (int, float)):
        table = {m: float(thresholds) for m in modes}
    else:
        table = {mode_code(k): float(v) for k, v in thresholds.items()}
    out = {}
    for m in modes:
        if m not in table:
            raise ParameterError(f"Seuil (en minutes) manquant pour le mode « {m} ».")
        if not table[m] > 0 or math.isinf(table[m]):
            raise ParameterError(
                f"Le seuil du mode « {m} » doit être un nombre de minutes positif, pas {table[m]}."
            )
        out[m] = table[m]
    return out


def _check_units(units: pd.DataFrame, weight: str = "population") -> None:
    if not isinstance(units, gpd.GeoDataFrame):
        raise ParameterError("Les unités doivent être un GeoDataFrame.")
    if weight not in units.columns:
        raise ParameterError(f"Colonne « {weight} » absente des unités.")


def geometry_kind(units: gpd.GeoDataFrame) -> str:
    """``"polygones"`` or ``"points"``.

    Raises
    ------
    ParameterError
        Mixed or unsupported geometry types.
    """
    types = set(units.geom_type.dropna().unique())
    if types and types <= {"Polygon", "MultiPolygon"}:
        return "polygones"
    if types and types <= {"Point", "MultiPoint"}:
        return "points"
    raise ParameterError(
        "Les unités doivent être toutes des polygones (carreaux) ou toutes des points "
        f"(communes) ; trouvé : {', '.join(sorted(map(str, types))) or 'aucune géométrie'}."
    )


def unit_kind(units: gpd.GeoDataFrame, kind: str | None = None) -> str:
    """What the units are: ``"carreau"`` (grid cells) or ``"commune"``.

    ``kind`` when given (``"commune"``, ``"carreau"``, as in the coverage result); otherwise
    units with an ``idcar`` column are cells, polygons are taken for cells, and points for
    commune centres. Commune *outlines* must be flagged with ``kind="commune"``: spreading a
    commune's population evenly over its area would not tell who lives in its QPV.
    """
    geometry_kind(units)  # validates the geometry types
    if kind is not None:
        if kind not in ("commune", "carreau"):
            raise ParameterError(
                f"Type d'unités inconnu : « {kind} » (commune ou carreau attendu)."
            )
        return kind
    if "idcar" in units.columns or geometry_kind(units) == "polygones":
        return "carreau"
    return "commune"


# People in QPV


def assign_qpv(
    units: gpd.GeoDataFrame, qpv: gpd.GeoDataFrame, *, method: str = "area"
) -> pd.DataFrame:
    """Share of each unit's people living in each QPV.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Grid cells: squares, or their centres (then the ``"centroid"`` rule applies whatever
        ``method`` says).
    qpv : geopandas.GeoDataFrame
        QPV outlines with ``code_qp``.
    method : {"area", "centroid"}
        ``"area"``: share = overlapped area / cell area. ``"centroid"``: 1 for the QPV holding
        the cell's centre.

    Returns
    -------
    pandas.DataFrame
        Long table ``unite`` (row position in ``units``), ``code_qp``, ``part`` (0–1), one row
        per unit × QPV it meets, sorted. The parts of one unit add up to at most 1 (QPV do not
        overlap).
    """
    if method not in ("area", "centroid"):
        raise ParameterError(
            f"Méthode d'affectation aux QPV inconnue : « {method} » (area ou centroid)."
        )
    if "code_qp" not in qpv.columns or qpv.crs is None:
        raise ParameterError("La couche des QPV doit avoir une colonne « code_qp » et un CRS.")
    points = geometry_kind(units) == "points"
    # Lambert-93, the project's metric CRS (shares differ from LAEA ones by ~1e-5 at most)
    cells = valid_array(units.geometry.to_crs(LAMBERT93).values)
    zones = valid_array(qpv.geometry.to_crs(LAMBERT93).values)
    codes = qpv["code_qp"].astype(str).to_numpy()
    tree = shapely.STRtree(zones)
    if points:
        ui, qi = tree.query(cells, predicate="within")
        part = np.ones(len(ui))
    elif method == "centroid":
        ui, qi = tree.query(shapely.centroid(cells), predicate="within")
        part = np.ones(len(ui))
    else:
        ui, qi = tree.query(cells, predicate="intersects")
        inter = shapely.area(shapely.intersection(cells[ui], zones[qi]))
        area = shapely.area(cells[ui])
        part = np.divide(inter, area, out=np.zeros(len(ui)), where=area > 0)
        part = np.minimum(part, 1.0)
    table = pd.DataFrame({"unite": ui.astype("int64"), "code_qp": codes[qi], "part": part})
    table = table[table["part"] > 0]
    return table.sort_values(["unite", "code_qp"], kind="stable").reset_index(drop=True)


def _cell_links(
    units: gpd.GeoDataFrame, qpv: gpd.GeoDataFrame, method: str
) -> tuple[pd.DataFrame, str]:
    """QPV links of grid cells and the method actually used.

    Cell centres with an ``idcar`` get their square back for the area rule; centres without
    one can only follow the centroid rule.
    """
    if method == "area" and geometry_kind(units) == "points":
        squares = unit_polygons(units)
        if squares is None:
            return assign_qpv(units, qpv), "centroid"
        units = gpd.GeoDataFrame(geometry=squares.values, crs=units.crs)
    return assign_qpv(units, qpv, method=method), method


def _qpv_share(units: gpd.GeoDataFrame, links: pd.DataFrame) -> np.ndarray:
    share = np.zeros(len(units))
    if len(links):
        sums = links.groupby("unite")["part"].sum()
        share[sums.index.to_numpy()] = np.minimum(sums.to_numpy(), 1.0)
    return share


# Indicator kernels


def _groups(units: pd.DataFrame, by: str | None) -> list[tuple[str, str, np.ndarray]]:
    """(level, key, row positions) per value of ``by`` (sorted, blanks left out), then all."""
    groups: list[tuple[str, str, np.ndarray]] = []
    if by is not None:
        keys = units[by].astype("string").fillna("").to_numpy(dtype=object)
        codes, uniques = pd.factorize(keys, sort=True)
        for key, idx in zip(uniques, group_indices(codes), strict=True):
            if key:
                groups.append((by, str(key), idx))
    groups.append(("territoire", "ensemble", np.arange(len(units))))
    return groups


def _within(times: np.ndarray, threshold: float) -> np.ndarray:
    return times <= threshold  # NaN and inf are never within


def _sum(values: np.ndarray) -> float:
    return float(np.sum(values))


def _pct(part: float, total: float) -> float:
    return 100.0 * part / total if total > 0 else math.nan


def _service_codes(units: pd.DataFrame, cat: str, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-service ids as integer codes (``-1`` = none) and the sorted distinct ids."""
    col = service_col(cat, mode)
    if col not in units.columns:
        return np.full(len(units), -1, dtype="int64"), np.array([], dtype=object)
    ids = units[col].astype("string").fillna("").str.strip()
    ids = ids.where(~ids.isin(["", "nan", "None", "-1", "<NA>"]), "")
    codes, uniques = pd.factorize(ids, sort=True)
    uniques = np.asarray(uniques, dtype=object)
    empty = np.flatnonzero(uniques == "")
    if len(empty):
        codes = np.where(codes == empty[0], -1, codes - (codes > empty[0]))
        uniques = np.delete(uniques, empty[0])
    return codes.astype("int64"), uniques


def _main_service(codes: np.ndarray, uniques: np.ndarray, weights: np.ndarray) -> str:
    """Service nearest to the largest number of people (ties: smallest id)."""
    ok = (codes >= 0) & (weights > 0)
    if not ok.any():
        return ""
    sums = np.bincount(codes[ok], weights=weights[ok], minlength=len(uniques))
    return str(uniques[int(np.argmax(sums))])  # argmax: first (smallest id) of the ties


def _weighted_block(
    w: np.ndarray, t: np.ndarray, within: np.ndarray, prefix: str = "population"
) -> dict[str, float]:
    total = _sum(w)
    inside = _sum(w[within])
    return {
        prefix: total,
        f"{prefix}_dans_seuil": inside,
        f"pct_{prefix}_dans_seuil": _pct(inside, total),
    }


def _qpv_row_key(
    code: str, name: str, hosts: str, cat: str, mode: str, threshold: float
) -> dict[str, object]:
    """The first columns of a :func:`qpv_indicators` row: which QPV, indicator and threshold."""
    keys = ("code_qp", "nom_qp", "communes_insee", "categorie", "mode", "seuil_min")
    return dict(zip(keys, (code, name, hosts, cat, mode, threshold), strict=True))


# Public indicators


def qpv_indicators(
    units: gpd.GeoDataFrame,
    qpv: gpd.GeoDataFrame,
    *,
    categories: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    thresholds: Mapping[str, float] | float,
    method: str = "area",
    weight: str = "population",
    kind: str | None = None,
) -> pd.DataFrame:
    """Per QPV × category × mode: residents, share within the threshold, median and P90 time.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Units frame (see the module docstring): grid cells for real QPV figures.
    qpv : geopandas.GeoDataFrame
        Output of :func:`zonesblanches.geodata.qpv.load_qpv` (``code_qp``, ``nom_qp``,
        ``communes_insee``…).
    categories, modes : sequence of str, optional
        Restrict to these (default: every ``temps_*`` column present).
    thresholds : dict {mode: minutes} or float
        Threshold of each mode (aliases accepted), or one value for all.
    method : {"area", "centroid"}
        How grid cells are assigned to QPV (see :func:`assign_qpv`). Cell centres without
        ``idcar`` follow the centroid rule; the ``methode`` column says which was used.
    weight : str
        Column counting people (default ``population``).
    kind : {"carreau", "commune"}, optional
        What the units are (see :func:`unit_kind`; default: guessed).

    Returns
    -------
    pandas.DataFrame
        Sorted by ``code_qp``, ``categorie``, ``mode``; columns ``code_qp``, ``nom_qp``,
        ``communes_insee``, ``categorie``, ``mode``, ``seuil_min``, ``population``,
        ``population_dans_seuil``, ``pct_population_dans_seuil``, (``men_pauv``,
        ``men_pauv_dans_seuil``, ``pct_men_pauv_dans_seuil`` when ``men_pauv`` is known),
        ``temps_median``, ``temps_p90``, ``service_plus_proche`` (the service nearest to most
        of the residents), ``methode``. With commune points: population, shares and
        quantiles are NaN, ``temps_centre_commune`` gives the host communes' time (their
        population-weighted median) and ``attrs["avertissement"]`` explains why.
    """
    _check_units(units, weight)
    pairs = _pairs(units, categories, modes)
    limits = _thresholds(thresholds, sorted({m for _, m in pairs}))
    kind = unit_kind(units, kind)
    q = qpv.reset_index(drop=True)
    names = q["nom_qp"].astype(str).to_numpy() if "nom_qp" in q else np.full(len(q), "")
    hosts = (
        q["communes_insee"].astype(str).to_numpy() if "communes_insee" in q else np.full(len(q), "")
    )
    pop = units[weight].astype("float64").fillna(0.0).to_numpy()
    poor = (
        units["men_pauv"].astype("float64").fillna(0.0).to_numpy()
        if "men_pauv" in units.columns
        else None
    )

    if kind == "commune":
        return _qpv_indicators_points(units, q, pairs, limits, pop, names, hosts)

    links, method = _cell_links(units, q, method)
    members = {
        code: (grp["unite"].to_numpy(), grp["part"].to_numpy())
        for code, grp in links.groupby("code_qp", sort=True)
    }
    nothing = (np.zeros(0, dtype="int64"), np.zeros(0))
    rows = []
    for cat, mode in pairs:
        times = units[time_col(cat, mode)].astype("float64").to_numpy()
        services, service_ids = _service_codes(units, cat, mode)
        within = _within(times, limits[mode])
        for k, code in enumerate(q["code_qp"].astype(str)):
            idx, part = members.get(code, nothing)
            w = pop[idx] * part
            row = _qpv_row_key(code, names[k], hosts[k], cat, mode, limits[mode])
            row.update(_weighted_block(w, times[idx], within[idx]))
            if poor is not None:
                row.update(_weighted_block(poor[idx] * part, times[idx], within[idx], "men_pauv"))
            row["temps_median"] = weighted_quantile(times[idx], w, 0.5)
            row["temps_p90"] = weighted_quantile(times[idx], w, 0.9)
            row["service_plus_proche"] = _main_service(services[idx], service_ids, w)
            row["methode"] = METHODS[method]
            rows.append(row)
    out = pd.DataFrame(rows)
    return out.sort_values(["code_qp", "categorie", "mode"], kind="stable").reset_index(drop=True)


def _qpv_indicators_points(units, q, pairs, limits, pop, names, hosts) -> pd.DataFrame:
    if "code_insee" not in units.columns:
        raise ParameterError(
            "Avec des communes (points), les unités doivent avoir une colonne « code_insee » "
            "pour retrouver la commune d'accueil de chaque QPV."
        )
    from zonesblanches.geodata.communes import normalize_insee
    from zonesblanches.geodata.qpv import split_codes

    codes = units["code_insee"].map(normalize_insee).to_numpy()
    position = {c: i for i, c in enumerate(codes)}
    rows = []
    for cat, mode in pairs:
        times = units[time_col(cat, mode)].astype("float64").to_numpy()
        services, service_ids = _service_codes(units, cat, mode)
        for k, code in enumerate(q["code_qp"].astype(str)):
            idx = np.array(
                [position[c] for c in split_codes(hosts[k]) if c in position], dtype="int64"
            )
            w = pop[idx] if len(idx) else np.zeros(0)
            if len(idx) and not (w > 0).any():
                w = np.ones(len(idx))
            rows.append(
                {
                    **_qpv_row_key(code, names[k], hosts[k], cat, mode, limits[mode]),
                    "population": math.nan,
                    "population_dans_seuil": math.nan,
                    "pct_population_dans_seuil": math.nan,
                    "temps_median": math.nan,
                    "temps_p90": math.nan,
                    "temps_centre_commune": weighted_quantile(times[idx], w, 0.5),
                    "service_plus_proche": _main_service(services[idx], service_ids, w),
                    "methode": METHODS["commune"],
                }
            )
    out = pd.DataFrame(rows)
    out = out.sort_values(["code_qp", "categorie", "mode"], kind="stable").reset_index(drop=True)
    out.attrs["avertissement"] = AVERTISSEMENT_COMMUNES
    return out


def qpv_gap(
    units: gpd.GeoDataFrame,
    qpv: gpd.GeoDataFrame,
    *,
    categories: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    thresholds: Mapping[str, float] | float,
    by: str | None = "code_epci",
    method: str = "area",
    weight: str = "population",
    kind: str | None = None,
) -> pd.DataFrame:
    """QPV residents versus the rest of their EPCI (``by``) and of the whole territory.

    Each unit's people are split into QPV residents (its share in QPV, see :func:`assign_qpv`)
    and others, then grouped by the unit's ``by`` value: a QPV over two EPCI counts in each for
    the residents living there.

    Returns
    -------
    pandas.DataFrame
        One row per group holding QPV residents (``niveau`` = ``by``, ``code`` = its value),
        then one row for the territory (``niveau`` = ``"territoire"``, ``code`` =
        ``"ensemble"``), for each category × mode; columns ``seuil_min``, ``population_qpv``,
        ``pct_dans_seuil_qpv``, ``population_hors_qpv``, ``pct_dans_seuil_hors_qpv``,
        ``ecart_points`` (QPV minus others, in percentage points: negative when QPV residents
        are worse off), ``temps_median_qpv``, ``temps_median_hors_qpv``, ``methode``. With
        communes, no rows and ``attrs["avertissement"]``.
    """
    _check_units(units, weight)
    pairs = _pairs(units, categories, modes)
    limits = _thresholds(thresholds, sorted({m for _, m in pairs}))
    columns = [
        "niveau", "code", "categorie", "mode", "seuil_min", "population_qpv",
        "pct_dans_seuil_qpv", "population_hors_qpv", "pct_dans_seuil_hors_qpv", "ecart_points",
        "temps_median_qpv", "temps_median_hors_qpv", "methode",
    ]  # fmt: skip
    if unit_kind(units, kind) == "commune":
        out = pd.DataFrame(columns=columns)
        out.attrs["avertissement"] = AVERTISSEMENT_COMMUNES
        return out
    if by is not None and by not in units.columns:
        raise ParameterError(f"Colonne « {by} » absente des unités : regroupement impossible.")
    links, method = _cell_links(units, qpv, method)
    share = _qpv_share(units, links)
    pop = units[weight].astype("float64").fillna(0.0).to_numpy()
    w_in, w_out = pop * share, pop * (1.0 - share)
    groups = [g for g in _groups(units, by) if g[0] == "territoire" or w_in[g[2]].sum() > 0]

    rows = []
    for cat, mode in pairs:
        times = units[time_col(cat, mode)].astype("float64").to_numpy()
        within = _within(times, limits[mode])
        for level, key, idx in groups:
            a, b = w_in[idx], w_out[idx]
            pa, pb = _sum(a), _sum(b)
            pct_a = _pct(_sum(a[within[idx]]), pa)
            pct_b = _pct(_sum(b[within[idx]]), pb)
            rows.append(
                {
                    "niveau": level,
                    "code": key,
                    "categorie": cat,
                    "mode": mode,
                    "seuil_min": limits[mode],
                    "population_qpv": pa,
                    "pct_dans_seuil_qpv": pct_a,
                    "population_hors_qpv": pb,
                    "pct_dans_seuil_hors_qpv": pct_b,
                    "ecart_points": pct_a - pct_b,
                    "temps_median_qpv": weighted_quantile(times[idx], a, 0.5),
                    "temps_median_hors_qpv": weighted_quantile(times[idx], b, 0.5),
                    "methode": METHODS[method],
                }
            )
    return pd.DataFrame(rows, columns=columns)


def weighted_coverage(
    units: gpd.GeoDataFrame,
    *,
    categories: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    thresholds: Mapping[str, float] | float,
    weights: Sequence[str] = ("population", "men_pauv"),
    by: str | None = None,
) -> pd.DataFrame:
    """Share of people — and of poor households — within the threshold, side by side.

    Parameters
    ----------
    weights : sequence of str
        Count columns (those absent from ``units`` are skipped: commune units have no
        ``men_pauv``). The first present one weights ``temps_median``.
    by : str, optional
        Also give one row per value of this column (``code_epci``, ``code_insee``); units
        without a value count only in the territory row.

    Returns
    -------
    pandas.DataFrame
        Rows per group (``niveau`` = ``by``, ``code``) then the territory (``"territoire"``,
        ``"ensemble"``), for each category × mode: ``seuil_min``, then for each weight ``w``:
        ``w``, ``w_dans_seuil``, ``pct_w_dans_seuil``; then ``temps_median``.
    """
    present = [w for w in weights if w in units.columns]
    if not present:
        raise ParameterError(
            "Aucune des colonnes de pondération n'est dans les unités : " + ", ".join(weights)
        )
    _check_units(units, present[0])
    pairs = _pairs(units, categories, modes)
    limits = _thresholds(thresholds, sorted({m for _, m in pairs}))
    if by is not None and by not in units.columns:
        raise ParameterError(f"Colonne « {by} » absente des unités : regroupement impossible.")
    values = {w: units[w].astype("float64").fillna(0.0).to_numpy() for w in present}
    groups = _groups(units, by)
    rows = []
    for cat, mode in pairs:
        times = units[time_col(cat, mode)].astype("float64").to_numpy()
        within = _within(times, limits[mode])
        for level, key, idx in groups:
            row = {
                "niveau": level,
                "code": key,
                "categorie": cat,
                "mode": mode,
                "seuil_min": limits[mode],
            }
            for w in present:
                row.update(_weighted_block(values[w][idx], times[idx], within[idx], w))
            row["temps_median"] = weighted_quantile(times[idx], values[present[0]][idx], 0.5)
            rows.append(row)
    return pd.DataFrame(rows)


def equity_tables(
    units: gpd.GeoDataFrame,
    qpv: gpd.GeoDataFrame | None = None,
    *,
    categories: Sequence[str] | None = None,
    modes: Sequence[str] | None = None,
    thresholds: Mapping[str, float] | float,
    by: str | None = "code_epci",
    method: str = "area",
    kind: str | None = None,
) -> dict[str, pd.DataFrame]:
    """All equity tables at once, named for :func:`write_tables`.

    Returns
    -------
    dict
        ``"couverture"`` (:func:`weighted_coverage`, by ``by`` when the column exists), and with
        ``qpv``: ``"qpv"`` (:func:`qpv_indicators`) and ``"ecarts_qpv"`` (:func:`qpv_gap`;
        left out with commune points, which cannot measure it).
    """
    group = by if by is not None and by in units.columns else None
    tables = {
        "couverture": weighted_coverage(
            units, categories=categories, modes=modes, thresholds=thresholds, by=group
        )
    }
    if qpv is not None and len(qpv):
        kind = unit_kind(units, kind)
        tables["qpv"] = qpv_indicators(
            units,
            qpv,
            categories=categories,
            modes=modes,
            thresholds=thresholds,
            method=method,
            kind=kind,
        )
        if kind == "carreau":
            tables["ecarts_qpv"] = qpv_gap(
                units,
                qpv,
                categories=categories,
                modes=modes,
                thresholds=thresholds,
                by=group,
                method=method,
                kind=kind,
            )
    return tables


# Weights of the demand units
WEIGHTS = {
    "population": "habitants",
    "qpv": "habitants des QPV",
    "men_pauv": "ménages pauvres",
}
"""Weight names and their French label (unit counted)."""


_unit_kind = unit_kind  # qpv_links' ``unit_kind`` parameter shadows the function


def qpv_links(
    units: gpd.GeoDataFrame, qpv: gpd.GeoDataFrame | None, unit_kind: str | None = None
) -> pd.DataFrame | None:
    """Share of each unit's people living in each QPV, or ``None`` when it cannot be known.

    Suggestions, scenarios and equity tables all count QPV residents this way: grid cells
    (squares, or centres with their ``idcar``) by the share of their area in the QPV, centres
    without ``idcar`` by the QPV holding the centre. Commune units: ``None`` — a commune's
    centre says nothing of where its QPV residents live.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Demand units.
    qpv : geopandas.GeoDataFrame or None
        QPV perimeters (``code_qp``).
    unit_kind : {"commune", "carreau"}, optional
        As in the coverage result; guessed from the units otherwise (``idcar`` or polygons:
        cells).

    Returns
    -------
    pandas.DataFrame or None
        ``unite`` (row position), ``code_qp``, ``part`` (0–1).
    """
    if qpv is None or len(qpv) == 0 or len(units) == 0:
        return None
    if _unit_kind(units, unit_kind) != "carreau":
        return None
    links, _method = _cell_links(units, qpv, "area")
    return links


def qpv_residents(
    units: gpd.GeoDataFrame,
    qpv: gpd.GeoDataFrame | None = None,
    unit_kind: str | None = None,
) -> np.ndarray | None:
    """QPV residents of each unit, or ``None`` when they are not known.

    Known from a ``population_qpv`` column, or a ``part_qpv`` column (share 0–1 of the unit's
    population), or from QPV perimeters when units are grid cells (:func:`qpv_links`). Commune
    points do not tell where QPV residents live: ``None``.
    """
    pop = units["population"].to_numpy(dtype=float)
    if "population_qpv" in units:
        return np.nan_to_num(units["population_qpv"].to_numpy(dtype=float))
    if "part_qpv" in units:
        return pop * np.clip(np.nan_to_num(units["part_qpv"].to_numpy(dtype=float)), 0, 1)
    links = qpv_links(units, qpv, unit_kind)
    if links is None:
        return None
    share = np.zeros(len(units))
    if len(links):
        sums = links.groupby("unite")["part"].sum()
        share[sums.index.to_numpy()] = np.minimum(sums.to_numpy(), 1.0)
    return pop * share


def unit_weights(
    units: gpd.GeoDataFrame,
    weights: str | Mapping[str, float] = "population",
    *,
    qpv: gpd.GeoDataFrame | None = None,
    unit_kind: str | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], str]:
    """Objective weight of every unit, the known components, and a French label.

    Returns
    -------
    objective : numpy.ndarray
        Weight of each unit in the objective.
    components : dict
        ``population`` always; ``qpv`` and ``men_pauv`` when known.
    label : str
        French description of the objective, e.g. « habitants » or « 1 × habitants + 2 ×
        habitants des QPV ».
    """
    components = {"population": np.nan_to_num(units["population"].to_numpy(dtype=float))}
    residents = qpv_residents(units, qpv, unit_kind)
    if residents is not None:
        components["qpv"] = residents
    if "men_pauv" in units:
        components["men_pauv"] = np.nan_to_num(units["men_pauv"].to_numpy(dtype=float))
    if isinstance(weights, str):
        mix = {weights.strip().lower(): 1.0}
    elif isinstance(weights, Mapping):
        mix = {str(k).strip().lower(): v for k, v in weights.items()}
    else:
        raise ParameterError(
            "Pondération invalide : « population », « qpv », « men_pauv » ou un mélange "
            "{nom: coefficient}."
        )
    coeffs: dict[str, float] = {}
    for name, value in mix.items():
        if name not in WEIGHTS:
            raise ParameterError(
                f"Pondération inconnue : {name}. Pondérations possibles : {', '.join(WEIGHTS)}."
            )
        try:
            c = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"Coefficient illisible pour « {name} » : {value}.") from None
        if not (math.isfinite(c) and c >= 0):
            raise ParameterError(f"Le coefficient de « {name} » doit être positif ou nul.")
        coeffs[name] = c
    if not any(c > 0 for c in coeffs.values()):
        raise ParameterError("Au moins un coefficient de pondération doit être positif.")
    for name in coeffs:
        if name not in components:
            if name == "qpv":
                raise ParameterError(
                    "Les habitants des QPV ne sont pas connus pour ces unités : il faut le "
                    "carroyage INSEE (--carreaux FICHIER) et les périmètres des QPV (--qpv "
                    "FICHIER). Avec un point par commune, on ne sait pas où vivent les habitants "
                    "des quartiers."
                )
            raise ParameterError(
                "Le nombre de ménages pauvres (men_pauv) n'est pas connu pour ces unités : il "
                "faut le carroyage INSEE Filosofi (--carreaux FICHIER)."
            )
    objective = sum(c * components[name] for name, c in coeffs.items() if c > 0)
    if len(coeffs) == 1 and next(iter(coeffs.values())) == 1.0:
        label = WEIGHTS[next(iter(coeffs))]
    else:
        label = " + ".join(
            f"{fr_num(c, 2, trim=True)} × {WEIGHTS[n]}" for n, c in coeffs.items() if c > 0
        )
    return np.asarray(objective, dtype=float), components, label
