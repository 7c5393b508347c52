"""zonesblanches: where people cannot reach the services that get them moving.

The package is split by job, and data flows one way:

- :mod:`zonesblanches.geodata` reads, validates, downloads and ships data;
- :mod:`zonesblanches.coverage` computes travel times, coverage and zones blanches;
- :mod:`zonesblanches.maps` draws maps and writes reports and exports;
- :mod:`zonesblanches.api` holds the « territory → result » workflows (:func:`diagnostic`,
  :func:`suggest`, :func:`scenario`) and :mod:`zonesblanches.cli` the command line.

See ``docs/architecture.md`` for the module map.

The names below are the short path for notebooks::

    import zonesblanches as zb
    territoire = zb.select_territory("valenciennes metropole")
    res = zb.diagnostic(territoire, {"voiture": 20, "marche": 30})
    res.summary()
"""

from zonesblanches._version import __version__
from zonesblanches.api import DEFAULT_THRESHOLDS, diagnostic, read_services, scenario, suggest
from zonesblanches.coverage.analysis import CoverageResult, compute_coverage
from zonesblanches.coverage.traveltime import StraightLineModel
from zonesblanches.geodata.reference import (
    format_sources,
    load_communes,
    load_epci,
    load_registry,
    sources,
)
from zonesblanches.geodata.territory import Territory, select_territory

__all__ = [
    "__version__",
    "DEFAULT_THRESHOLDS",
    "CoverageResult",
    "StraightLineModel",
    "Territory",
    "compute_coverage",
    "diagnostic",
    "format_sources",
    "load_communes",
    "load_epci",
    "load_registry",
    "read_services",
    "scenario",
    "select_territory",
    "sources",
    "suggest",
    "partitioned_diagnostic",
]


def __getattr__(name: str):
    """``zb.partitioned_diagnostic`` (the Dask run), imported on first use only."""
    if name == "partitioned_diagnostic":
        from zonesblanches.partitioned import partitioned_diagnostic

        return partitioned_diagnostic
    raise AttributeError(f"module 'zonesblanches' has no attribute {name!r}")
