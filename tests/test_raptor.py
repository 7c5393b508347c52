"""RAPTOR engine against an independent time-expanded networkx oracle (tests/transit_oracle.py),
on the GTFS reference sample feed and on hypothesis-generated feeds; depart / arrive-by agree."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from transit_oracle import (
    TimeExpandedOracle,
    as_float,
    door_to_door,
    expand_day,
    oracle_from,
    probe_times,
)

from zonesblanches.coverage.raptor import INF, Engine, build_timetable
from zonesblanches.geodata.gtfs import load_gtfs

SAMPLE = Path(__file__).parent / "data" / "gtfs" / "sample-feed"


@pytest.fixture(scope="module")
def sample():
    data = load_gtfs(SAMPLE, bbox=None)
    # 2007-06-09 is a Saturday (weekend routes and the SAT block trips run).
    return data


@pytest.mark.parametrize(
    ("day", "rounds"), [("2007-06-05", 4), ("2007-06-09", 1), ("2007-06-04", 2)]
)
def test_sample_feed_matches_oracle(sample, day, rounds):
    schedule = sample.day(day)
    # 700 m: walking transfers between the Beatty town stops exist and are exercised.
    tt = build_timetable(schedule, transfer_max_m=700, min_change_s=120)
    assert len(tt.foot_to) > 0
    engine = Engine(tt, max_rounds=rounds, max_duration_s=10**7)
    oracle = oracle_from(schedule, tt, rounds)
    for s0 in range(schedule.n_stops):
        departures = probe_times(schedule, s0)
        best, _ = engine.earliest_arrivals([s0], [0], departures)
        for j, tau in enumerate(departures):
            expected = oracle.earliest(s0, int(tau))
            np.testing.assert_array_equal(
                as_float(best[j]), expected, err_msg=f"{day} from {schedule.stop_id[s0]} at {tau}"
            )


def test_sample_feed_depart_arrive_agree(sample):
    schedule = sample.day("2007-06-09")
    tt = build_timetable(schedule, transfer_max_m=700, min_change_s=120)
    engine = Engine(tt, max_rounds=4, max_duration_s=10**7)
    oracle = oracle_from(schedule, tt, 4)
    checked = 0
    stop = list(schedule.stop_id)
    for g in (
        stop.index("sample-feed:FUR_CREEK_RES"),
        stop.index("sample-feed:AMV"),
        stop.index("sample-feed:EMSI"),
    ):
        deadlines = np.arange(8 * 3600, 23 * 3600, 3 * 3600)
        ld, _ = engine.latest_departures([g], [0], deadlines)
        for j, deadline in enumerate(deadlines):
            for s in range(schedule.n_stops):
                if s == g or ld[j, s] <= -INF:
                    continue
                t = int(ld[j, s])
                assert oracle.earliest(s, t)[g] <= deadline
                assert oracle.earliest(s, t + 1)[g] > deadline
                checked += 1
    assert checked > 20


# ------------------------------------------------------------------------------------------
# Hypothesis-generated feeds
# ------------------------------------------------------------------------------------------

DAY = "20261201"  # a Tuesday


@st.composite
def feeds(draw):
    n_stops = draw(st.integers(3, 6))
    n_services = draw(st.integers(1, 3))
    calendar = {}
    for k in range(n_services):
        days = draw(st.lists(st.booleans(), min_size=7, max_size=7))
        start = draw(st.sampled_from(["20261101", "20261201", "20261202"]))
        calendar[f"S{k}"] = (days, start, "20261231")
    calendar_dates = []
    for k in range(n_services):
        for date in ("20261130", "20261201"):
            typ = draw(st.sampled_from([0, 1, 2]))
            if typ:
                calendar_dates.append((f"S{k}", date, typ))
    trips = []
    n_patterns = draw(st.integers(1, 4))
    for p in range(n_patterns):
        length = draw(st.integers(2, 5))
        stops = draw(st.lists(st.integers(0, n_stops - 1), min_size=length, max_size=length))
        stops = [s for i, s in enumerate(stops) if i == 0 or s != stops[i - 1]]  # loops allowed
        if len(stops) < 2:
            continue
        for _ in range(draw(st.integers(1, 4))):
            t = draw(st.integers(0, 27 * 60)) * 60
            rows = []
            for s in stops:
                dwell = draw(st.sampled_from([0, 0, 60, 120]))
                board = draw(st.sampled_from([True, True, True, False]))
                alight = draw(st.sampled_from([True, True, True, False]))
                rows.append((s, t, t + dwell, board, alight))
                t += dwell + draw(st.integers(1, 30)) * 60
            freq = None
            if draw(st.integers(0, 3)) == 0:
                a = draw(st.integers(5 * 60, 20 * 60)) * 60
                freq = [
                    (a, a + draw(st.integers(1, 4)) * 1800, draw(st.sampled_from([600, 900, 1200])))
                ]
            trips.append(
                {
                    "service": f"S{draw(st.integers(0, n_services - 1))}",
                    "rows": rows,
                    "freq": freq,
                    "exact": draw(st.integers(0, 1)),
                    "pattern": p,
                }
            )
    transfers = {}
    change = {}
    for _ in range(draw(st.integers(0, 4))):
        a, b = draw(st.integers(0, n_stops - 1)), draw(st.integers(0, n_stops - 1))
        if a == b:
            change[a] = draw(st.sampled_from([0, 180, float("inf")]))
        else:
            transfers[(a, b)] = draw(st.sampled_from([60, 300, 900]))
    return {
        "n_stops": n_stops,
        "calendar": calendar,
        "calendar_dates": calendar_dates,
        "trips": trips,
        "transfers": transfers,
        "change": change,
    }


def _hms(s):
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def write_feed(spec, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agency.txt").write_text(
        "agency_id,agency_name,agency_url,agency_timezone\nA,Test,http://localhost,Europe/Paris\n"
    )
    lines = ["stop_id,stop_name,stop_lat,stop_lon"]
    for s in range(spec["n_stops"]):
        lines.append(f"P{s},Arrêt {s},{50.30 + 0.02 * s:.5f},{3.50 + 0.02 * s:.5f}")
    (folder / "stops.txt").write_text("\ufeff" + "\r\n".join(lines) + "\r\n")
    (folder / "routes.txt").write_text(
        "route_id,agency_id,route_short_name,route_type\n"
        + "".join(f"R{p},A,{p},3\n" for p in range(5))
    )
    trips = ["route_id,service_id,trip_id"]
    st_ = ["trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type,drop_off_type"]
    fr = ["trip_id,start_time,end_time,headway_secs,exact_times"]
    for i, trip in enumerate(spec["trips"]):
        trips.append(f"R{trip['pattern']},{trip['service']},T{i}")
        for j, (s, a, d, b, al) in enumerate(trip["rows"]):
            st_.append(
                f"T{i},{_hms(a)},{_hms(d)},P{s},{10 * j + 3},{0 if b else 1},{0 if al else 1}"
            )
        for a, e, h in trip["freq"] or []:
            fr.append(f"T{i},{_hms(a)},{_hms(e)},{h},{trip['exact']}")
    (folder / "trips.txt").write_text("\n".join(trips) + "\n")
    (folder / "stop_times.txt").write_text("\n".join(st_) + "\n")
    (folder / "frequencies.txt").write_text("\n".join(fr) + "\n")
    cal = [
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date"
    ]
    for sid, (days, start, end) in spec["calendar"].items():
        cal.append(f"{sid}," + ",".join("1" if x else "0" for x in days) + f",{start},{end}")
    (folder / "calendar.txt").write_text("\n".join(cal) + "\n")
    cd = ["service_id,date,exception_type"] + [f"{a},{b},{c}" for a, b, c in spec["calendar_dates"]]
    (folder / "calendar_dates.txt").write_text("\n".join(cd) + "\n")
    tr = ["from_stop_id,to_stop_id,transfer_type,min_transfer_time"]
    for (a, b), w in spec["transfers"].items():
        tr.append(f"P{a},P{b},2,{w}")
    for s, c in spec["change"].items():
        tr.append(f"P{s},P{s},3," if c == float("inf") else f"P{s},P{s},2,{c}")
    (folder / "transfers.txt").write_text("\n".join(tr) + "\n")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=feeds(), rounds=st.integers(1, 4), data=st.data())
def test_generated_feeds_match_oracle(tmp_path_factory, spec, rounds, data):
    assume(spec["trips"])
    folder = tmp_path_factory.mktemp("feed")
    write_feed(spec, folder)
    trips = expand_day(spec, DAY)
    gtfs = load_gtfs(folder, bbox=None)
    assert gtfs.rejects.empty, gtfs.rejects
    schedule = gtfs.day("2026-12-01")
    assert schedule.n_trips == len(trips)
    if not trips:
        return
    tt = build_timetable(schedule, transfer_max_m=0, min_change_s=120)
    change = {s: spec["change"].get(s, 120) for s in range(spec["n_stops"])}
    oracle = TimeExpandedOracle(trips, spec["transfers"], change, rounds, spec["n_stops"])
    engine = Engine(tt, max_rounds=rounds, max_duration_s=10**7)
    departures = (
        np.array(
            sorted(set(data.draw(st.lists(st.integers(-60, 28 * 60), min_size=1, max_size=8)))),
            dtype=np.int64,
        )
        * 60
    )
    for s0 in range(spec["n_stops"]):
        best, _ = engine.earliest_arrivals([s0], [0], departures)
        for j, tau in enumerate(departures):
            np.testing.assert_array_equal(as_float(best[j]), oracle.earliest(s0, int(tau)))
    # Arrive-by: the latest departure arrives in time, one second later does not.
    g = data.draw(st.integers(0, spec["n_stops"] - 1))
    deadlines = departures + 3600
    ld, _ = engine.latest_departures([g], [0], deadlines)
    for j, deadline in enumerate(deadlines):
        for s in range(spec["n_stops"]):
            if s == g:
                continue
            if ld[j, s] <= -INF:
                # Nothing departing from s reaches g by deadline: check from the earliest minute.
                assert oracle.earliest(s, -2 * 86400)[g] > deadline
                continue
            t = int(ld[j, s])
            assert oracle.earliest(s, t)[g] <= deadline
            assert oracle.earliest(s, t + 1)[g] > deadline


# ------------------------------------------------------------------------------------------
# Door to door: TransitModel against the oracle (access and egress on foot, direct walk)
# ------------------------------------------------------------------------------------------


def _offset_points(lon, lat, east_m, north_m):
    return lon + east_m / (111320 * np.cos(np.radians(lat))), lat + north_m / 110540


@pytest.mark.parametrize(
    ("direction", "walk"), [("depart", "ligne"), ("arrive", "ligne"), ("depart", "reseau")]
)
def test_transit_model_door_to_door_matches_oracle(sample, direction, walk):
    from zonesblanches.coverage.network import NetworkModel
    from zonesblanches.coverage.raptor import TransitModel
    from zonesblanches.geodata.osm import load_network

    walk_model = None
    if walk == "reseau":  # access and egress on the OSM walking network of Beatty
        net = load_network(SAMPLE.parent / "beatty.osm.gz", "marche", progress=False)
        walk_model = NetworkModel(net)
    schedule = sample.day("2007-06-09")
    model = TransitModel(
        schedule,
        "08:00" if direction == "depart" else "10:00",
        direction=direction,
        window_min=30,
        step_min=10,
        max_rounds=3,
        transfer_max_m=700,
        min_change_s=120,
        walk_model=walk_model,
    )
    lon, lat = schedule.stop_lon, schedule.stop_lat
    ox, oy = _offset_points(lon[:6], lat[:6], 150.0, -200.0)
    origins = gpd.GeoSeries(gpd.points_from_xy(ox, oy), crs="EPSG:4326")
    fur = list(schedule.stop_id).index("sample-feed:FUR_CREEK_RES")
    bul = list(schedule.stop_id).index("sample-feed:BULLFROG")
    dx, dy = _offset_points(lon[[fur, bul]], lat[[fur, bul]], -300.0, 100.0)
    dests = gpd.GeoSeries(gpd.points_from_xy(dx, dy), crs="EPSG:4326")
    wt = model.window(origins, dests)
    assert np.isfinite(wt.minutes).any() and not np.isfinite(wt.minutes).all()

    tt = model.timetable
    oracle = oracle_from(schedule, tt, 3)
    acc = model._walk(model._stops, origins)
    egr = model._walk(dests, model._stops)
    direct = model._walk(dests, origins)

    arrival = door_to_door(oracle, acc, egr, direct)

    for o in range(len(origins)):
        for j, t in enumerate(wt.times_s):
            got = wt.minutes[j, o]
            if direction == "depart":
                exact = arrival(o, int(t))
                expected = np.inf if not np.isfinite(exact) else np.ceil((exact - t) / 60.0)
                if expected > model.max_duration_min:
                    expected = np.inf
                assert got == expected, (o, t)
            else:
                if not np.isfinite(got):
                    # Nothing within the longest journey searched (max_duration_min).
                    assert arrival(o, int(t - model.max_duration_min * 60)) > t
                    continue
                dep = int(round(t - got * 60))
                assert arrival(o, dep) <= t
                assert arrival(o, dep + 1) > t
    med = model.nearest(origins, dests)
    from zonesblanches.coverage.raptor import percentile_nearest_rank

    np.testing.assert_array_equal(med.minutes, percentile_nearest_rank(wt.minutes, 50))
    assert ((med.nearest >= 0) == np.isfinite(med.minutes)).all()
