"""The margin around a territory (issue 13): services across the border count, those beyond the
reach of every threshold change nothing."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zonesblanches.api import diagnostic
from zonesblanches.coverage.margin import TOP_SPEED_KMH, margin_km, reach_km, within_margin
from zonesblanches.coverage.traveltime import StraightLineModel
from zonesblanches.errors import ParameterError
from zonesblanches.geodata import reference
from zonesblanches.geodata.territory import select_territory


@pytest.fixture(scope="module")
def valenciennes():
    return select_territory("245901160")


def test_reach_of_each_model():
    # Straight line: minutes / 60 × speed / detour, exactly.
    assert reach_km("voiture", 20) == pytest.approx(20 / 60 * 50 / 1.3)
    assert reach_km("marche", 30, StraightLineModel("marche", speed_kmh=6.0, detour=1.0)) == 3.0
    # Any other model (a road network) is bounded by the mode's top speed.
    assert reach_km("car", 20, object()) == pytest.approx(20 / 60 * TOP_SPEED_KMH["voiture"])
    # The margin is the largest reach over modes and thresholds (isochrone bands included).
    assert margin_km({"voiture": 20, "marche": 30}) == reach_km("voiture", 20)
    assert margin_km({"marche": [10, 45]}) == reach_km("marche", 45)
    assert margin_km({"voiture": 20}, network=True) == pytest.approx(20 / 60 * 130)
    with pytest.raises(ParameterError, match="marge"):
        within_margin(reference.load_registry(), select_territory("59606").communes, -1)


def test_within_margin_matches_brute_force_distances(valenciennes):
    # Every bundled service, against the distance from its point to the nearest commune of the
    # territory (computed one by one in Lambert-93).
    services = reference.load_registry()
    polys = valenciennes.communes.to_crs(2154).geometry
    points = services.to_crs(2154).geometry
    distance = np.array([polys.distance(p).min() for p in points])
    for km in (0.0, 5.0, 20.0, 60.0):
        kept = within_margin(services, valenciennes.communes, km)
        assert set(kept["service_id"]) == set(services.loc[distance <= km * 1000, "service_id"])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-0.6, 0.6), st.floats(-0.4, 0.4), st.sampled_from([0, 1])),
        min_size=1,
        max_size=8,
    ),
    st.floats(5, 40),
)
def test_margin_changes_no_time_under_the_threshold(valenciennes, offsets, minutes):
    """Services beyond the margin can reach no unit within its threshold: the result with the
    margin equals the result with every service (an independent brute force: no clipping)."""
    cx, cy = 3.52, 50.36
    cats = ["garage_solidaire", "atelier_velo"]
    services = gpd.GeoDataFrame(
        {
            "service_id": [f"S{i}" for i in range(len(offsets))],
            "categorie": [cats[c] for _, _, c in offsets],
        },
        geometry=gpd.points_from_xy(
            [cx + dx for dx, _, _ in offsets], [cy + dy for _, dy, _ in offsets]
        ),
        crs=4326,
    )
    thresholds = {"voiture": minutes, "marche": 30}
    clipped = diagnostic(valenciennes, thresholds, services=services, categories=cats)
    everything = diagnostic(
        valenciennes, thresholds, services=services, categories=cats, margin_km=1e4
    )
    for cat in cats:
        for mode, limit in thresholds.items():
            a = clipped.units[f"temps_{cat}_{mode}"].to_numpy()
            b = everything.units[f"temps_{cat}_{mode}"].to_numpy()
            under = b <= limit
            assert np.array_equal(a[under], b[under])
            assert (a[~under] > limit).all()
            assert np.array_equal(
                clipped.units[f"zone_blanche_{cat}_{mode}"].to_numpy(),
                everything.units[f"zone_blanche_{cat}_{mode}"].to_numpy(),
            )


def test_margin_note_and_zero_margin(valenciennes):
    # A service in Lille (59350) is 40 km away: beyond 20 min by car in straight line.
    registry = reference.load_registry()
    res = diagnostic(valenciennes, {"voiture": 20}, services=registry)
    assert res.margin_km == pytest.approx(reach_km("voiture", 20))
    (note,) = [n for n in res.notes if "marge de 12,8 km" in n]
    assert "au-delà de la marge écarté" in note
    assert len(res.services) < len(registry)
    # The categories asked stay those of the whole file.
    assert res.categories == diagnostic(valenciennes, {"voiture": 20}, margin_km=1e4).categories
    inside = diagnostic(valenciennes, {"voiture": 20}, services=registry, margin_km=0)
    assert inside.services.within(valenciennes.geometry.buffer(1e-6)).all()


def test_network_margins_per_mode(monkeypatch, valenciennes):
    """The road network of each mode is loaded with that mode's reach (130 km/h bound by car),
    or with the margin given; the loaders accept a mode → metres mapping."""
    from zonesblanches import api
    from zonesblanches.geodata import osm

    assert osm._margins(["marche", "voiture"], {"voiture": 5_000}) == {
        "marche": osm.DEFAULT_MARGIN_M["marche"],
        "voiture": 5_000.0,
    }
    with pytest.raises(ParameterError, match="marge"):
        osm._margins(["marche"], {"marche": -1})

    seen = {}

    def fake_load(path, modes, *, polygon, margin_m, progress, convert=None):
        seen["margin_m"] = margin_m
        raise RuntimeError("stop")

    monkeypatch.setattr(osm, "load_networks", fake_load)
    with pytest.raises(RuntimeError):
        api.network_models(
            valenciennes,
            ["voiture", "marche"],
            osm="x.pbf",
            thresholds={"voiture": 20, "marche": 30},
        )
    assert seen["margin_m"] == pytest.approx({"voiture": 20 / 60 * 130_000, "marche": 2_250.0})
    with pytest.raises(RuntimeError):
        api.network_models(valenciennes, ["voiture"], osm="x.pbf", margin_km=3)
    assert seen["margin_m"] == 3_000.0
