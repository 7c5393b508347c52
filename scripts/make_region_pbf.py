"""Write a synthetic regional OSM extract (PBF) around the bundled commune points.

A Geofabrik regional extract (``nord-pas-de-calais``, ``picardie``) cannot be downloaded on an
offline machine, yet the OSM reader must be measured and tested at that size. This script writes
a file of the same shape: it is **synthetic** (no real street exists in it) but it sits on the
3,782 real commune points of Hauts-de-France (bundled reference data) and carries what a real
extract carries:

- per commune, a street grid (size growing with the population) whose streets are split into
  ways with intermediate nodes, using the highway classes of ``docs/reseau.md`` and their tags:
  one-ways (``yes``, ``-1``, ``no``), ``maxspeed`` variants (numbers, ``km/h``, ``mph``,
  ``FR:urban``, ``FR:zone30``, ``50;30``, ``none``, ``walk``, directional ones), access tags
  (``private``, ``destination``, ``foot=no``, ``bicycle=dismount``, ``motor_vehicle=no``...),
  contraflow cycleways, a roundabout (``junction=roundabout``) at the centre, pedestrian areas
  (``area=yes``), classes the rules ignore (``construction``, ``platform``) and names;
- roads joining every commune to its three nearest neighbours (secondary, tertiary,
  unclassified, one way in ten a ``maxspeed=90`` département road);
- motorways (two carriageways, one without ``oneway`` tag: implied) along a minimum spanning
  tree of the 25 most populated communes, split every ~2 km, with ``motorway_link`` ramps;
- non-road data: buildings (closed ways), landuse polygons, POI nodes, bus route relations;
- node ids sparse up to ~1.2e10 and shuffled (neighbouring nodes do not have close ids).

``--scale 1`` gives 7.4 M nodes, 2.2 M ways of which 0.69 M highway ways, a car network of
853,583 nodes (133 MB). The size of issue 17's file is reached by its car network at about
``--scale 3``: ``--scale 2.8`` gives 20.6 M nodes, 6.3 M ways of which 1.99 M highway ways, a car
network of 2,210,711 nodes (366 MB; 131 s of processor time); ``--scale 3.02`` gives the issue's
car network: 2,379,191 nodes (22.2 M nodes, 6.8 M ways of which 2.15 M highway ways, 394 MB;
124 s of processor time). The issue's file (16.8 M nodes, 4.4 M ways of which 1.56 M highway
ways, 187 MB) is lighter around a similar network. The tests use ``--scale 0.01``. The output must stay out of the repository (it is derived, and large).

Usage::

    python scripts/make_region_pbf.py --scale 1 --output /tmp/region-synthetique.osm.pbf
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

MAX_NODE_ID = 12_000_000_000
"""Largest node id (real OSM node ids reach ~1.2e10 in 2025)."""

STREET_CLASSES = (
    ("residential", 40),
    ("tertiary", 6),
    ("unclassified", 6),
    ("living_street", 3),
    ("service", 8),
    ("footway", 8),
    ("cycleway", 4),
    ("path", 4),
    ("track", 4),
    ("pedestrian", 2),
    ("steps", 1),
    ("road", 1),
    ("bridleway", 1),
    ("corridor", 1),
    ("construction", 1),
    ("platform", 1),
)
MAXSPEEDS = (
    None,
    None,
    None,
    None,
    "30",
    "50",
    "50 km/h",
    "FR:urban",
    "FR:zone30",
    "20 mph",
    "50;30",
    "none",
    "walk",
    "FR:rural",
    "70",
)
EXTRA_TAGS = (
    {},
    {},
    {},
    {},
    {"oneway": "yes"},
    {"oneway": "-1"},
    {"oneway": "no"},
    {"oneway": "yes", "oneway:bicycle": "no"},
    {"oneway": "yes", "cycleway": "opposite_lane"},
    {"access": "private"},
    {"access": "destination"},
    {"motor_vehicle": "no"},
    {"foot": "no"},
    {"bicycle": "dismount"},
    {"bicycle": "yes"},
    {"foot": "designated"},
    {"maxspeed:forward": "50", "maxspeed:backward": "30"},
    {"maxspeed:type": "FR:zone30"},
    {"service": "emergency_access"},
    {"oneway": "reversible"},
    {"motorroad": "yes"},
    {"area": "yes"},
    {"access": "no", "foot": "yes"},
)


class _Builder:
    """Collects nodes (lon, lat), POI tags, ways (in blocks) and relations with local ids.

    Ways are stored per block: a 2-D array of node refs (one row per way, same length in a
    block) and one OPL tag text per way, so that ``write`` formats them in bulk (pyarrow).
    """

    def __init__(self, rng: np.random.Generator, seed: int):
        self.rng = rng
        self.py_rng = random.Random(seed)  # scalar draws: much faster than numpy's
        self.lon: list[np.ndarray] = []
        self.lat: list[np.ndarray] = []
        self.n_nodes = 0
        self.poi_nodes: list[np.ndarray] = []  # tagged nodes, and the index of their tags
        self.poi_kinds: list[np.ndarray] = []
        self.way_refs: list[np.ndarray] = []  # flat node refs, per block
        self.way_sizes: list[np.ndarray] = []
        self.way_tags: list[str] = []  # OPL tag text, one per way
        self.n_highway = 0
        self.relations: list[tuple[list[int], dict]] = []

    def nodes(self, lon, lat) -> np.ndarray:
        lon = np.atleast_1d(np.asarray(lon, dtype=float))
        lat = np.atleast_1d(np.asarray(lat, dtype=float))
        ids = np.arange(self.n_nodes, self.n_nodes + len(lon))
        self.lon.append(lon)
        self.lat.append(lat)
        self.n_nodes += len(lon)
        return ids

    def ways(self, refs, tags: list) -> np.ndarray:
        """Add ways: ``refs`` a 2-D array (one row per way), ``tags`` a dict or OPL text each."""
        refs = np.asarray(refs, dtype=np.int64)
        texts = [t if isinstance(t, str) else _opl_tags(t) for t in tags]
        first = len(self.way_tags)
        self.way_refs.append(refs.ravel())
        self.way_sizes.append(np.full(len(refs), refs.shape[1], dtype=np.int64))
        self.way_tags.extend(texts)
        self.n_highway += sum(t.startswith("highway=") or ",highway=" in t for t in texts)
        return np.arange(first, len(self.way_tags))

    def way(self, refs, tags: dict) -> int:
        return int(self.ways(np.asarray(refs, dtype=np.int64)[None, :], [tags])[0])

    def line(self, a: int, b: int, lon_a, lat_a, lon_b, lat_b, step_m: float) -> np.ndarray:
        """Node refs from node ``a`` to node ``b`` with intermediate nodes every ``step_m``."""
        dist = math.hypot((lon_b - lon_a) * 71_000, (lat_b - lat_a) * 111_000)
        k = max(int(dist // step_m), 0)
        if k:
            t = np.arange(1, k + 1) / (k + 1)
            mid = self.nodes(lon_a + t * (lon_b - lon_a), lat_a + t * (lat_b - lat_a))
            return np.concatenate([[a], mid, [b]])
        return np.array([a, b])


_CLASS_POOL = [c for c, w in STREET_CLASSES for _ in range(w)]
POI_TAGS = (
    {"amenity": "school"},
    {"shop": "bakery"},
    {"amenity": "townhall"},
    {"highway": "bus_stop"},
)


def _street_tags(rng: random.Random, names: int) -> dict:
    tags = {"highway": rng.choice(_CLASS_POOL)}
    speed = rng.choice(MAXSPEEDS)
    if speed is not None:
        tags["maxspeed"] = speed
    tags.update(rng.choice(EXTRA_TAGS))
    if rng.random() < 0.7:
        tags["name"] = f"Rue {names}"
    if rng.random() < 0.3:
        tags["surface"] = "asphalt"
    return tags


def _commune(b: _Builder, lon0: float, lat0: float, g: int, seg_nodes: int, names: list[int]):
    """Street grid of ``g`` × ``g`` crossings (150 m apart) centred on the commune point."""
    dx, dy = 150 / 71_000, 150 / 111_000
    off = np.arange(g) - (g - 1) / 2
    gx, gy = np.meshgrid(lon0 + off * dx, lat0 + off * dy)
    cross = b.nodes(gx.ravel(), gy.ravel()).reshape(g, g)
    # segments in the order (i, j, then right before down) of the crossing they start from
    i, j = np.meshgrid(np.arange(g), np.arange(g), indexing="ij")
    segs = np.stack([np.stack([i, j, i, j + 1], -1), np.stack([i, j, i + 1, j], -1)], axis=2)
    segs = segs.reshape(-1, 4)
    ia, ja, ib, jb = segs[(segs[:, 2] < g) & (segs[:, 3] < g)].T
    t = (np.arange(1, seg_nodes + 1) / (seg_nodes + 1))[None, :]
    mx = gx[ia, ja][:, None] + t * (gx[ib, jb] - gx[ia, ja])[:, None]
    my = gy[ia, ja][:, None] + t * (gy[ib, jb] - gy[ia, ja])[:, None]
    mids = b.nodes(mx.ravel(), my.ravel()).reshape(len(ia), seg_nodes)
    tags = []
    for main in ((ia == g // 2) | (ja == g // 2)).tolist():
        names[0] += 1
        street = _street_tags(b.py_rng, names[0])
        if main:  # the main cross streets
            street = {"highway": "primary" if g > 6 else "secondary", "name": "Grand-Rue"}
            if b.py_rng.random() < 0.5:
                street["maxspeed"] = "50"
        tags.append(street)
    street_ways = b.ways(np.column_stack([cross[ia, ja], mids, cross[ib, jb]]), tags)
    centre = cross[g // 2, g // 2]
    # roundabout around the centre, joined to it
    ang = np.linspace(0, 2 * np.pi, 7)[:-1]
    ring = b.nodes(
        gx[g // 2, g // 2] + 40 / 71_000 * np.cos(ang) + 60 / 71_000,
        gy[g // 2, g // 2] + 40 / 111_000 * np.sin(ang),
    )
    b.way(np.concatenate([ring, ring[:1]]), {"highway": "tertiary", "junction": "roundabout"})
    b.way([centre, ring[3]], {"highway": "tertiary"})
    return cross, gx, gy, street_ways


def _non_road(b: _Builder, lon0, lat0, n_buildings: int, n_pois: int, span: float):
    rng = b.rng
    cx = lon0 + rng.uniform(-span, span, n_buildings) / 71_000
    cy = lat0 + rng.uniform(-span, span, n_buildings) / 111_000
    w, h = 6 / 71_000, 6 / 111_000
    corners = np.stack(
        [
            np.column_stack([cx, cy]),
            np.column_stack([cx + w, cy]),
            np.column_stack([cx + w, cy + h]),
            np.column_stack([cx, cy + h]),
        ],
        axis=1,
    )
    ids = b.nodes(corners[:, :, 0].ravel(), corners[:, :, 1].ravel()).reshape(-1, 4)
    tags = [
        ("building=yes" if k % 5 else "building=house")
        + (f",addr:housenumber={k}" if k % 7 == 0 else "")
        for k in range(n_buildings)
    ]
    b.ways(np.column_stack([ids, ids[:, 0]]), tags)
    for kind in ("farmland", "residential", "forest"):
        d = span * 1.2
        pts = b.nodes(
            lon0 + np.array([-d, d, d, -d]) / 71_000, lat0 + np.array([-d, -d, d, d]) / 111_000
        )
        b.way(np.append(pts, pts[0]), {"landuse": kind})
    poi = b.nodes(
        lon0 + rng.uniform(-span, span, n_pois) / 71_000,
        lat0 + rng.uniform(-span, span, n_pois) / 111_000,
    )
    b.poi_nodes.append(poi)
    b.poi_kinds.append(np.arange(len(poi)) % len(POI_TAGS))


def build(scale: float, seed: int = 17) -> _Builder:
    """Build the synthetic region in memory (local node ids)."""
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial import cKDTree

    from zonesblanches.geodata.reference import commune_points

    rng = np.random.default_rng(seed)
    communes = commune_points().sort_values("code_insee").reset_index(drop=True)
    lon = communes["lon"].to_numpy(float)
    lat = communes["lat"].to_numpy(float)
    pop = communes["population"].astype(float).to_numpy()
    b = _Builder(rng, seed)
    names = [0]
    # grid size: ~15 crossings a side on average at scale 1, growing with the population
    g1 = np.clip(6 + 4.5 * np.log10(pop / 100 + 1), 6, 40)
    g = np.maximum(2, np.rint(g1 * math.sqrt(scale))).astype(int)
    seg_nodes = 1
    centres = np.empty(len(communes), dtype=np.int64)
    edge_nodes = []
    street_ways_all = []
    for k in range(len(communes)):
        cross, gx, gy, sw = _commune(b, lon[k], lat[k], int(g[k]), seg_nodes, names)
        centres[k] = cross[g[k] // 2, g[k] // 2]
        edge_nodes.append(cross)
        street_ways_all.append(sw)
        n_build = int(rng.poisson(max(pop[k], 50) ** 0.5 * 14 * scale + 1))
        _non_road(b, lon[k], lat[k], n_build, max(1, int(20 * scale * g1[k] / 6)), 75 * g[k])
    all_lon = np.concatenate(b.lon)
    all_lat = np.concatenate(b.lat)
    # roads joining each commune to its 3 nearest neighbours
    xy = np.column_stack([lon * 71_000, lat * 111_000])
    tree = cKDTree(xy)
    _, nb = tree.query(xy, k=4)
    done = set()
    for k in range(len(communes)):
        for j in nb[k, 1:]:
            pair = (min(k, j), max(k, j))
            if pair in done:
                continue
            done.add(pair)
            a, c = centres[pair[0]], centres[pair[1]]
            refs = b.line(a, c, all_lon[a], all_lat[a], all_lon[c], all_lat[c], 300.0)
            cls = ("secondary", "tertiary", "unclassified")[len(done) % 3]
            tags = {"highway": cls, "ref": f"D {len(done)}"}
            if len(done) % 10 == 0:
                tags["maxspeed"] = "90"
            b.way(refs, tags)
    # motorways along a minimum spanning tree of the 25 largest communes
    top = np.argsort(-pop)[:25]
    d = np.hypot(xy[top, None, 0] - xy[None, top, 0], xy[top, None, 1] - xy[None, top, 1])
    mst = minimum_spanning_tree(d).tocoo()
    for n_a, (i, j) in enumerate(zip(mst.row, mst.col, strict=True)):
        ci, cj = top[i], top[j]
        for direction, (p, q) in enumerate(((ci, cj), (cj, ci))):
            shift = (1 if direction else -1) * 25 / 111_000
            la, ya = lon[p] + 0.01, lat[p] + shift
            lb, yb = lon[q] + 0.01, lat[q] + shift
            ends = b.nodes([la, lb], [ya, yb])
            refs = b.line(ends[0], ends[1], la, ya, lb, yb, 400.0)
            for s in range(0, len(refs) - 1, 5):  # one way per ~2 km
                tags = {"highway": "motorway", "ref": f"A {n_a + 1}", "maxspeed": "130"}
                if direction:
                    tags["oneway"] = "yes"
                b.way(refs[s : s + 6], tags)
            for end, c in ((ends[0], centres[p]), (ends[1], centres[q])):
                ramp = [end, c] if end == ends[1] else [c, end]
                b.way(ramp, {"highway": "motorway_link", "oneway": "yes"})
    # bus route relations over street ways of neighbouring communes
    for k in range(0, len(communes), 8):
        members = [w for sw in street_ways_all[k : k + 8] for w in sw[:3]]
        if members:
            b.relations.append((members, {"type": "route", "route": "bus", "ref": str(k)}))
    return b


_OPL_ESCAPES = str.maketrans({ch: f"%{ord(ch):x}%" for ch in "% ,=@"})


def _opl(value: str) -> str:
    """Escape a tag key or value for OPL (space, comma, equals, at, percent)."""
    return value.translate(_OPL_ESCAPES)


def _opl_tags(tags: dict) -> str:
    return ",".join(f"{_opl(k)}={_opl(v)}" for k, v in tags.items())


def _decimal_text(values: np.ndarray):
    """``values`` (degrees) as text with exactly 7 decimals, like ``f"{v:.7f}"``, in bulk."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fixed = np.rint(values * 1e7).astype(np.int64)
    whole, frac = np.divmod(np.abs(fixed), 10_000_000)
    sign = pc.if_else(pa.array(fixed < 0), "-", "")
    frac_text = pc.utf8_lpad(pc.cast(pa.array(frac), pa.string()), 7, "0")
    return pc.binary_join_element_wise(
        sign, pc.cast(pa.array(whole), pa.string()), ".", frac_text, ""
    )


