"""Coordinate reference systems used throughout the toolkit."""

WGS84 = "EPSG:4326"
"""Longitude/latitude, the CRS of every bundled file and of the maps."""

LAMBERT93 = "EPSG:2154"
"""RGF93 / Lambert-93, the metric CRS of metropolitan France used for distances."""
