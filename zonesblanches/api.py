"""Every « territory → result » workflow: diagnostic, site suggestion, scenario, network models.

Each takes a :class:`~zonesblanches.geodata.territory.Territory` (or anything
:func:`~zonesblanches.geodata.territory.select_territory` understands), resolves the defaults
once (bundled registry, one point per commune, the demo thresholds), reads the user's files, and
calls the computation layer (:mod:`zonesblanches.coverage`, which does no file IO).

>>> import zonesblanches as zb
>>> res = zb.diagnostic("valenciennes metropole", {"voiture": 20, "marche": 30})  # doctest: +SKIP
>>> res.summary()                                                                  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike

import geopandas as gpd
import numpy as np
import pandas as pd

from zonesblanches._api_common import (
    DEFAULT_THRESHOLDS,
    TerritoryLike,
    analysis_margin,
    as_territory,
    demand_of,
    km_text,
    unit_kind_of,
)
from zonesblanches._text import fr_count, fr_plural
from zonesblanches.coverage.analysis import CoverageResult, compute_coverage
from zonesblanches.coverage.scenarios import Place, ScenarioResult, run_scenario
from zonesblanches.coverage.sites import SiteSuggestion, suggest_sites
from zonesblanches.coverage.traveltime import TravelTimeModel
from zonesblanches.errors import ParameterError
from zonesblanches.geodata import reference
from zonesblanches.geodata.categories import CATEGORIES, category_code
from zonesblanches.geodata.communes import is_insee_code, normalize_insee
from zonesblanches.geodata.territory import Territory, select_territory
from zonesblanches.modes import mode_code
from zonesblanches.road_networks import network_margins, network_models
from zonesblanches.service_sources import (
    DATA_INCLUSION,
    OUTSIDE_COLUMNS,
    REGISTRY_CAVEAT,
    STATUS_WORDS,
    ResolvedServices,
    demo_services,
    inventory_table,
    label_result,
    list_outside,
    outside_table,
    points_of,
    read_services,
    resolve_services,
    say_borders,
    service_inventory,
    write_service_inventory,
)

__all__ = [
    "DATA_INCLUSION",
    "DEFAULT_THRESHOLDS",
    "MAX_ZONE_UNITS",
    "OUTSIDE_COLUMNS",
    "REGISTRY_CAVEAT",
    "STATUS_WORDS",
    "ResolvedServices",
    "TerritoryLike",
    "analysis_margin",
    "as_territory",
    "demo_services",
    "diagnostic",
    "inventory_table",
    "network_margins",
    "network_models",
    "output_zones",
    "parse_add",
    "parse_move",
    "parse_place",
    "parse_weights",
    "principal_indicator",
    "qpv_equity",
    "read_demand",
    "read_qpv",
    "read_services",
    "resolve_services",
    "scenario",
    "select_territory",
    "service_inventory",
    "service_isochrones",
    "suggest",
    "unit_kind_of",
    "write_service_inventory",
    "zones_by_indicator",
    "zones_table",
]


def diagnostic(
    territory: Territory | str | Sequence[str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    *,
    services: gpd.GeoDataFrame | None = None,
    categories: Sequence[str] | None = None,
    models: Mapping[str, TravelTimeModel] | None = None,
    demand: gpd.GeoDataFrame | None = None,
    margin_km: float | None = None,
    market: gpd.GeoDataFrame | str | PathLike | None = None,
) -> CoverageResult:
    """Coverage of a territory by mobility-inclusion services.

    Parameters
    ----------
    territory : Territory, str or list of str, optional
        A :class:`Territory` or anything :func:`select_territory` understands; default: the whole
        region.
    thresholds : mapping, optional
        Mode → minutes; default ``{"voiture": 20, "marche": 30}``.
    services : geopandas.GeoDataFrame, optional
        Service points (``service_id``, ``categorie``…); default: the bundled registry. Use
        :func:`zonesblanches.geodata.services.read_services` to read a file.
    categories : sequence of str, optional
        Category codes; default: those present in ``services``.
    models : mapping, optional
        Mode → travel-time model; default: straight-line (« à vol d'oiseau ») for each mode.
    demand : geopandas.GeoDataFrame, optional
        Demand units (points with ``population``); default: one point per commune. Grid
        cells (with ``idcar``, see :func:`zonesblanches.geodata.carreaux.carreaux_demand`)
        make a ``carreau`` analysis.
    margin_km : float, optional
        Services are taken in the territory plus this margin (km), across département and region
        borders; default: the reach of the largest threshold at the fastest mode
        (:func:`zonesblanches.coverage.margin.margin_km`), beyond which no service can change a
        result. The people counted are those inside the territory only.
    market : geopandas.GeoDataFrame or path-like, optional
        The market offer (INSEE BPE file, or :func:`~zonesblanches.geodata.bpe.load_bpe`'s
        ``equipments``): per unit, the time to the nearest ordinary driving school / garage as
        context columns (:mod:`zonesblanches.coverage.market`), never counted as a solidarity
        service; the points are kept in ``result.market``.
    """
    from zonesblanches.coverage.margin import distance_to_territory

    territory = as_territory(territory)
    demand = demand_of(territory, demand)
    thresholds = thresholds or DEFAULT_THRESHOLDS
    resolved = resolve_services(
        territory, services, thresholds=thresholds, models=models, margin_km=margin_km
    )
    services = resolved.services
    if categories is None and "categorie" in services:
        # The categories asked are those of the whole file, even if the margin drops all the
        # services of one of them (its people are then all in zone blanche).
        present = set(services["categorie"])
        categories = [c for c in CATEGORIES if c in present]
    margin = analysis_margin(thresholds, models, margin_km)
    kept, outside, distance = services, 0, None
    if "geometry" in getattr(services, "columns", ()) and len(services):
        distance = distance_to_territory(services, territory.communes)
        kept = services.loc[distance <= margin]
        outside = int(((distance > 0) & (distance <= margin)).sum())
    result = compute_coverage(
        demand,
        kept,
        thresholds,
        categories=categories,
        models=models,
        territory=territory.label,
        unit_kind=unit_kind_of(demand),
    )
    dropped = len(services) - len(kept)
    if dropped or outside:
        note = (
            f"Services pris en compte : ceux du territoire et d'une marge de {km_text(margin)} km "
            "autour (portée du seuil le plus long au mode le plus rapide), au-delà des limites "
            f"de département et de région ; {fr_count(outside, 'service')} hors du territoire "
            f"{fr_plural(outside, 'retenu')}"
        )
        if dropped:
            note += (
                f", {fr_count(dropped, 'service')} au-delà de la marge "
                f"{fr_plural(dropped, 'écarté')} (sans effet sur les temps sous les seuils)"
            )
        result.notes.append(note + ".")
    result.margin_km = margin
    if distance is not None:
        result.services_outside = outside_table(services, distance, result, margin, resolved.label)
    say_borders(result, territory, margin)
    label_result(result, resolved)
    if market is not None:
        _add_market(result, territory, market, margin)
    return result


def _market_points(territory: Territory, market: object, margin: float) -> gpd.GeoDataFrame:
    """The market offer's points: ``market`` itself, or the BPE file read in the territory
    plus the margin."""
    from zonesblanches.geodata.bpe import load_bpe
    from zonesblanches.geodata.data_inclusion import search_zone

    if isinstance(market, gpd.GeoDataFrame):
        return market
    return load_bpe(market, zone=search_zone(territory.geometry, margin * 1000.0)).equipments


def _market_note(market: gpd.GeoDataFrame, where: str) -> str:
    """« Offre marchande (INSEE BPE, territoire et marge) : école de conduite 3, … » and where
    its context columns are."""
    from zonesblanches.geodata.bpe import TYPES

    counts = market["equipement"].value_counts()
    found = ", ".join(f"{TYPES[code][1].split(' (')[0].lower()} {int(counts.get(name, 0))}"
                      for code, (name, _) in TYPES.items())  # fmt: skip
    return (
        f"Offre marchande (INSEE BPE, territoire et marge) : {found} ; {where} en colonnes de "
        "contexte (temps_offre_marchande_…), jamais comptés comme services solidaires."
    )


def _market_times(points, market: gpd.GeoDataFrame, modes, models) -> dict:
    """Context columns: minutes from ``points`` to the nearest equipment of each BPE kind."""
    from zonesblanches.coverage.market import market_times
    from zonesblanches.geodata.bpe import TYPES

    kinds = [name for name, _ in TYPES.values()]
    return market_times(points, market, list(modes), models, kinds)


def _add_market(result: CoverageResult, territory: Territory, market: object, margin: float):
    """Context columns and note of the market offer (``--offre-marchande``)."""
    market = _market_points(territory, market, margin)
    columns = _market_times(result.units, market, result.modes, result.models)
    result.units = result.units.assign(**columns)
    result.market = market
    result.notes.append(_market_note(market, "temps jusqu'au plus proche"))


def suggest(
    territory: TerritoryLike,
    categorie: str,
    mode: str,
    k: int,
    *,
    seuil: float | None = None,
    services: gpd.GeoDataFrame | None = None,
    origins: Sequence[str] = ("commune",),
    premises: gpd.GeoDataFrame | str | PathLike | None = None,
    qpv: gpd.GeoDataFrame | None = None,
    cell_m: float = 2000.0,
    weights: str | Mapping[str, float] = "population",
    method: str = "greedy",
    model: TravelTimeModel | None = None,
    demand: gpd.GeoDataFrame | None = None,
    progress: bool = True,
    market: gpd.GeoDataFrame | str | PathLike | None = None,
) -> SiteSuggestion:
    """Where to open ``k`` new services: territory → coverage → candidates → suggestion.

    What ``zonesblanches suggerer`` runs.

    Parameters
    ----------
    territory : Territory, str or list of str or None
        A :class:`Territory` or anything :func:`select_territory` understands.
    categorie, mode, k
        As for :func:`~zonesblanches.coverage.sites.suggest_sites`.
    seuil : float, optional
        Minutes; default the demo threshold of the mode (car 20, walking 30), else 20.
    services : geopandas.GeoDataFrame, optional
        Existing services (default: the bundled registry).
    origins : sequence of str
        Candidate origins (``commune``, ``qpv``, ``fichier``, ``grille``).
    premises : geopandas.GeoDataFrame or path, optional
        Possible premises (``fichier`` origin): points, or a file read like a services file.
    qpv, cell_m
        Inputs of the candidate generators (``qpv``: QPV perimeters, also used for QPV weights).
    weights, method, model
        As for :func:`~zonesblanches.coverage.sites.suggest_sites` (``model``: e.g. a
        :class:`~zonesblanches.coverage.network.NetworkModel`; default straight line).
    demand : geopandas.GeoDataFrame, optional
        Demand units (e.g. INSEE grid cells as centres, with ``idcar``); default one point per
        commune.
    market : geopandas.GeoDataFrame or path-like, optional
        The market offer (INSEE BPE file): per suggested site, the time to the nearest ordinary
        driving school / garage, as context columns of ``table`` and ``sites`` (an ordinary
        business next to a site is a possible partner, not a service: never counted).
    """
    from zonesblanches.coverage.candidates import build_candidates
    from zonesblanches.coverage.sites import _check_category

    territory = as_territory(territory)
    categorie = _check_category(categorie)
    mode = mode_code(mode)
    minutes = float(seuil) if seuil is not None else DEFAULT_THRESHOLDS.get(mode, 20.0)
    demand = demand_of(territory, demand)
    resolved = resolve_services(
        territory, services, thresholds={mode: minutes}, models={mode: model} if model else None
    )
    result = compute_coverage(
        demand,
        resolved.services,
        {mode: minutes},
        categories=[categorie],
        models={mode: model} if model is not None else None,
        territory=territory.label,
        unit_kind=unit_kind_of(demand),
    )
    candidates = build_candidates(
        territory.communes,
        origins=origins,
        qpv=qpv,
        premises=points_of(premises) if premises is not None else None,
        demand=demand,
        cell_m=cell_m,
    )
    label_result(result, resolved)
    list_outside(result, territory, resolved)
    suggestion = suggest_sites(
        result,
        categorie,
        mode,
        k,
        candidates=candidates,
        weights=weights,
        method=method,
        qpv=qpv,
        progress=progress,
    )
    suggestion.notes += [n for n in [say_borders(result, territory, resolved.margin_km)] if n]
    if market is not None:
        points = _market_points(territory, market, resolved.margin_km)
        columns = _market_times(suggestion.sites, points, [mode], {mode: model} if model else None)
        suggestion.table = suggestion.table.assign(**columns)
        suggestion.sites = suggestion.sites.assign(**columns)
        suggestion.notes.append(
            _market_note(points, "temps de chaque site proposé jusqu'au plus proche")
        )
        if suggestion.coverage is not None:
            suggestion.coverage.market = points
    return suggestion


def scenario(
    territory: TerritoryLike,
    *,
    add: object = None,
    remove: object = None,
    move: object = None,
    thresholds: Mapping[str, float] | None = None,
    services: gpd.GeoDataFrame | None = None,
    categories: Sequence[str] | None = None,
    models: Mapping[str, TravelTimeModel] | None = None,
    qpv: gpd.GeoDataFrame | None = None,
    demand: gpd.GeoDataFrame | None = None,
    market: gpd.GeoDataFrame | str | PathLike | None = None,
) -> ScenarioResult:
    """Before / after a change of services: territory → scenario.

    What ``zonesblanches scenario`` runs.

    Parameters
    ----------
    territory : Territory, str or list of str or None
        A :class:`Territory` or anything :func:`select_territory` understands.
    add, remove, move
        The ``--ajouter``, ``--retirer`` and ``--deplacer`` values (strings or lists), see
        :mod:`zonesblanches.coverage.scenarios`; ``add`` may also name services files, read
        here.
    thresholds : mapping, optional
        Mode → minutes; default car 20 min and walking 30 min.
    services : geopandas.GeoDataFrame, optional
        Services today; default the bundled registry.
    categories, models, qpv
        As for :func:`~zonesblanches.coverage.scenarios.run_scenario`.
    demand : geopandas.GeoDataFrame, optional
        Demand units (e.g. INSEE grid cells as centres, with ``idcar``); default one point per
        commune.
    market : geopandas.GeoDataFrame or path-like, optional
        The market offer (INSEE BPE file): per unit, the time to the nearest ordinary driving
        school / garage by the row's mode, as context columns of ``diff`` (who loses access may
        still have an ordinary business near); never counted as a service.
    """
    territory = as_territory(territory)
    demand = demand_of(territory, demand)
    if add is not None:
        items = [add] if isinstance(add, (str, PathLike, gpd.GeoDataFrame)) else list(add)
        add = [points_of(item) for item in items]
        add = [parse_add(item) if isinstance(item, str) else item for item in add]
    if isinstance(move, Mapping):
        move = {k: parse_place(v) if isinstance(v, str) else v for k, v in move.items()}
    elif move is not None:
        items = [move] if isinstance(move, str) else list(move)
        move = [parse_move(item) if isinstance(item, str) else item for item in items]
    thresholds = thresholds or DEFAULT_THRESHOLDS
    resolved = resolve_services(territory, services, thresholds=thresholds, models=models)
    res = run_scenario(
        resolved.services,
        add=add,
        remove=remove,
        move=move,
        demand=demand,
        thresholds=thresholds,
        models=models,
        categories=categories,
        territory=territory.label,
        unit_kind=unit_kind_of(demand),
        qpv=qpv,
    )
    for side in (res.before, res.after):
        label_result(side, resolved)
        list_outside(side, territory, resolved)
        note = say_borders(side, territory, resolved.margin_km)
    res.notes += [note] if note else []
    if market is not None:
        _scenario_market(res, _market_points(territory, market, resolved.margin_km))
    return res


def _scenario_market(res: ScenarioResult, market: gpd.GeoDataFrame) -> None:
    """Context columns of the scenario's unit table: minutes to the nearest ordinary driving
    school / garage by the row's mode (the same before and after: the market does not move)."""
    from zonesblanches.geodata.bpe import TYPES

    units = res.after.units
    times = _market_times(units, market, res.modes, res.after.models)
    extra = {}
    for name, _ in TYPES.values():
        values = np.full(len(res.diff), np.nan)
        for mode in res.modes:
            rows = (res.diff["mode"] == mode).to_numpy()
            # diff holds, per category then mode, every unit in the order of ``units``
            values[rows] = np.tile(
                times[f"temps_offre_marchande_{name}_{mode}"], len(res.categories)
            )
        extra[f"temps_offre_marchande_{name}"] = values
    res.diff = res.diff.assign(**extra)
    res.before.market = res.after.market = market
    res.notes.append(
        _market_note(market, "temps de chaque unité jusqu'au plus proche (mode de la ligne)")
    )


