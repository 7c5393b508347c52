"""Travel-time models: the interface every model implements, and the straight-line model.

A model answers one question: for each origin (a home, a commune, a grid cell), how many minutes
to the nearest destination (a service), and which destination that is. The straight-line model
below needs no network; the road-network engine (:mod:`zonesblanches.coverage.network`)
implements the same interface, so the coverage analysis never needs to know which one it got.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from scipy.spatial import cKDTree

from zonesblanches._text import fr_g
from zonesblanches.coverage.reach import straight_line_reach
from zonesblanches.crs import LAMBERT93
from zonesblanches.errors import ParameterError
from zonesblanches.modes import MODES, mode_code

STRAIGHT_LINE = "vol_d_oiseau"
"""Method code of the straight-line model, as written in every output that uses it."""


@dataclass
class NearestTimes:
    """Time from each origin to its nearest destination.

    Attributes
    ----------
    minutes : numpy.ndarray
        Float array, one value per origin; ``inf`` where no destination is reachable.
    nearest : numpy.ndarray
        Integer array of positions into the destinations frame; ``-1`` where none is reachable.
    flags : numpy.ndarray
        Object array of French notes per origin (empty string when nothing to say), e.g. an
        origin too far from the road network.
    """

    minutes: np.ndarray
    nearest: np.ndarray
    flags: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.flags is None:
            self.flags = np.full(len(self.minutes), "", dtype=object)


@runtime_checkable
class TravelTimeModel(Protocol):
    """What the coverage analysis needs from a travel-time model."""

    mode: str
    """Mode code (``marche``, ``velo``, ``voiture``)."""
    method: str
    """Method code written in outputs (``vol_d_oiseau`` or ``reseau``)."""

    @property
    def description(self) -> str:
        """One French sentence saying how times are computed, shown in every output."""
        ...

    def nearest(self, origins: gpd.GeoSeries, destinations: gpd.GeoSeries) -> NearestTimes:
        """Time from every origin to its nearest destination (both point GeoSeries)."""
        ...

    # Optional: ``reach(candidates, units, threshold, *, max_chunk_bytes, progress)`` returning
    # a ``(candidates × units)`` CSR matrix of minutes within ``threshold``. A model that has
    # it answers :func:`zonesblanches.coverage.reach.reach_matrix` in one call; without it,
    # ``reach_matrix`` falls back to one :meth:`nearest` call per candidate. It is not part of
    # the runtime check, so a model with only ``nearest`` stays a ``TravelTimeModel``.


def _metric_xy(points: gpd.GeoSeries) -> np.ndarray:
    if points.crs is None:
        raise ParameterError("Les points n'ont pas de système de coordonnées (CRS) déclaré.")
    values = points.values
    if len(values) and (shapely.get_type_id(values) == 0).all():
        # The same transformation as ``to_crs`` (pyproj, x/y order), on the coordinates only:
        # no new geometry per point (100,000 services × each mode).
        transformer = pyproj.Transformer.from_crs(points.crs, LAMBERT93, always_xy=True)
        x, y = transformer.transform(shapely.get_x(values), shapely.get_y(values))
        return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    projected = points.to_crs(LAMBERT93)
    return np.column_stack([projected.x.to_numpy(), projected.y.to_numpy()])


class StraightLineModel:
    """Travel time estimated from the straight-line distance (« à vol d'oiseau »).

    ``time = distance × detour / speed``. Because time is proportional to distance, the nearest
    destination in time is the nearest in distance, found with a k-d tree.

    Parameters
    ----------
    mode : str
        ``marche``, ``velo`` or ``voiture`` (English aliases accepted).
    speed_kmh : float, optional
        Average speed; defaults to the mode's (see :mod:`zonesblanches.modes`).
    detour : float, optional
        Ratio of the travelled distance to the straight-line distance (default 1.3).
    """

    method = STRAIGHT_LINE

    def __init__(self, mode: str, speed_kmh: float | None = None, detour: float | None = None):
        self.mode = mode_code(mode)
        default = MODES[self.mode]
        self.speed_kmh = float(default.speed_kmh if speed_kmh is None else speed_kmh)
        self.detour = float(default.detour if detour is None else detour)
        if not self.speed_kmh > 0:
            raise ParameterError(f"La vitesse doit être positive (reçu : {speed_kmh}).")
        if not self.detour >= 1:
            raise ParameterError(
                f"Le coefficient de détour doit être au moins 1 (reçu : {detour})."
            )

    def __repr__(self) -> str:
        return (
            f"StraightLineModel(mode={self.mode!r}, speed_kmh={self.speed_kmh}, "
            f"detour={self.detour})"
        )

    @property
    def description(self) -> str:
        speed = fr_g(self.speed_kmh)
        detour = fr_g(self.detour)
        return (
            f"Temps estimés à vol d'oiseau ({MODES[self.mode].label}) : distance en ligne droite "
            f"× {detour} (détour) à {speed} km/h, sans réseau routier."
        )

    def minutes_for_metres(self, metres: np.ndarray) -> np.ndarray:
        """Convert straight-line distances in metres to minutes."""
        return np.asarray(metres, dtype=float) * self.detour / (self.speed_kmh * 1000.0 / 60.0)

    def reach(self, candidates: gpd.GeoSeries, units: gpd.GeoSeries, threshold: float, **_):
        """Units within ``threshold`` minutes of each candidate (k-d tree range query).

        See :func:`zonesblanches.coverage.reach.straight_line_reach`.
        """
        return straight_line_reach(self, candidates, units, threshold)

    def nearest(self, origins: gpd.GeoSeries, destinations: gpd.GeoSeries) -> NearestTimes:
        n = len(origins)
        if len(destinations) == 0:
            return NearestTimes(np.full(n, np.inf), np.full(n, -1, dtype=np.int64))
        tree = cKDTree(_metric_xy(destinations))
        dist, idx = tree.query(_metric_xy(origins), k=1)
        return NearestTimes(self.minutes_for_metres(dist), np.asarray(idx, dtype=np.int64))
