"""The transit engine on a REAL French feed: Tallis, the urban bus network of Lons-le-Saunier
(CA ECLA, Jura), July 2024 (``tests/data/gtfs/tallis``, provenance in its PROVENANCE.md).

Loaded with the default France check, on the communes it serves (the bundled national
reference), against the networkx time-expanded oracle (``tests/transit_oracle.py``): every stop
at the departure times that matter, depart / arrive-by agreement, and door-to-door times from
the ECLA communes to the SNCF station stop the network serves.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from transit_oracle import as_float, door_to_door, oracle_from, probe_times

from zonesblanches.coverage.raptor import INF, Engine, TransitModel, build_timetable
from zonesblanches.geodata.gtfs import load_gtfs
from zonesblanches.geodata.territory import select_territory

TALLIS = Path(__file__).parent / "data" / "gtfs" / "tallis" / "gtfs-20240704-090655.zip"
SCHOOL_DAY = "2024-07-02"  # Tuesday: « sco » (school-term) services, 1–7 July 2024
HOLIDAY = "2024-07-09"  # Tuesday: « Vacs » (summer) services, 8–31 July 2024
ECLA = "200071116"  # CA ECLA (Espace Communautaire Lons Agglomération)


@pytest.fixture(scope="module")
def tallis():
    return load_gtfs(TALLIS)  # default bbox: the France check applies


def _stop(schedule, name):
    hits = [i for i, n in enumerate(schedule.stop_name) if n == name]
    assert hits, name
    return hits


def test_real_feed_loads_in_france_with_its_flaw_rejected(tallis):
    (feed,) = tallis.feeds
    assert feed.agencies == ["Réseau Tallis 2018"]
    assert feed.publisher == "Keolis Monts Jura"
    assert (feed.start_date, feed.end_date) == ("20240701", "20240731")
    # The published feed has one trip whose times go backwards: it is rejected with its line,
    # and its 30 stop_times are listed as rejected with it; everything else is used.
    rej = tallis.rejects
    trips = rej[rej["fichier"] == "trips.txt"]
    assert len(trips) == 1
    assert "horaires décroissants" in trips["motif"].iloc[0]
    assert "stop_times.txt ligne 2042" in trips["motif"].iloc[0]
    assert (rej["fichier"] == "stop_times.txt").sum() == 30
    assert set(rej["fichier"]) == {"trips.txt", "stop_times.txt"}
    school, holiday = tallis.day(SCHOOL_DAY), tallis.day(HOLIDAY)
    assert school.n_trips == 102 and holiday.n_trips == 73
    assert tallis.day("2024-07-14").n_trips == 0  # Sunday: no service
    # Every stop lies in a commune of CA ECLA (the national reference's polygons).
    communes = select_territory(ECLA).communes
    pts = gpd.GeoSeries(gpd.points_from_xy(school.stop_lon, school.stop_lat), crs="EPSG:4326")
    inside = gpd.sjoin(gpd.GeoDataFrame(geometry=pts), communes[["code_insee", "geometry"]])
    assert inside.index.nunique() == school.n_stops
    assert {"39300", "39362", "39411"} <= set(inside["code_insee"])  # Lons, Montmorot, Perrigny


HORIZON_S = 75 * 60  # journeys searched: 75 min (keeps the oracle's Dijkstra small)


@pytest.mark.parametrize(("day", "rounds"), [(SCHOOL_DAY, 3), (HOLIDAY, 2)])
def test_real_feed_matches_oracle_from_stops_across_the_network(tallis, day, rounds):
    schedule = tallis.day(day)
    tt = build_timetable(schedule, transfer_max_m=400, min_change_s=120)
    assert len(tt.foot_to) > 0  # walking transfers between nearby stops exist
    engine = Engine(tt, max_rounds=rounds, max_duration_s=HORIZON_S)
    oracle = oracle_from(schedule, tt, rounds)
    reached = 0
    # One stop in nine (16 origins spread over the stop list, which follows the lines), at the
    # departure times that matter there: every stop is a destination of each search.
    for s0 in range(0, schedule.n_stops, 9):
        departures = probe_times(schedule, s0, n=3)
        best, _ = engine.earliest_arrivals([s0], [0], departures)
        for j, tau in enumerate(departures):
            expected = oracle.earliest(s0, int(tau), HORIZON_S)
            np.testing.assert_array_equal(
                as_float(best[j]), expected, err_msg=f"{day} from {schedule.stop_id[s0]} at {tau}"
            )
            reached += int(np.isfinite(expected).sum()) - 1
    assert reached > 1_000  # real journeys, not only the origin itself


def test_real_feed_arrive_by_station_agrees_with_oracle(tallis):
    schedule = tallis.day(SCHOOL_DAY)
    tt = build_timetable(schedule, transfer_max_m=400, min_change_s=120)
    engine = Engine(tt, max_rounds=3, max_duration_s=HORIZON_S)
    oracle = oracle_from(schedule, tt, 3)
    checked = 0
    g = _stop(schedule, "Gare SNCF")[0]
    deadlines = np.array([8 * 3600, 17 * 3600 + 30 * 60])
    ld, _ = engine.latest_departures([g], [0], deadlines)
    for j, deadline in enumerate(deadlines):
        for s in range(0, schedule.n_stops, 6):
            if s == g or ld[j, s] <= -INF:
                continue
            t = int(ld[j, s])  # leaving s at t arrives by the deadline; a second later, not
            assert oracle.earliest(s, t, HORIZON_S)[g] <= deadline
            assert oracle.earliest(s, t + 1, HORIZON_S)[g] > deadline
            checked += 1
    assert checked > 10


@pytest.mark.parametrize("direction", ["depart", "arrive"])
def test_ecla_communes_to_the_station_door_to_door(tallis, direction):
    """From each ECLA commune's reference point to the « Gare SNCF » stop, on foot then by bus:
    the model's window of door-to-door times equals the oracle's, and real bus trips are found
    (Chille, Courbouzon and Montaigu, 1.8–2.9 km from the station, too far to walk within the
    20-min limit, get there by bus). Searches are limited to 60 min so the oracle stays quick;
    the model is told the same."""
    schedule = tallis.day(SCHOOL_DAY)
    communes = select_territory(ECLA).communes.sort_values("code_insee").reset_index(drop=True)
    origins = gpd.GeoSeries(gpd.points_from_xy(communes["lon"], communes["lat"]), crs="EPSG:4326")
    gare = _stop(schedule, "Gare SNCF")[:1]
    dests = gpd.GeoSeries(
        gpd.points_from_xy(schedule.stop_lon[gare], schedule.stop_lat[gare]), crs="EPSG:4326"
    )
    model = TransitModel(
        schedule,
        "07:30" if direction == "depart" else "08:30",
        direction=direction,
        window_min=20,
        step_min=10,
        max_rounds=3,
        transfer_max_m=400,
        min_change_s=120,
        max_duration_min=60,
    )
    wt = model.window(origins, dests)
    code = communes["code_insee"].tolist()
    med = model.nearest(origins, dests).minutes
    walk = model._walk(dests, origins)
    for c in ("39145", "39169", "39348"):  # Chille, Courbouzon, Montaigu
        assert med[code.index(c)] <= 60 and walk.getrow(code.index(c)).nnz == 0, c
    # Communes more than 20 min on foot from every Tallis stop get no time (not a guess).
    assert np.isinf(wt.minutes).all(axis=0).sum() > 0

    oracle = oracle_from(schedule, model.timetable, 3)
    arrival = door_to_door(
        oracle,
        model._walk(model._stops, origins),
        model._walk(dests, model._stops),
        model._walk(dests, origins),
        horizon=model.max_duration_min * 60,
    )
    bus = 0
    for o in range(len(origins)):
        walk_only = model._walk(dests, origins[o : o + 1]).nnz > 0
        for j, t in enumerate(wt.times_s):
            got = wt.minutes[j, o]
            if direction == "depart":
                exact = arrival(o, int(t))
                expected = np.ceil((exact - t) / 60.0) if np.isfinite(exact) else np.inf
                if expected > model.max_duration_min:
                    expected = np.inf
                assert got == expected, (code[o], t)
            elif not np.isfinite(got):
                assert arrival(o, int(t - model.max_duration_min * 60)) > t
                continue
            else:
                dep = int(round(t - got * 60))
                assert arrival(o, dep) <= t
                assert arrival(o, dep + 1) > t
            bus += int(np.isfinite(got) and not walk_only)
    assert bus > 0  # some communes reach the station only thanks to a bus


def test_service_periods_is_public_and_reads_the_real_calendars(tallis):
    # GtfsData.service_periods(): the public accessor the CLI uses to say which dates a feed
    # covers (calendar.txt periods; this feed's calendar_dates.txt is empty).
    ((name, first, last),) = tallis.service_periods()
    assert (name, str(first), str(last)) == ("gtfs-20240704-090655", "2024-07-01", "2024-07-31")


def test_analysis_counts_and_lists_the_real_rejects_cause_first(tmp_path):
    # What « analyse --gtfs » prints and counts for this feed: 31 rejected rows (a count of
    # « Problèmes signalés »), written to gtfs_rejets.csv; the first line shown is the cause
    # (the trip whose times go backwards), not one of its 30 stop_times rejected with it.
    from zonesblanches import transit

    options = transit.check_transit_options(
        ["transport"], gtfs=[TALLIS], day=SCHOOL_DAY, arrive="09:00"
    )
    said = []
    models, rejected = transit.add_transit_model(
        select_territory(ECLA), options, None, tmp_path, say=said.append
    )
    assert rejected == 31 and set(models) == {"transport"}
    warn = next(i for i, line in enumerate(said) if "31 lignes d'horaires écartées" in line)
    assert "trips.txt ligne" in said[warn + 1] and "horaires décroissants" in said[warn + 1]
    assert len((tmp_path / "gtfs_rejets.csv").read_text(encoding="utf-8-sig").splitlines()) == 32
