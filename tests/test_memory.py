"""Memory: giving freed memory back to the system (glibc), and what the command holds while it
reads a region's networks (issue 17)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zonesblanches import _memory
from zonesblanches.coverage import graph
from zonesblanches.coverage import network as network_engine
from zonesblanches.coverage.network import NetworkModel
from zonesblanches.geodata import osm, osm_graph, reference
from zonesblanches.geodata.network import RoadNetwork
from zonesblanches.geodata.osm import load_network, load_networks
from zonesblanches.geodata.osm_rules import NetworkRules


def test_the_users_own_threshold_is_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert _memory.fix_mmap_threshold() is False


def test_threshold_is_fixed_and_heap_trimmed_with_glibc(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    if _memory._glibc() is None:
        pytest.skip("pas de glibc sur cette machine : les deux fonctions ne font rien")
    assert _memory.fix_mmap_threshold() is True
    _memory.trim()


def test_without_glibc_nothing_happens(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setattr(_memory, "_glibc", lambda: None)
    assert _memory.fix_mmap_threshold() is False
    _memory.trim()


# --- issue 17: the region's peak (smaller temporaries, nothing held that is not needed) ---

DATA = Path(__file__).parent / "data"


def _sorted_network(rng, n: int, m: int) -> RoadNetwork:
    tail, head = rng.integers(0, n, m), rng.integers(0, n, m)
    time_s = rng.choice([0.7, 1.0, 2.5, 3.0], m) * rng.integers(1, 4, m)
    order = np.lexsort((head, tail))  # as the OSM loaders give them
    tail, head, time_s = tail[order], head[order], time_s[order]
    return RoadNetwork("marche", np.arange(n), np.zeros(n), np.zeros(n), tail, head, time_s, time_s)


@pytest.mark.parametrize("reverse", [True, False])
def test_matrix_of_sorted_edges_is_the_sorted_matrix_array_for_array(monkeypatch, reverse):
    """Edges sorted by (tail, head) skip the sort: same indptr, indices and data (parallel
    edges included), never sharing the network's array; the Andorra network as well."""
    rng = np.random.default_rng(17)
    networks = [_sorted_network(rng, n, m) for n, m in [(1, 0), (1, 3), (7, 40), (50, 400)]]
    networks.append(load_network(DATA / "osm" / "andorra.osm.pbf", "voiture", cache=False))
    for net in networks:
        assert graph._sorted_edges(np.asarray(net.tail), np.asarray(net.head))
        fast = graph.prepare_graph(net, reverse=reverse)
        with monkeypatch.context() as m:
            m.setattr(graph, "_sorted_edges", lambda tail, head: False)
            sorted_ = graph.prepare_graph(net, reverse=reverse)
        for name in ("indptr", "indices", "data"):
            a, b = getattr(fast, name), getattr(sorted_, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        assert not np.shares_memory(fast.data, net.time_s)


def test_unsorted_edges_are_sorted_first(monkeypatch):
    net = RoadNetwork(
        "voiture", np.arange(3), np.zeros(3), np.zeros(3),
        np.array([2, 0, 0, 1]), np.array([0, 1, 1, 2]),
        np.ones(4), np.array([4.0, 3.0, 2.0, 1.0]),
    )  # fmt: skip
    monkeypatch.setattr(graph, "_CHECK_BLOCK", 2)  # the unsorted pair straddles two blocks
    assert not graph._sorted_edges(net.tail, net.head)
    matrix = graph.prepare_graph(net, reverse=False).toarray()
    assert matrix[0, 1] == 2.0 and matrix[1, 2] == 1.0 and matrix[2, 0] == 4.0


def test_speed_codes_take_one_byte_and_give_the_same_times():
    assert osm_graph._code_type(255) == np.uint8
    assert osm_graph._code_type(256) == np.uint16  # code 256 marks a way the mode cannot use
    net = load_networks(DATA / "osm" / "andorra.osm.pbf", ["voiture"], cache=False)["voiture"]
    ways = osm._read_osm_file(DATA / "osm" / "andorra.osm.pbf", "pbf", False)
    built = osm_graph._build_graph(ways, "voiture", NetworkRules(), None, {})
    assert built.kmh_code.dtype == np.uint8
    expected = osm_graph._edge_time(built.length_m, built.kmh_table[built.kmh_code])
    assert np.array_equal(
        osm_graph._coded_edge_time(built.length_m, built.kmh_code, built.kmh_table), expected
    )
    assert np.array_equal(net.time_s, expected)


def test_speed_text_read_by_blocks_is_the_same(monkeypatch):
    net = load_network(DATA / "osm" / "andorra.osm.pbf", "voiture", cache=False)
    whole = NetworkModel(net).description
    monkeypatch.setattr(network_engine, "_SPEED_BLOCK", 7)
    assert NetworkModel(net, keep_network=False).description == whole


def test_reference_tables_read_again_after_release():
    before = reference.load_communes("32")
    reference.release_cached()
    assert reference._read_parquet.cache_info().currsize == 0
    pd.testing.assert_frame_equal(reference.load_communes("32"), before)


def test_a_road_run_reads_its_networks_without_numba_or_folium(tmp_path):
    """The command imports the transit engine (numba: ~50 to 100 MB resident with llvmlite's
    library) and the map libraries only when it uses them, not while it reads the networks."""
    script = f"""
import sys
import zonesblanches.api as api
def stop(*args, **kwargs):
    print(sorted(m for m in ("numba", "llvmlite", "folium", "matplotlib") if m in sys.modules))
    print(reference_held())
    raise SystemExit(0)
def reference_held():
    from zonesblanches.geodata import reference
    return reference._read_parquet.cache_info().currsize
api.network_models = stop
from zonesblanches.cli import main
main(["analyse", "--territoire", "245901160", "--osm", {str(DATA / "osm" / "andorra.osm.pbf")!r},
      "--sortie", {str(tmp_path / "sortie")!r}, "--mode", "voiture:20", "--mode", "marche:30"])
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    *_, modules, held = done.stdout.strip().splitlines()
    assert modules == "[]" and held == "0", done.stdout


def test_old_objects_are_frozen_within_the_block_only():
    import gc

    assert gc.get_freeze_count() == 0
    old = [object() for _ in range(10)]
    with _memory.old_objects_frozen():
        frozen = gc.get_freeze_count()
        assert frozen >= len(old)
        with _memory.old_objects_frozen():  # nested: the outer block's freeze is kept
            assert gc.get_freeze_count() == frozen
        assert gc.get_freeze_count() == frozen
    assert gc.get_freeze_count() == 0


def test_an_outer_freeze_is_left_alone_and_garbage_is_still_collected():
    import gc
    import weakref

    class Cycle:
        pass

    gc.freeze()
    try:
        before = gc.get_freeze_count()

        @_memory.freezing_old_objects
        def write():
            a, b = Cycle(), Cycle()
            a.other, b.other = b, a
            ref = weakref.ref(a)
            del a, b
            gc.collect()
            return ref() is None

        assert write()  # a cycle made within the block is collected
        assert gc.get_freeze_count() == before
    finally:
        gc.unfreeze()
