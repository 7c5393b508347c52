"""What every workflow of :mod:`zonesblanches.api` shares: the default thresholds, the
territory argument, the default demand units and the analysis margin.

Private to the workflow layer (``api``, :mod:`zonesblanches.service_sources`,
:mod:`zonesblanches.jobs`); the public names are re-exported by :mod:`zonesblanches.api`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd

from zonesblanches.coverage.analysis import commune_demand
from zonesblanches.coverage.traveltime import TravelTimeModel
from zonesblanches.geodata.territory import Territory, select_territory

DEFAULT_THRESHOLDS = {"voiture": 20.0, "marche": 30.0}
"""The demo's question: who is more than 20 minutes by car, or 30 minutes on foot, from a service."""

TerritoryLike = Territory | str | Sequence[str] | None
"""A :class:`Territory`, or anything :func:`select_territory` understands (``None``: the region)."""


def as_territory(territory: TerritoryLike) -> Territory:
    """``territory`` itself if it is a :class:`Territory`, else :func:`select_territory` of it."""
    return territory if isinstance(territory, Territory) else select_territory(territory)


def unit_kind_of(demand: gpd.GeoDataFrame) -> str:
    """``"carreau"`` for INSEE grid cells (an ``idcar`` column), else ``"commune"``."""
    return "carreau" if "idcar" in demand.columns else "commune"


def demand_of(territory: Territory, demand: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """``demand`` itself, or one point per commune of the territory."""
    return commune_demand(territory.communes) if demand is None else demand


def analysis_margin(
    thresholds: Mapping[str, float | list[float]] | None = None,
    models: Mapping[str, TravelTimeModel] | None = None,
    margin_km: float | None = None,
    *,
    network: bool = False,
) -> float:
    """The margin (km) around the territory: ``margin_km`` checked, else the reach of the
    largest threshold at the fastest mode (:func:`zonesblanches.coverage.margin.margin_km`;
    ``network=True`` for road-network models not built yet)."""
    from zonesblanches.coverage.margin import check_margin
    from zonesblanches.coverage.margin import margin_km as reach_margin

    if margin_km is not None:
        return check_margin(margin_km)
    return reach_margin(thresholds or DEFAULT_THRESHOLDS, models, network=network)


def km_text(value: float) -> str:
    """Kilometres with one decimal and a decimal comma (« 12,5 »)."""
    return f"{value:.1f}".replace(".", ",")
