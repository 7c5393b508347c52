"""Regional OSM extracts (issue 17), on a synthetic ``--scale 0.01`` file built on the fly.

The file comes from ``scripts/make_region_pbf.py`` (street grids on the real commune points,
motorways, the tags of docs/reseau.md, buildings, landuse, POIs, route relations, sparse node ids
up to ~1.2e10). Checked here: the vectorised reader gives exactly the networks of the previous
per-node reader; one cache per file and mode serves every territory; and a commune gets the same
car times whether the run covers its EPCI or the whole region.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import osmium
import pytest
from osm_loop_reader import read_osm_file_loop
from synthetic_osm import synthetic_region_pbf

from zonesblanches.api import network_models
from zonesblanches.geodata import osm
from zonesblanches.geodata.osm import load_networks
from zonesblanches.geodata.osm_rules import NetworkRules
from zonesblanches.geodata.reference import commune_points
from zonesblanches.geodata.territory import select_territory
from zonesblanches.summaries import format_network

MODES = ["marche", "velo", "voiture"]


@pytest.fixture(scope="module")
def region_pbf(tmp_path_factory) -> Path:
    return synthetic_region_pbf(tmp_path_factory, 0.01)


@pytest.fixture(scope="module")
def valenciennes():
    return select_territory("valenciennes metropole")


def edges(net) -> list[tuple]:
    return sorted(
        zip(
            net.node_id[net.tail].tolist(),
            net.node_id[net.head].tolist(),
            net.length_m.tolist(),
            net.time_s.tolist(),
            strict=True,
        )
    )


def test_synthetic_file_looks_like_a_regional_extract(region_pbf):
    counts = {"w": 0, "r": 0, "highway": 0, "building": 0, "landuse": 0}
    highways, tags = set(), set()
    for obj in osmium.FileProcessor(str(region_pbf), osmium.osm.WAY | osmium.osm.RELATION):
        counts[obj.type_str()] += 1
        if obj.is_way():
            for key in ("highway", "building", "landuse"):
                counts[key] += key in obj.tags
            if "highway" in obj.tags:
                highways.add(obj.tags["highway"])
                tags.update(f"{t.k}={t.v}" for t in obj.tags)
    pois = sum(
        1
        for _ in osmium.FileProcessor(str(region_pbf), osmium.osm.NODE).with_filter(
            osmium.filter.KeyFilter("amenity", "shop")
        )
    )
    assert counts["highway"] > 10_000 and pois > 100
    assert counts["building"] > 1_000 and counts["landuse"] > 1_000 and counts["r"] > 100
    assert {
        "motorway",
        "motorway_link",
        "secondary",
        "residential",
        "footway",
        "cycleway",
    } <= highways
    assert {"junction=roundabout", "oneway=-1", "area=yes", "maxspeed=FR:zone30"} <= tags


def test_vectorised_reader_gives_the_loop_readers_networks(region_pbf):
    new = osm._read_osm_file(region_pbf, "pbf", progress=False)
    old = read_osm_file_loop(region_pbf, "pbf")
    for mode in MODES:
        a = osm._cut(osm._build_graph(new, mode, NetworkRules(), None, {}), None, "", {})
        b = osm._cut(osm._build_graph(old, mode, NetworkRules(), None, {}), None, "", {})
        assert a.n_edges > 100_000
        assert 1e10 < a.node_id.max() < 1.2e10  # sparse ids, like real OSM
        assert edges(a) == edges(b)
        np.testing.assert_array_equal(a.node_id, b.node_id)
        np.testing.assert_array_equal(a.x, b.x)


def test_one_cache_per_file_serves_every_territory(region_pbf, valenciennes, tmp_path):
    cache_root = tmp_path / "cache"
    # an EPCI first: only the ways around it are read, cached with their extent
    first = load_networks(
        region_pbf, MODES, polygon=valenciennes.geometry, cache_dir=cache_root, progress=False
    )
    assert not any(net.meta["from_cache"] for net in first.values())
    again = load_networks(
        region_pbf, MODES, polygon=valenciennes.geometry, cache_dir=cache_root, progress=False
    )
    assert all(net.meta["from_cache"] for net in again.values())
    # the region is not inside that extent: read again, whole, and replaces the partial cache
    region = load_networks(region_pbf, MODES, cache_dir=cache_root, progress=False)
    assert not any(net.meta["from_cache"] for net in region.values())
    files = sorted((cache_root / "reseaux").glob("*.npz"))
    assert len(files) == 3
    # later EPCI runs are cut from the region's cache, and equal a fresh build
    cut = load_networks(
        region_pbf, MODES, polygon=valenciennes.geometry, cache_dir=cache_root, progress=False
    )
    fresh = load_networks(
        region_pbf, MODES, polygon=valenciennes.geometry, cache=False, progress=False
    )
    for mode in MODES:
        assert cut[mode].meta["from_cache"]
        assert edges(cut[mode]) == edges(fresh[mode]) == edges(first[mode])
        assert cut[mode].n_nodes < region[mode].n_nodes
    # the cache is compressed: smaller than the raw arrays
    raw = sum(net.n_nodes * 24 + net.n_edges * (4 + 4 + 8 + 4) for net in region.values())
    assert sum(f.stat().st_size for f in files) < raw


@pytest.mark.parametrize("far_categories", [True, False])
def test_epci_and_region_runs_give_the_same_car_times(
    region_pbf, valenciennes, registry, far_categories
):
    services = registry
    if not far_categories:  # without the one « location solidaire » 120 km away: a small margin
        services = registry[~registry["categorie"].isin(["location_solidaire"])]
    epci = network_models(
        valenciennes, ["voiture"], osm=region_pbf, services=services, progress=False
    )["voiture"]
    region = network_models(
        select_territory(None), ["voiture"], osm=region_pbf, services=services, progress=False
    )["voiture"]
    if not far_categories:
        assert epci.network.n_nodes < region.network.n_nodes / 2
    points = commune_points(valenciennes.communes).geometry
    for category, group in services.groupby("categorie"):
        a = epci.nearest(points, group.geometry)
        b = region.nearest(points, group.geometry)
        np.testing.assert_allclose(a.minutes, b.minutes, rtol=1e-9, err_msg=category)
        np.testing.assert_array_equal(a.nearest, b.nearest)
        assert not any(a.flags), category


def test_a_service_outside_the_clip_is_never_silent(region_pbf, valenciennes, registry):
    # the default 10 km margin leaves the region's only « location solidaire » outside
    models = network_models(valenciennes, ["voiture"], osm=region_pbf, progress=False)
    services = registry[registry["categorie"] == "location_solidaire"]
    points = commune_points(valenciennes.communes).geometry
    res = models["voiture"].nearest(points, services.geometry)
    assert all("du réseau routier" in flag for flag in res.flags)
    # the command line counts it in « Problèmes signalés » and says why
    lines, far = format_network(models, services)
    assert far == len(services) >= 1
    assert "à plus de 1000 m du réseau routier" in lines[-1]
    reached = network_models(
        valenciennes, ["voiture"], osm=region_pbf, services=registry, progress=False
    )["voiture"].nearest(points, services.geometry)
    # the walking leg made the clipped times absurd; the service margin gives road times
    assert (res.minutes > 5 * reached.minutes).all()


def test_models_without_their_networks_give_the_same_times(region_pbf, registry):
    """``keep_networks=False`` (the command line's region run, issue 17: memory): each model
    lets its network go once built, and gives exactly the times, nearest services, flags,
    sizes and notes of the models that keep their networks; what needs the edges says so."""
    from zonesblanches.coverage.isochrones import isochrones
    from zonesblanches.errors import ParameterError

    region = select_territory(None)
    kept = network_models(region, MODES, osm=region_pbf, services=registry, progress=False)
    lean = network_models(
        region, MODES, osm=region_pbf, services=registry, progress=False, keep_networks=False
    )
    points = commune_points(region.communes).geometry
    for mode in MODES:
        a, b = kept[mode], lean[mode]
        assert a.network is not None and b.network is None
        assert (b.n_nodes, b.n_edges) == (a.network.n_nodes, a.network.n_edges)
        assert b.description == a.description
        assert repr(b) == repr(a)
        for category, group in registry.groupby("categorie"):
            x, y = a.nearest(points, group.geometry), b.nearest(points, group.geometry)
            np.testing.assert_array_equal(x.minutes, y.minutes, err_msg=category)
            np.testing.assert_array_equal(x.nearest, y.nearest)
            np.testing.assert_array_equal(x.flags, y.flags)
    assert format_network(kept, registry) == format_network(lean, registry)
    with pytest.raises(ParameterError, match="libéré"):
        isochrones(lean["voiture"], registry.iloc[:1], [10])


def test_the_command_gives_the_same_files_when_it_lets_the_networks_go(
    region_pbf, tmp_path, monkeypatch
):
    """``analyse --osm`` releases each network once its model is built and the models before
    the outputs (issue 17: memory); its files are those of the former run, which kept them."""
    from zonesblanches import api, jobs

    thresholds = {"marche": 30.0, "voiture": 20.0}

    def run(folder):
        jobs.run_analysis("valenciennes metropole", thresholds, folder, osm=region_pbf)
        return {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".csv", ".xlsx")}

    lean = run(tmp_path / "lean")
    keeping = api.network_models

    def kept(*args, **kwargs):
        kwargs["keep_networks"] = True
        return keeping(*args, **kwargs)

    monkeypatch.setattr(api, "network_models", kept)
    monkeypatch.setattr(jobs, "_release_network_models", lambda result: None)
    former = run(tmp_path / "former")
    assert "communes.csv" in lean and "diagnostic.xlsx" in lean
    assert lean == former