def parse_weights(text: str) -> str | dict[str, float]:
    """The ``--ponderation`` option: ``"qpv"`` or a mix ``"population:1+qpv:2"``.

    Terms are separated by ``+`` (or ``;``); coefficients accept a decimal comma.

    >>> parse_weights("population:1+qpv:2,5")
    {'population': 1.0, 'qpv': 2.5}
    """
    t = str(text).strip().lower()
    if ":" not in t and "+" not in t:
        return t
    mix: dict[str, float] = {}
    for part in t.replace(";", "+").split("+"):
        if not part.strip():
            continue
        name, _, value = part.partition(":")
        try:
            coeff = float(value.strip().replace(",", ".")) if value.strip() else 1.0
        except ValueError:
            raise ParameterError(
                f"Pondération illisible : « {text} » (exemple : population:1+qpv:2)."
            ) from None
        mix[name.strip()] = coeff
    return mix


def parse_place(text: str) -> Place:
    """``"62895"`` → ``"62895"``; ``"2.8961,50.4928"`` → ``(2.8961, 50.4928)``."""
    t = str(text).strip()
    if "," in t:
        lon_s, _, lat_s = t.partition(",")
        try:
            lon, lat = float(lon_s), float(lat_s)
        except ValueError:
            raise ParameterError(
                f"Coordonnées illisibles : « {text} » (attendu : longitude,latitude, par "
                "exemple 2.8961,50.4928)."
            ) from None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ParameterError(f"Coordonnées hors limites : « {text} » (longitude,latitude).")
        return (lon, lat)
    code = normalize_insee(t)
    if not is_insee_code(code):
        raise ParameterError(
            f"Lieu illisible : « {text} » (code INSEE de commune à 5 caractères, ou "
            "longitude,latitude)."
        )
    return code


