"""Folium maps, reports and exports. Maps draw; they never compute.

- :func:`coverage_map`, :func:`save_map`, :func:`render_map`: the interactive map;
- :func:`suggestion_map`, :func:`scenario_map`: the maps of « suggerer » and « scenario »;
- :func:`write_outputs`: map, report, figures, CSV, XLSX and GeoPackage in one folder;
- :func:`write_report`, :func:`static_map`, :func:`coverage_chart`, :func:`write_geopackage`,
  :func:`write_xlsx`: the pieces (loaded on first use: they import matplotlib);
- :func:`gain_curve`, :func:`gain_curve_chart`: people newly covered by the k-th suggested
  site, as a table and a figure.
"""

from zonesblanches.maps.carto import coverage_map, render_map, save_map
from zonesblanches.maps.plans import scenario_map, suggestion_map

_LAZY = {
    "write_outputs": "zonesblanches.maps.report",
    "write_report": "zonesblanches.maps.report",
    "static_map": "zonesblanches.maps.figures",
    "coverage_chart": "zonesblanches.maps.charts",
    "gain_curve_chart": "zonesblanches.maps.charts",
    "gain_curve": "zonesblanches.maps.tables",
    "write_geopackage": "zonesblanches.maps.export",
    "write_xlsx": "zonesblanches.maps.export",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["coverage_map", "render_map", "save_map", "scenario_map", "suggestion_map", *_LAZY]
