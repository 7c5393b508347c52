"""Reading OSM PBF and XML files: libosmium writes the highway ways as OPL, pyarrow parses them.

No Python code runs per node (and, for a whole file, none per way); the result is the shared
intermediate form :class:`~zonesblanches.geodata.osm_graph._Ways`, turned into each mode's
network by :mod:`~zonesblanches.geodata.osm_graph`.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from zonesblanches.errors import DataError
from zonesblanches.geodata.osm_graph import PHASE_SECONDS, _phase, _progress, _Ways
from zonesblanches.geodata.osm_rules import HIGHWAY_TABLE, TAG_KEYS

_UNDEFINED_COORD = 2_147_483_647  # libosmium's undefined fixed-point coordinate


READ_BLOCK = 8 << 20
"""Bytes of OPL text pyarrow parses at a time (see :func:`_parse_opl`)."""

READ_SLACK_M = 5_000.0
"""When only a territory is needed, a way is read if one of its two ends lies within this many
metres of the territory's (margin-widened) bounding box: OSM ways longer than this that cross the
box with both ends farther out are rare (motorways and long roads are split at junctions)."""


def _read_box(bounds: tuple | None) -> tuple | None:
    """``bounds`` (lon/lat) widened by :data:`READ_SLACK_M`, or ``None``."""
    if bounds is None:
        return None
    x0, y0, x1, y1 = bounds
    dlat = READ_SLACK_M / 111_000.0
    dlon = dlat / max(np.cos(np.radians(max(abs(y0), abs(y1)) + dlat)), 0.01)
    return (x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat)


def _opl_escape(text: str) -> str:
    """Escape a key the way libosmium's OPL writer does (for the few characters our keys use)."""
    return "".join(
        ch if ch.isascii() and ch.isprintable() and ch not in " ,=@%" else f"%{ord(ch):x}%"
        for ch in text
    )


_OPL_ESCAPE = re.compile(r"%([0-9a-fA-F]+)%")


def _opl_unescape(text: str) -> str:
    return _OPL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _write_highway_opl(path: Path, fmt: str, opl: Path, box: tuple | None) -> None:
    """Copy the ``highway`` ways of ``path``, with their node locations, to an OPL file.

    Everything runs in libosmium (C++): node locations are kept in a ``flex_mem`` index, ways
    are filtered by key and written as text. With ``box`` (lon/lat bounds), ways are first
    checked in Python, one test per way (never per node): a way is kept when its first or last
    node lies in ``box``. ``box`` must therefore already include :data:`READ_SLACK_M`.
    """
    import osmium

    out = osmium.io.File(str(opl), "opl,locations_on_ways=true,add_metadata=false")
    src = osmium.io.File(str(path), fmt)
    writer = osmium.SimpleWriter(out)
    try:
        if box is None:
            locations = osmium.NodeLocationsForWays(osmium.index.create_map("flex_mem"))
            locations.ignore_errors()
            osmium.apply(
                osmium.io.Reader(src, osmium.osm.NODE | osmium.osm.WAY),
                locations,
                osmium.filter.EntityFilter(osmium.osm.WAY),
                osmium.filter.KeyFilter("highway"),
                writer,
            )
        else:
            x0, y0, x1, y1 = (round(v * 1e7) for v in box)
            processor = (
                osmium.FileProcessor(src, osmium.osm.NODE | osmium.osm.WAY)
                .with_locations()
                .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                .with_filter(osmium.filter.KeyFilter("highway"))
            )
            for way in processor:
                nodes = way.nodes
                n = len(nodes)
                if not n:
                    continue
                a, b = nodes[0], nodes[n - 1]
                if (x0 <= a.x <= x1 and y0 <= a.y <= y1) or (x0 <= b.x <= x1 and y0 <= b.y <= y1):
                    writer.add_way(way)
    finally:
        writer.close()


