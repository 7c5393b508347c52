"""Build ``zonesblanches/geodata/data/frontieres_terrestres.geojson``: the land borders of
metropolitan France with each neighbouring country, from Natural Earth.

Source: Natural Earth 1:10m « Admin 0 – Countries » (version 4.1.0, public domain), as
redistributed in TopoJSON by the npm package ``world-atlas`` 2.0.2 (ISC licence,
``countries-10m.json``; get it with ``npm pack world-atlas@2.0.2`` and untar it). In TopoJSON two
countries that share a border share the arcs that draw it, so France's land border with a country
is exactly the arcs found in both countries' geometries; coastlines belong to one country only
and never appear. Coordinates are decoded (delta, then quantisation transform) and rounded to
1e-5 degree; the quantisation step of the file is about 0.0036° × 0.0017° (≈ 260 m × 190 m at
50° N), the precision of these lines.

Why our own decoder: the TopoJSON decoding is 15 lines (delta-decode, scale, translate) and no
well-kept Python package does it without a JavaScript runtime (``topojson`` on PyPI encodes).

    python scripts/build_land_borders.py package/countries-10m.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "zonesblanches" / "geodata" / "data"
FRANCE = "250"
NEIGHBOURS = {"056": "BE", "442": "LU", "276": "DE", "756": "CH", "380": "IT", "492": "MC",
              "020": "AD", "724": "ES"}  # fmt: skip
"""ISO 3166-1 numeric id (as in world-atlas) → ISO alpha-2 code (keys of
``zonesblanches.geodata.borders.COUNTRIES``); ``pays`` is Natural Earth's (English) name."""


def _arc_ids(arcs) -> set[int]:
    """Every arc index of a (Multi)Polygon's nested arc lists (``~i`` is arc ``i`` reversed)."""
    out: set[int] = set()
    for item in arcs:
        if isinstance(item, list):
            out |= _arc_ids(item)
        else:
            out.add(item if item >= 0 else ~item)
    return out


def _decode(arc, transform) -> list[list[float]]:
    (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
    x = y = 0
    points = []
    for dx, dy in arc:
        x, y = x + dx, y + dy
        points.append([round(x * sx + tx, 5), round(y * sy + ty, 5)])
    return points


def build(topojson: Path) -> dict:
    """The GeoJSON FeatureCollection: one MultiLineString per neighbouring country."""
    data = json.loads(topojson.read_text(encoding="utf-8"))
    geometries = {g.get("id"): g for g in data["objects"]["countries"]["geometries"]}
    france = _arc_ids(geometries[FRANCE]["arcs"])
    features = []
    for num, code in NEIGHBOURS.items():
        name = geometries[num]["properties"]["name"]
        shared = sorted(france & _arc_ids(geometries[num]["arcs"]))
        if not shared:
            raise SystemExit(f"no arc shared by France and {name}")
        lines = [_decode(data["arcs"][i], data["transform"]) for i in shared]
        features.append(
            {
                "type": "Feature",
                "properties": {"code_pays": code, "pays": name},
                "geometry": {"type": "MultiLineString", "coordinates": lines},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topojson", type=Path, help="world-atlas 2.0.2 countries-10m.json")
    args = parser.parse_args(argv)
    collection = build(args.topojson)
    target = OUT / "frontieres_terrestres.geojson"
    target.write_text(json.dumps(collection, ensure_ascii=False) + "\n", encoding="utf-8")
    for f in collection["features"]:
        n = sum(len(line) for line in f["geometry"]["coordinates"])
        print(f"{f['properties']['pays']}: {len(f['geometry']['coordinates'])} lignes, {n} points")


if __name__ == "__main__":
    main()
