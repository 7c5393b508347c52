"""The notebook-friendly entry point: one call from a territory to a coverage result.

>>> import zonesblanches as zb
>>> res = zb.diagnostic("valenciennes metropole", {"voiture": 20, "marche": 30})  # doctest: +SKIP
>>> res.summary()                                                                  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike

import geopandas as gpd

from zonesblanches.coverage.analysis import CoverageResult, commune_demand, compute_coverage
from zonesblanches.coverage.traveltime import TravelTimeModel
from zonesblanches.geodata import reference
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
    """
    if not isinstance(territory, Territory):
        territory = select_territory(territory)
    if services is None:
        services = reference.load_registry()
    if demand is None:
        demand = commune_demand(territory.communes)
    unit_kind = "carreau" if "idcar" in demand.columns else "commune"
    return compute_coverage(
        demand,
        services,
        thresholds or DEFAULT_THRESHOLDS,
        categories=categories,
        models=models,
        territory=territory.label,
        unit_kind=unit_kind,
    )


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
    services: gpd.GeoDataFrame | None = None,
    **kwargs,
) -> dict[str, TravelTimeModel]:
    """Road-network travel-time models for ``modes``, from an OSM file or a download.

    Parameters
    ----------
    territory : Territory
        The network is clipped to the territory plus a margin (services just across the border
        stay reachable).
    modes : sequence of str
        Mode codes.
    osm : path-like, optional
        OSM PBF, OSM XML or OSMnx GraphML file.
    download : bool
        Download the territory's ways from Overpass (an EPCI at most; needs Internet).
    services : geopandas.GeoDataFrame, optional
        The services the analysis uses. With an OSM file, the margin then reaches, for every
        category, the nearest service of every commune of the territory
        (:func:`~zonesblanches.geodata.osm.service_margin_m`): a commune gets the same times
        whether the run covers its EPCI or the region. Downloads keep the default margins
        (Overpass size limit); a service left outside is flagged by the model.
    **kwargs
        Passed to :class:`~zonesblanches.coverage.network.NetworkModel` (``max_snap_m``…).

    Raises
    ------
    NetworkUnavailableError
        ``download=True`` without Internet (message in French).
    """
    from zonesblanches.coverage.network import NetworkModel
    from zonesblanches.geodata.osm import download_networks, load_networks, service_margin_m
    from zonesblanches.geodata.reference import commune_points

    if osm is not None:
        margin = None
        if services is not None:
            margin = service_margin_m(commune_points(territory.communes), services, modes)
        networks = load_networks(
            osm, modes, polygon=territory.geometry, margin_m=margin, progress=progress
        )
    elif download:
        networks = download_networks(territory.geometry, modes, progress=progress)
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
