"""The market offer as context: per demand unit, the time to the nearest ordinary driving school
and garage (INSEE BPE ``A304``, ``A301``).

These are never solidarity services: they get their own columns (``temps_offre_marchande_
{equipement}_{mode}``), are not in the coverage figures, and say where a planner could partner
with ordinary businesses rather than where people are served.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np

from zonesblanches.coverage.traveltime import StraightLineModel, TravelTimeModel

PREFIX = "temps_offre_marchande_"


def market_column(equipement: str, mode: str) -> str:
    """Name of the context column of one equipment kind and mode."""
    return f"{PREFIX}{equipement}_{mode}"


def market_times(
    units: gpd.GeoDataFrame,
    equipments: gpd.GeoDataFrame,
    modes: list[str],
    models: Mapping[str, TravelTimeModel] | None = None,
    kinds: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """Minutes from every unit to the nearest equipment of each kind (``equipement`` column of
    :func:`zonesblanches.geodata.bpe.load_bpe`; ``kinds``: the columns wanted even when no
    equipment of that kind is found), per mode; ``inf`` when there is none."""
    out: dict[str, np.ndarray] = {}
    for mode in modes:
        model = (models or {}).get(mode) or StraightLineModel(mode)
        for kind in kinds or sorted(set(equipments["equipement"])):
            points = equipments.loc[equipments["equipement"] == kind].geometry
            out[market_column(kind, mode)] = model.nearest(units.geometry, points).minutes
    return out
