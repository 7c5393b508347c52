"""Reproducible GeoPackages: GDAL's last-change dates fixed while writing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from zonesblanches._xlsx import FIXED_TIME

GPKG_DATE = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%S.000Z")
"""The ``last_change`` date written in ``gpkg_contents`` for every layer."""


@contextlib.contextmanager
def fixed_dates() -> Iterator[None]:
    """Within the block, GDAL stamps GeoPackage layers with :data:`GPKG_DATE`, not the clock.

    GDAL writes the current time in each layer's ``last_change`` unless its configuration
    option ``OGR_CURRENT_DATE`` is set; the option's previous value is restored on exit, so the
    same inputs give a byte-identical file.
    """
    import pyogrio

    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
