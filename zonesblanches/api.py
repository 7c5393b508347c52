"""The notebook-friendly entry point: one call from a territory to a coverage result.

>>> import zonesblanches as zb
>>> res = zb.diagnostic("valenciennes metropole", {"voiture": 20, "marche": 30})  # doctest: +SKIP
>>> res.summary()                                                                  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike

import geopandas as gpd

from zonesblanches._text import fr_count
from zonesblanches.coverage.analysis import CoverageResult, commune_demand, compute_coverage
from zonesblanches.coverage.traveltime import TravelTimeModel
from zonesblanches.geodata import reference
from zonesblanches.geodata.categories import CATEGORIES
from zonesblanches.geodata.territory import Territory, select_territory

DEFAULT_THRESHOLDS = {"voiture": 20.0, "marche": 30.0}
"""The demo's question: who is more than 20 minutes by car, or 30 minutes on foot, from a service."""


def diagnostic(
    territory: Territory | str | Sequence[str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    *,
    services: gpd.GeoDataFrame | None = None,
    categories: Sequence[str] | None = None,
    models: Mapping[str, TravelTimeModel] | None = None,
    demand: gpd.GeoDataFrame | None = None,
    margin_km: float | None = None,
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
    """
    from zonesblanches.coverage.margin import check_margin, distance_to_territory
    from zonesblanches.coverage.margin import margin_km as reach_margin

    if not isinstance(territory, Territory):
        territory = select_territory(territory)
    if services is None:
        services = reference.load_registry()
    if demand is None:
        demand = commune_demand(territory.communes)
    thresholds = thresholds or DEFAULT_THRESHOLDS
    if categories is None and "categorie" in services:
        # The categories asked are those of the whole file, even if the margin drops all the
        # services of one of them (its people are then all in zone blanche).
        present = set(services["categorie"])
        categories = [c for c in CATEGORIES if c in present]
    margin = reach_margin(thresholds, models) if margin_km is None else check_margin(margin_km)
    kept, outside = services, 0
    if "geometry" in getattr(services, "columns", ()) and len(services):
        distance = distance_to_territory(services, territory.communes)
        kept = services.loc[distance <= margin]
        outside = int(((distance > 0) & (distance <= margin)).sum())
    unit_kind = "carreau" if "idcar" in demand.columns else "commune"
    result = compute_coverage(
        demand,
        kept,
        thresholds,
        categories=categories,
        models=models,
        territory=territory.label,
        unit_kind=unit_kind,
    )
    dropped = len(services) - len(kept)
    if dropped or outside:
        note = (
            f"Services pris en compte : ceux du territoire et d'une marge de {_km(margin)} km "
            "autour (portée du seuil le plus long au mode le plus rapide), au-delà des limites "
            f"de département et de région ; {fr_count(outside, 'service')} hors du territoire "
            "retenu(s)"
        )
        if dropped:
            note += (
                f", {fr_count(dropped, 'service')} au-delà de la marge écarté(s) (sans effet sur "
                "les temps sous les seuils)"
            )
        result.notes.append(note + ".")
    result.margin_km = margin
    return result


def _km(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def read_services(path: str | PathLike, **kwargs):
    """Read a user's services file (see :func:`zonesblanches.geodata.services.read_services`)."""
    from zonesblanches.geodata.services import read_services as _read

    return _read(path, **kwargs)


def network_models(
    territory: Territory,
    modes: Sequence[str],
    *,
    osm: str | PathLike | None = None,
    download: bool = False,
    progress: bool = True,
    thresholds: Mapping[str, float | list[float]] | None = None,
    margin_km: float | None = None,
    **kwargs,
) -> dict[str, TravelTimeModel]:
    """Road-network travel-time models for ``modes``, from an OSM file or a download.

    Parameters
    ----------
    territory : Territory
        The network is clipped to (or downloaded for) the territory plus a margin, across
        département and region borders, so services just across the border stay reachable.
    modes : sequence of str
        Mode codes.
    thresholds : mapping, optional
        Mode → minutes (or list of minutes) of the analysis: the default margin is the reach of
        the largest threshold at the fastest speed on the road
        (:func:`zonesblanches.coverage.margin.margin_km` with ``network=True``), per mode; without
        thresholds, the loaders' per-mode default (``DEFAULT_MARGIN_M``).
    margin_km : float, optional
        The margin in km, overriding the default (0: the territory only).
    osm : path-like, optional
        OSM PBF, OSM XML or OSMnx GraphML file.
    download : bool
        Download the territory's ways from Overpass (an EPCI at most; needs Internet).
    **kwargs
        Passed to :class:`~zonesblanches.coverage.network.NetworkModel` (``max_snap_m``…).

    Raises
    ------
    NetworkUnavailableError
        ``download=True`` without Internet (message in French).
    """
    from zonesblanches.coverage.margin import check_margin
    from zonesblanches.coverage.margin import margin_km as reach_margin
    from zonesblanches.coverage.network import NetworkModel
    from zonesblanches.geodata.osm import download_networks, load_networks

    margin_m: float | dict[str, float] | None = None
    if margin_km is not None:
        margin_m = check_margin(margin_km) * 1000.0
    elif thresholds:
        # Each mode's network reaches as far as that mode can go within its largest threshold.
        margin_m = {
            mode: reach_margin({mode: minutes}, network=True) * 1000.0
            for mode, minutes in thresholds.items()
        }
    if osm is not None:
        networks = load_networks(
            osm, modes, polygon=territory.geometry, margin_m=margin_m, progress=progress
        )
    elif download:
        networks = download_networks(
            territory.geometry, modes, margin_m=margin_m, progress=progress
        )
    else:
        raise ValueError("network_models needs osm=... or download=True")
    return {mode: NetworkModel(net, **kwargs) for mode, net in networks.items()}


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
    from zonesblanches.coverage.analysis import blank_col, time_col
    from zonesblanches.coverage.zones import zones_blanches

    units = result.units
    if result.unit_kind == "commune":
        polygons = communes.set_index("code_insee").geometry
        units = gpd.GeoDataFrame(
            units.drop(columns=units.geometry.name),
            geometry=units["code_insee"].map(polygons).values,
            crs=communes.crs,
        )
    pairs = pairs or [(c, m) for c in result.categories for m in result.modes]
    return {
        f"{cat}_{mode}": zones_blanches(
            units,
            uncovered_col=blank_col(cat, mode),
            time_col=time_col(cat, mode),
            qpv=qpv,
            communes=communes,
        )
        for cat, mode in pairs
    }