def _parse_opl(opl: Path):
    """Ways of an OPL file (``w… T… N…`` lines with locations), as arrays, with pyarrow.

    Returns the per-way tag text restricted to :data:`TAG_KEYS` (as a pyarrow array), the node
    count of each way, and the node refs and fixed-point coordinates (1e-7 degree, undefined
    locations as :data:`_UNDEFINED_COORD`) of all way nodes, in way order.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    keys = pa.array([_opl_escape(k) for k in TAG_KEYS])
    parse = pacsv.ParseOptions(
        delimiter=" ", quote_char=False, double_quote=False, escape_char=False
    )
    # 8 MB blocks: every block's text goes through a dozen intermediate arrays (split lists,
    # slices), so the block size bounds the parse's memory on top of its results.
    read = pacsv.ReadOptions(column_names=["id", "tags", "nodes"], block_size=READ_BLOCK)
    convert = pacsv.ConvertOptions(column_types=dict.fromkeys(("id", "tags", "nodes"), pa.string()))
    combos, counts, refs, xs, ys = [], [], [], [], []
    if opl.stat().st_size == 0:
        return (
            pa.array([], pa.string()), np.zeros(0, np.int64), np.zeros(0, np.int64),
            np.zeros(0, np.int32), np.zeros(0, np.int32),
        )  # fmt: skip
    for batch in pacsv.open_csv(
        opl, read_options=read, parse_options=parse, convert_options=convert
    ):
        n = batch.num_rows
        # tags: keep the key=value pairs whose key the rules read, joined back per way
        pairs = pc.split_pattern(pc.utf8_slice_codeunits(batch.column("tags"), 1), ",")
        flat = pc.list_flatten(pairs)
        parent = pc.list_parent_indices(pairs).to_numpy()
        key = pc.list_element(pc.split_pattern(flat, "=", max_splits=1), 0)
        keep = pc.is_in(key, value_set=keys).to_numpy(zero_copy_only=False)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(parent[keep], minlength=n), out=offsets[1:])
        kept = pa.ListArray.from_arrays(pa.array(offsets), flat.filter(pa.array(keep)))
        combos.append(pc.binary_join(kept, ","))
        # nodes: "n<ref>x<lon>y<lat>" separated by commas
        text = pc.utf8_slice_codeunits(batch.column("nodes"), 1)
        lists = pc.split_pattern(text, ",")
        count = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
        count[pc.equal(text, "").to_numpy(zero_copy_only=False)] = 0
        nodes = pc.list_flatten(lists)
        nodes = nodes.filter(pc.not_equal(nodes, ""))
        ref_rest = pc.split_pattern(nodes, "x", max_splits=1)
        ref = pc.utf8_slice_codeunits(pc.list_element(ref_rest, 0), 1)
        lon_lat = pc.split_pattern(pc.list_element(ref_rest, 1), "y", max_splits=1)
        counts.append(count)
        refs.append(pc.cast(ref, pa.int64()).to_numpy())
        for part, out in ((0, xs), (1, ys)):
            values = pc.list_element(lon_lat, part)
            values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
            degrees = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
            # int32 holds any fixed-point coordinate (|lon| ≤ 1.8e9 < 2**31) and the marker.
            fixed = np.full(len(degrees), _UNDEFINED_COORD, dtype=np.int32)
            ok = ~np.isnan(degrees)
            fixed[ok] = np.rint(degrees[ok] * 1e7).astype(np.int32)
            out.append(fixed)
        del batch, pairs, flat, key, kept, text, lists, nodes, ref_rest, ref, lon_lat, values
    # Give the blocks' intermediate arrays back to the system (pyarrow's pool keeps them).
    pa.default_memory_pool().release_unused()
    # each result joined, then its blocks let go, before the next: never two copies of all
    tags = pa.chunked_array(combos, pa.string()).combine_chunks()
    combos.clear()
    out = [tags]
    for parts in (counts, refs, xs, ys):
        out.append(np.concatenate(parts))
        parts.clear()
    return tuple(out)


def _read_osm_file(path: Path, fmt: str, progress: bool, box: tuple | None = None) -> _Ways:
    """Parse a PBF or OSM XML file: libosmium writes its highway ways as OPL, pyarrow parses it.

    No Python code runs per node (and, without ``box``, none per way): libosmium filters the
    ways and resolves their node locations, pyarrow splits the text in C++, numpy does the rest.
    Ways sharing the same relevant tags share one row of the tag table (a region has about a
    million ways but only thousands of tag combinations). ``box`` (lon/lat bounds, slack
    included) skips the ways whose two ends lie outside it (see :func:`_write_highway_opl`).
    """
    import pyarrow.compute as pc

    with tempfile.TemporaryDirectory(prefix="zonesblanches-osm-") as tmp:
        opl = Path(tmp) / "voies.opl"
        with _progress(progress, desc="Lecture des voies OSM", total=2, unit=" étape") as bar:
            try:
                with _phase("opl"):
                    _write_highway_opl(path, fmt, opl, box)
            except (RuntimeError, KeyError) as exc:
                raise DataError(
                    f"Impossible de lire le fichier OSM « {path.name} » : {exc}"
                ) from exc
            bar.update(1)
            with _phase("analyse"):
                combos, counts, ref, xi, yi = _parse_opl(opl)
            bar.update(1)
    t_segments = time.perf_counter()
    encoded = pc.dictionary_encode(combos)
    del combos
    way_combo = encoded.indices.to_numpy(zero_copy_only=False)
    dictionary = encoded.dictionary.to_pylist()
    del encoded
    row_of = np.full(len(dictionary) + 1, -1, dtype=np.int64)
    tag_rows: list[dict] = []
    for i, text in enumerate(dictionary):
        tags = {}
        for pair in text.split(",") if text else ():
            k, _, v = pair.partition("=")
            tags.setdefault(_opl_unescape(k), _opl_unescape(v))
        if tags.get("highway") in HIGHWAY_TABLE and tags.get("area") != "yes":
            row_of[i] = len(tag_rows)
            tag_rows.append(tags)
    way_row = row_of[way_combo]
    del way_combo
    usable = way_row >= 0
    if not usable.any():
        where = "" if box is None else " autour du territoire demandé (le fichier le couvre-t-il ?)"
        raise DataError(f"Aucune voie utilisable (highway) dans le fichier « {path.name} »{where}.")
    # One array of node references at a time, int32 wherever a position fits: a region has
    # millions of them, and this step was the peak of a region's reading (issue 17: memory).
    node_usable = np.repeat(usable, counts)
    ref = ref[node_usable]
    xi = xi[node_usable]
    yi = yi[node_usable]
    del node_usable
    counts_arr, way_row = counts[usable], way_row[usable]
    del counts, usable
    index = np.int32 if max(len(ref), len(tag_rows)) < 2**31 else np.int64
    way_of = np.repeat(way_row.astype(index), counts_arr)
    is_last = np.zeros(len(ref), dtype=bool)
    is_last[np.cumsum(counts_arr)[counts_arr > 0] - 1] = True
    del counts_arr, way_row
    valid = xi != _UNDEFINED_COORD
    valid &= yi != _UNDEFINED_COORD
    start = np.flatnonzero(~is_last).astype(index)
    del is_last
    start = start[valid[start] & valid[start + 1]]
    # Every reference to a node carries the same location (libosmium's index): the node
    # table is the sorted distinct ids, each with the location of any of its references.
    node_id = np.unique(ref[valid])
    position = _positions(node_id, ref, index)
    del ref
    lon_fixed = np.empty(len(node_id), dtype=np.int32)
    lat_fixed = np.empty(len(node_id), dtype=np.int32)
    lon_fixed[position[valid]] = xi[valid]
    del xi
    lat_fixed[position[valid]] = yi[valid]
    del yi, valid
    tags = pd.DataFrame.from_records(tag_rows, columns=list(TAG_KEYS))
    seg_way = way_of[start]
    del way_of
    seg_u = position[start]
    start += 1
    seg_v = position[start]
    del position, start
    ways = _Ways.from_positions(
        tags,
        None,
        len(tag_rows),
        seg_way,
        seg_u,
        seg_v,
        None,
        node_id,
        lon_fixed / 1e7,
        lat_fixed / 1e7,
        fmt,
    )
    PHASE_SECONDS["segments"] = time.perf_counter() - t_segments
    return ways


_POSITION_BLOCK = 1 << 20
"""Node references looked up at a time by :func:`_positions`."""


def _positions(node_id: np.ndarray, ref: np.ndarray, index) -> np.ndarray:
    """Position in ``node_id`` (sorted) of each of ``ref`` (``index`` type), by blocks: no
    int64 copy of all the references (a reference not in ``node_id`` gets a position that
    is never read)."""
    out = np.empty(len(ref), dtype=index)
    for i in range(0, len(ref), _POSITION_BLOCK):
        out[i : i + _POSITION_BLOCK] = np.searchsorted(node_id, ref[i : i + _POSITION_BLOCK])
    return out
