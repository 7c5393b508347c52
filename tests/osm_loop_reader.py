"""The OSM reader as it was before the vectorised one (per-node Python loop), kept as an oracle.

``zonesblanches.geodata.osm._read_osm_file`` now parses pyosmium's OPL output with pyarrow; this
is the previous reader, verbatim except for the progress bar, so that the tests can check that
both give exactly the same ways, hence the same networks (issue 17).
"""

from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np
import pandas as pd

from zonesblanches.errors import DataError
from zonesblanches.geodata.osm_graph import _Ways
from zonesblanches.geodata.osm_read import _UNDEFINED_COORD
from zonesblanches.geodata.osm_rules import HIGHWAY_TABLE, TAG_KEYS


def read_osm_file_loop(path: Path, fmt: str) -> _Ways:
    """Parse a PBF or OSM XML file with pyosmium (node locations cached in memory)."""
    import osmium

    keyset = frozenset(TAG_KEYS)
    # Ways sharing the same relevant tags share one row of the tag table: far fewer rows to
    # keep and to evaluate (a region has about a million ways but only thousands of combos).
    combo_row: dict[tuple, int] = {}
    tag_rows: list[dict] = []
    way_row = array("q")
    counts = array("q")
    refs, xs, ys = array("q"), array("q"), array("q")
    try:
        processor = (
            osmium.FileProcessor(osmium.io.File(str(path), fmt), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for way in processor:
            combo = tuple((t.k, t.v) for t in way.tags if t.k in keyset)
            row = combo_row.get(combo)
            if row is None:
                tags = dict(combo)
                usable = tags.get("highway") in HIGHWAY_TABLE and tags.get("area") != "yes"
                row = combo_row[combo] = len(tag_rows) if usable else -1
                if usable:
                    tag_rows.append(tags)
            if row >= 0:
                n = 0
                for node in way.nodes:
                    refs.append(node.ref)
                    xs.append(node.x)
                    ys.append(node.y)
                    n += 1
                way_row.append(row)
                counts.append(n)
    except RuntimeError as exc:
        raise DataError(f"Impossible de lire le fichier OSM « {path.name} » : {exc}") from exc
    if not counts:
        raise DataError(f"Aucune voie (highway) utilisable dans le fichier « {path.name} ».")

    ref = np.frombuffer(refs, dtype=np.int64)
    xi = np.frombuffer(xs, dtype=np.int64)
    yi = np.frombuffer(ys, dtype=np.int64)
    counts_arr = np.frombuffer(counts, dtype=np.int64)
    way_of = np.repeat(np.frombuffer(way_row, dtype=np.int64), counts_arr)
    is_last = np.zeros(len(ref), dtype=bool)
    is_last[np.cumsum(counts_arr) - 1] = True
    valid = (xi != _UNDEFINED_COORD) & (yi != _UNDEFINED_COORD)
    start = np.flatnonzero(~is_last)
    start = start[valid[start] & valid[start + 1]]
    node_id, first = np.unique(ref[valid], return_index=True)
    lon = xi[valid][first] / 1e7
    lat = yi[valid][first] / 1e7
    tags = pd.DataFrame.from_records(tag_rows, columns=list(TAG_KEYS))
    return _Ways.from_segments(
        tags,
        None,
        len(tag_rows),
        way_of[start],
        ref[start],
        ref[start + 1],
        None,
        node_id,
        lon,
        lat,
        fmt,
    )