def _write_lines(f, lines) -> None:
    """Write a pyarrow string array whose elements are whole lines, without copying them."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset :]
    data = memoryview(lines.buffers()[2])
    f.write(data[offsets[0] : offsets[len(lines)]])


def _id_text(prefix: str, ids: np.ndarray):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(ids), pa.string()), "")


BLOCK = 1_000_000
"""Objects formatted at a time (pyarrow string arrays have 32-bit offsets)."""


def write(b: _Builder, output: Path, seed: int = 17) -> dict:
    """Write the builder's content as a PBF with sparse, shuffled ids; return counts.

    The objects are written as OPL text first, formatted in bulk by pyarrow (no Python code per
    node or node reference), then converted to PBF by libosmium through ``osmium.apply``.
    """
    import tempfile

    import osmium
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed + 1)
    n = b.n_nodes
    ids = np.sort(rng.integers(1, MAX_NODE_ID, int(n * 1.01) + 10))
    ids = ids[np.concatenate([[True], ids[1:] != ids[:-1]])]  # np.unique, faster
    while len(ids) < n:  # pragma: no cover - collisions are rare
        ids = np.unique(np.concatenate([ids, rng.integers(1, MAX_NODE_ID, n)]))
    ids = np.sort(rng.choice(ids, n, replace=False))
    local_to_id = ids[rng.permutation(n)]  # local node k gets id local_to_id[k]
    order = np.argsort(local_to_id)
    lon = np.round(np.concatenate(b.lon), 7)
    lat = np.round(np.concatenate(b.lat), 7)
    n_ways = len(b.way_tags)
    way_ids = np.sort(rng.choice(1_400_000_000, n_ways, replace=False)) + 1
    # node tags: 0 = none, k + 1 = POI_TAGS[k]
    node_kind = np.zeros(n, dtype=np.int32)
    if b.poi_nodes:
        node_kind[np.concatenate(b.poi_nodes)] = np.concatenate(b.poi_kinds) + 1
    node_tag_text = pa.array(["", *(_opl_tags(t) for t in POI_TAGS)])
    refs = np.concatenate(b.way_refs)
    sizes = np.concatenate(b.way_sizes)
    ref_start = np.concatenate([[0], np.cumsum(sizes)])
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.exists():
        output.unlink()
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        opl = Path(tmp) / "region.opl"
        with open(opl, "wb") as f:
            for lo in range(0, n, BLOCK):
                part = order[lo : lo + BLOCK]
                lines = pc.binary_join_element_wise(
                    _id_text("n", local_to_id[part]),
                    " v1 T",
                    pc.take(node_tag_text, pa.array(node_kind[part])),
                    " x",
                    _decimal_text(lon[part]),
                    " y",
                    _decimal_text(lat[part]),
                    "\n",
                    "",
                )
                _write_lines(f, lines)
            for lo in range(0, n_ways, BLOCK):
                hi = min(lo + BLOCK, n_ways)
                a, z = ref_start[lo], ref_start[hi]
                nodes = pa.ListArray.from_arrays(
                    pa.array((ref_start[lo : hi + 1] - a).astype(np.int32)),
                    _id_text("n", local_to_id[refs[a:z]]),
                )
                lines = pc.binary_join_element_wise(
                    _id_text("w", way_ids[lo:hi]),
                    " v1 T",
                    pa.array(b.way_tags[lo:hi], pa.string()),
                    " N",
                    pc.binary_join(nodes, ","),
                    "\n",
                    "",
                )
                _write_lines(f, lines)
            for r, (members, tags) in enumerate(b.relations):
                mem = ",".join(f"w{way_ids[m]}@" for m in members)
                f.write(f"r{r + 1} v1 T{_opl_tags(tags)} M{mem}\n".encode("ascii"))
        writer = osmium.SimpleWriter(str(output))
        try:
            osmium.apply(osmium.io.Reader(str(opl)), writer)
        finally:
            writer.close()
    return {
        "nodes": n,
        "ways": n_ways,
        "highway_ways": b.n_highway,
        "relations": len(b.relations),
        "max_node_id": int(ids[-1]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = size of a regional extract")
    parser.add_argument("--output", type=Path, default=Path("/tmp/region-synthetique.osm.pbf"))
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 4:
        parser.error("--scale doit être compris entre 0 (exclu) et 4")
    t0 = time.perf_counter()
    counts = write(build(args.scale, args.seed), args.output, args.seed)
    size = args.output.stat().st_size / 1e6
    print(f"{args.output}: {size:.1f} MB, {counts} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
