"""Road-network travel-time models for a territory: the margin read around it, then the
models of every mode from an OSM file or a download.

Part of the workflow layer; the names are re-exported by :mod:`zonesblanches.api`, where callers
find them (``api.network_models``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from os import PathLike

import geopandas as gpd

from zonesblanches._api_common import TerritoryLike, as_territory
from zonesblanches.coverage.traveltime import TravelTimeModel
from zonesblanches.geodata.territory import Territory

__all__ = ["network_margins", "network_models"]


def network_margins(
    territory: Territory,
    modes: Sequence[str],
    thresholds: Mapping[str, float | list[float]] | None = None,
    margin_km: float | None = None,
    services: gpd.GeoDataFrame | None = None,
) -> float | dict[str, float] | None:
    """The margin (metres, one or per mode) :func:`network_models` reads around the territory:
    ``margin_km``, else each mode's reach within its largest threshold, widened (``services``
    given: reading a file) to every commune's nearest service of each category; ``None``: the
    loaders' defaults. The partitioned run's workers read with the same margins."""
    from zonesblanches.coverage.margin import check_margin
    from zonesblanches.coverage.margin import margin_km as reach_margin
    from zonesblanches.geodata.osm import service_margin_m
    from zonesblanches.geodata.reference import commune_points

    margin_m: float | dict[str, float] | None = None
    if margin_km is not None:
        return check_margin(margin_km) * 1000.0
    if thresholds:
        # Each mode's network reaches as far as that mode can go within its largest threshold.
        margin_m = {
            mode: reach_margin({mode: minutes}, network=True) * 1000.0
            for mode, minutes in thresholds.items()
        }
    if services is not None:
        # Wide enough that every unit's nearest service of each category is in the network
        # (a service cut off would be reached by a long off-network leg).
        reach = service_margin_m(commune_points(territory.communes), services, modes)
        margin_m = {m: max(reach[m], (margin_m or {}).get(m, 0.0)) for m in reach}
    return margin_m


def network_models(
    territory: TerritoryLike,
    modes: Sequence[str],
    *,
    osm: str | PathLike | None = None,
    download: bool = False,
    progress: bool = True,
    thresholds: Mapping[str, float | list[float]] | None = None,
    margin_km: float | None = None,
    services: gpd.GeoDataFrame | None = None,
    keep_networks: bool = True,
    **kwargs,
) -> dict[str, TravelTimeModel]:
    """Road-network travel-time models for ``modes``, from an OSM file or a download.

    Parameters
    ----------
    territory : Territory, str or list of str or None
        A :class:`Territory` or anything :func:`select_territory` understands. The network is
        clipped to (or downloaded for) the territory plus a margin, across département and region
        borders, so services just across the border stay reachable.
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
    services : geopandas.GeoDataFrame, optional
        The services the analysis uses. With an OSM file, the margin then reaches, for every
        category, the nearest service of every commune of the territory
        (:func:`~zonesblanches.geodata.osm.service_margin_m`): a commune gets the same times
        whether the run covers its EPCI or the region. Downloads take the threshold margin
        only (Overpass size limit); a service left outside is flagged by the model.
    keep_networks : bool, default True
        ``False``: each mode's model is built as soon as its network is cut and lets it go
        (``keep_network`` of NetworkModel): same times; isochrones and partitioned runs need it.
    **kwargs
        Passed to :class:`~zonesblanches.coverage.network.NetworkModel` (``max_snap_m``…).

    Raises
    ------
    NetworkUnavailableError
        ``download=True`` without Internet (message in French).
    """
    from zonesblanches.coverage.network import NetworkModel
    from zonesblanches.geodata.osm import download_networks, load_networks

    territory = as_territory(territory)
    margin_m = network_margins(territory, modes, thresholds, margin_km, services if osm else None)
    model = partial(NetworkModel, keep_network=keep_networks, **kwargs)
    if osm is not None:
        where = {"polygon": territory.geometry, "margin_m": margin_m, "progress": progress}
        return load_networks(osm, modes, convert=model, **where)
    if download:
        networks = download_networks(
            territory.geometry, modes, margin_m=margin_m, progress=progress
        )
        return {mode: model(networks.pop(mode)) for mode in list(networks)}
    raise ValueError("network_models needs osm=... or download=True")