def parse_move(spec: str) -> tuple[str, Place]:
    """``"HDF-002:62895"`` → ``("HDF-002", "62895")`` (or a ``(lon, lat)`` destination)."""
    sid, sep, place = str(spec).strip().rpartition(":")
    if not sep or not sid.strip() or not place.strip():
        raise ParameterError(
            f"Déplacement illisible : « {spec} » (attendu : IDENTIFIANT:CODE_INSEE, par exemple "
            "HDF-002:62895, ou IDENTIFIANT:longitude,latitude)."
        )
    return sid.strip(), parse_place(place)


def parse_add(spec: str) -> tuple[str, Place]:
    """``"garage_solidaire:62895"`` → ``("garage_solidaire", "62895")``; labels are accepted."""
    cat, sep, place = str(spec).strip().partition(":")
    if not sep:
        raise ParameterError(
            f"Ajout illisible : « {spec} » (attendu : CATEGORIE:CODE_INSEE, par exemple "
            "garage_solidaire:62895, CATEGORIE:longitude,latitude, ou un fichier de services)."
        )
    code = cat.strip() if cat.strip() in CATEGORIES else category_code(cat)
    if code is None:
        raise ParameterError(
            f"Catégorie inconnue dans « {spec} ». Catégories possibles : "
            + ", ".join(CATEGORIES)
            + "."
        )
    return code, parse_place(place)


