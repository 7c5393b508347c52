"""The land borders of metropolitan France with its neighbours (bundled, Natural Earth 1:10m).

No French inventory (data·inclusion, the registry, a département's list) holds the services of
Belgium, Luxembourg, Germany, Switzerland, Italy, Monaco, Andorra or Spain: on a territory whose
margin crosses a land border, the services just over it are missing and the times near the border
may be overestimated. The analysis says so; to know whether it must, it needs where France ends
*over land* (a margin over the sea loses no service). The union of the bundled départements tells
where France ends, not whether land or sea lies beyond; these lines do: they are the borders
France shares with each neighbour in Natural Earth (coastlines excluded by construction), built by
``scripts/build_land_borders.py`` (source and licence in ``zonesblanches sources``). They run
along exactly the départements that border each country in the COG (Belgium: 02, 08, 54, 55, 59;
Luxembourg: 54, 57; Germany: 57, 67, 68; Switzerland: 01, 25, 39, 68, 74, 90; Italy: 04, 05, 06,
73, 74; Monaco: 06; Andorra: 09, 66; Spain: 09, 31, 64, 65, 66), which the tests check.
"""

from __future__ import annotations

from functools import cache

import geopandas as gpd

from zonesblanches.crs import WGS84
from zonesblanches.geodata.reference import _path

PRECISION_KM = 1.0
"""How far (km) the Natural Earth 1:10m lines may lie from the IGN commune outlines along the
border (quantisation ≈ 0.26 × 0.19 km, plus generalisation): a territory this close to a line
touches the border."""

COUNTRIES: dict[str, tuple[str, str]] = {
    "BE": ("la Belgique", "belges"),
    "LU": ("le Luxembourg", "luxembourgeois"),
    "DE": ("l'Allemagne", "allemands"),
    "CH": ("la Suisse", "suisses"),
    "IT": ("l'Italie", "italiens"),
    "MC": ("Monaco", "monégasques"),
    "AD": ("l'Andorre", "andorrans"),
    "ES": ("l'Espagne", "espagnols"),
}
"""ISO 3166-1 alpha-2 code → the country in a French sentence, and the adjective of its
services (« les services belges »)."""


@cache
def _read() -> gpd.GeoDataFrame:
    return gpd.read_file(_path("frontieres_terrestres.geojson")).set_crs(WGS84, allow_override=True)


def load_land_borders() -> gpd.GeoDataFrame:
    """France's land border with each neighbour: one row per country, ``code_pays`` (ISO
    alpha-2, keys of :data:`COUNTRIES`), ``pays`` (Natural Earth's English name) and a
    MultiLineString (EPSG:4326)."""
    return _read().copy()
