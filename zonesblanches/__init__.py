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

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from zonesblanches._version import __version__

if TYPE_CHECKING:  # the names below, for type checkers and editors
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
    from zonesblanches.partitioned import partitioned_diagnostic

# Each public name and the module that defines it, imported on first use (PEP 562): importing
# the package, or one of its light modules such as the command line, does not import pandas,
# GeoPandas or pyarrow, whose C code can swallow a Ctrl-C (see zonesblanches._interrupt).
_LAZY = {
    "DEFAULT_THRESHOLDS": "zonesblanches.api",
    "diagnostic": "zonesblanches.api",
    "read_services": "zonesblanches.api",
    "scenario": "zonesblanches.api",
    "suggest": "zonesblanches.api",
    "CoverageResult": "zonesblanches.coverage.analysis",
    "compute_coverage": "zonesblanches.coverage.analysis",
    "StraightLineModel": "zonesblanches.coverage.traveltime",
    "format_sources": "zonesblanches.geodata.reference",
    "load_communes": "zonesblanches.geodata.reference",
    "load_epci": "zonesblanches.geodata.reference",
    "load_registry": "zonesblanches.geodata.reference",
    "sources": "zonesblanches.geodata.reference",
    "Territory": "zonesblanches.geodata.territory",
    "select_territory": "zonesblanches.geodata.territory",
    "partitioned_diagnostic": "zonesblanches.partitioned",
}

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
    """``zb.diagnostic`` and the other public names, imported from their module on first use
    and kept in the package's namespace after it."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zonesblanches' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