def zones_by_indicator(
    result: CoverageResult,
    communes: gpd.GeoDataFrame,
    *,
    qpv: gpd.GeoDataFrame | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """Zones blanches as places: uncovered units dissolved into contiguous zones.

    Parameters
    ----------
    result : CoverageResult
        Commune points (their commune polygons are used) or grid cells (squares rebuilt from
        ``idcar``).
    communes : geopandas.GeoDataFrame
        Commune polygons (``code_insee``), to draw commune units and name the communes touched.
    qpv : geopandas.GeoDataFrame, optional
        QPV touched by each zone (``codes_qp``).
    pairs : sequence of (categorie, mode), optional
        Indicators to compute; default all.

    Returns
    -------
    dict
        ``"{categorie}_{mode}"`` → zones GeoDataFrame (EPSG:4326), largest population first.
    """
    from zonesblanches.columns import blank_col, time_col
    from zonesblanches.coverage.zones import unit_graph, zones_blanches

    units = result.units
    if result.unit_kind == "commune":
        polygons = communes.set_index("code_insee").geometry
        units = gpd.GeoDataFrame(
            units.drop(columns=units.geometry.name),
            geometry=units["code_insee"].map(polygons).values,
            crs=communes.crs,
        )
    pairs = pairs or [(c, m) for c in result.categories for m in result.modes]
    graph = unit_graph(units) if len(pairs) > 1 else None  # polygons and neighbours once
    return {
        f"{cat}_{mode}": zones_blanches(
            units,
            uncovered_col=blank_col(cat, mode),
            time_col=time_col(cat, mode),
            qpv=qpv,
            communes=communes,
            graph=graph,
        )
        for cat, mode in pairs
    }


MAX_ZONE_UNITS = 1000
"""Above this many units, zones are dissolved for the principal category only (each takes
seconds)."""


def read_demand(
    territory: TerritoryLike, carreaux: str | PathLike, *, progress: bool = True
) -> gpd.GeoDataFrame:
    """Demand units from an INSEE Filosofi grid file: the territory's inhabited cells.

    See :func:`zonesblanches.geodata.carreaux.load_carreaux` for the formats.
    """
    from zonesblanches.geodata.carreaux import carreaux_demand, load_carreaux

    territory = as_territory(territory)
    cells = load_carreaux(carreaux, mask=territory.geometry, progress=progress)
    demand = carreaux_demand(cells, territory.communes)
    demand.attrs["lecture"] = cells.attrs.get("lecture", {})  # rows read, rejected, outside
    return demand


def read_qpv(
    territory: TerritoryLike, qpv: str | PathLike, *, progress: bool = True
) -> gpd.GeoDataFrame:
    """The QPV of a QPV file (ANCT 2024 or 2015) that lie in the territory."""
    from zonesblanches.geodata.qpv import load_qpv

    territory = as_territory(territory)
    return load_qpv(
        qpv, communes=reference.load_communes(None), mask=territory.geometry, progress=progress
    )


def qpv_equity(
    result: CoverageResult, qpv: gpd.GeoDataFrame
) -> tuple[dict[str, pd.DataFrame], gpd.GeoDataFrame]:
    """QPV equity tables of a result, and the QPV with their share within reach as columns.

    Returns
    -------
    tables : dict
        :func:`~zonesblanches.coverage.equity.equity_tables` (``couverture``, ``qpv``,
        ``ecarts_qpv``…).
    qpv : geopandas.GeoDataFrame
        The QPV, with one « % à portée — catégorie, mode » column per indicator (map popups).
    """
    from zonesblanches.coverage.equity import equity_tables
    from zonesblanches.geodata.categories import category_label
    from zonesblanches.modes import ALL_MODES as MODES

    tables = equity_tables(result.units, qpv, thresholds=result.thresholds, kind=result.unit_kind)
    per_qpv = tables.get("qpv")
    if per_qpv is None or not len(per_qpv) or "pct_population_dans_seuil" not in per_qpv:
        return tables, qpv
    wide = per_qpv.pivot_table(
        index="code_qp",
        columns=["categorie", "mode"],
        values="pct_population_dans_seuil",
        aggfunc="first",
    )
    wide.columns = [f"% à portée — {category_label(c)}, {MODES[m].label}" for c, m in wide.columns]
    return tables, qpv.merge(wide.reset_index(), on="code_qp", how="left")


def principal_indicator(result: CoverageResult, principal: str | None) -> tuple[str, str]:
    """The indicator (category, mode) the map opens on and the report answers first:
    ``"categorie:mode"`` or ``None`` (the first category and mode). Checked before anything is
    written: a French :class:`ParameterError` names the indicators analysed."""
    from zonesblanches.maps.carto import principal_index_of

    specs = [(c, m) for c in result.categories for m in result.modes]
    return specs[principal_index_of(principal, specs)]


def output_zones(
    result: CoverageResult,
    territory: TerritoryLike,
    qpv: gpd.GeoDataFrame | None = None,
    principal: tuple[str, str] | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """The zones blanches drawn and exported: every indicator or, above :data:`MAX_ZONE_UNITS`
    units, those of the principal indicator's category (``principal``, see
    :func:`principal_indicator`; default the first category) in every mode."""
    territory = as_territory(territory)
    pairs = None
    if len(result.units) > MAX_ZONE_UNITS:
        category = principal[0] if principal is not None else result.categories[0]
        pairs = [(category, m) for m in result.modes]
    return zones_by_indicator(result, territory.communes, qpv=qpv, pairs=pairs)


def zones_table(zones: Mapping[str, gpd.GeoDataFrame], unit_kind: str = "commune") -> pd.DataFrame:
    """All zones in one table (no geometry), with ``indicateur`` and ``nature`` columns.

    An indicator whose zones blanches are « quasi continue » (one zone holds most of the people
    without access, :func:`zonesblanches.maps.findings.zones_note`) is not listed as zones, as
    on the map: one row describes the whole (``nature`` « zone blanche quasi continue », no
    ``zone_id``), with its figures kept for computing. Other rows have ``nature`` « zone ».
    """
    from zonesblanches.maps.findings import zones_note

    parts = []
    for name, z in zones.items():
        frame = pd.DataFrame(z.drop(columns=z.geometry.name)).assign(indicateur=name)
        listed, note = zones_note(z, unit_kind)
        if listed or note is None:
            parts.append(frame.assign(nature="zone"))
            continue
        largest = frame.loc[[frame["population"].idxmax()]]
        whole = largest.assign(nature="zone blanche quasi continue")
        parts.append(whole.assign(zone_id=pd.array([pd.NA], dtype="Int64")))
    return pd.concat(parts, ignore_index=True)


def service_isochrones(
    result: CoverageResult,
    model: TravelTimeModel,
    minutes: Sequence[float],
    *,
    progress: bool = True,
) -> gpd.GeoDataFrame:
    """Isochrones of the analysed services on a road-network model (first mode's)."""
    from zonesblanches.coverage.isochrones import isochrones

    subset = result.services[result.services["categorie"].isin(result.categories)]
    return isochrones(model, subset, list(minutes), progress=progress)
