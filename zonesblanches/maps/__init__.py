"""Folium maps, reports and exports. Maps draw; they never compute."""

from zonesblanches.maps.carto import coverage_map, render_map, save_map

__all__ = ["coverage_map", "render_map", "save_map"]
