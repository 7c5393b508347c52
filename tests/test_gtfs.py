"""GTFS loader: real quirks (BOM, CRLF, quotes, short rows, stations, `$` in service ids, stray
members), calendars, frequencies, times past midnight, rejects with line and reason; the
transport.data.gouv.fr download against a local HTTP server; the TransitModel door to door."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from route_server import RouteHandler

from zonesblanches.errors import DataError, NetworkUnavailableError, ParameterError
from zonesblanches.geodata import gtfs_download as nap
from zonesblanches.geodata.gtfs import GtfsSource, load_gtfs, parse_times, write_rejects
from zonesblanches.modes import mode_code

SAMPLE = Path(__file__).parent / "data" / "gtfs" / "sample-feed"


def test_parse_times():
    sec, bad = parse_times(["8:00:00", "25:10:00", "", "08:61:00", "x", " 07:05:09 "])
    assert sec.tolist() == [28800, 90600, -1, -1, -1, 25509]
    assert bad.tolist() == [False, False, False, True, True, False]


def test_sample_feed_loads_and_resolves_days():
    data = load_gtfs(SAMPLE, bbox=None)
    assert data.feeds[0].publisher == "Demo Transit Authority"
    # Route-specific transfers (lines 3, 4) are rejected with their reason; nothing else.
    rej = data.rejects
    assert rej[["fichier", "ligne"]].values.tolist() == [["transfers.txt", 3], ["transfers.txt", 4]]
    assert rej["motif"].str.contains("propre à une ligne").all()
    tue = data.day("2007-06-05")
    sat = data.day("2007-06-09")
    removed = data.day("2007-06-04")  # FULLW removed by calendar_dates
    assert "sample-feed:AAMV1" in set(sat.trip_id) and "sample-feed:AAMV1" not in set(tue.trip_id)
    assert not any(t.startswith("sample-feed:AB1") for t in removed.trip_id)
    # STBA every 30 min from 6:00 to 22:00 (end excluded) = 32 departures.
    assert sum(t.startswith("sample-feed:STBA#") for t in tue.trip_id) == 32
    # Boarding area (location_type 4) is not a stop.
    assert "sample-feed:BOARDING_AREA" not in set(tue.stop_id)
    with pytest.raises(ParameterError, match="AAAA-MM-JJ"):
        data.day("1er décembre")


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_bytes(text.encode("utf-8"))
    return folder


BASE = {
    "agency.txt": 'agency_id,agency_name,agency_url,agency_timezone\r\n76,"Frioul If Express",http://x,Europe/Paris\r\n',
    "routes.txt": '\ufeffroute_id,agency_id,route_short_name,route_long_name,route_type\r\nL1,76,"1","Marseille If Frioul",3\r\n',
    "stops.txt": (
        "\ufeffstop_id,stop_code,stop_name,stop_lat,stop_lon,location_type,parent_station\r\n"
        'S14944,FRIO1,"Frioul",43.2801358236,5.3070491308,1,\r\n'
        '7004,FR004,"Frioul",43.2801358236,5.3070491308,0,S14944\r\n'
        '7003,FR003,"Ile d\'If",43.2803576724,5.3265041987,0,\r\n'
        '7001,FR001,"Vieux Port",43.2946415641,5.3740901055,0,\r\n'
        '9999,X,"Sans coordonnées",,,0,\r\n'
        '8888,Y,"Désert",29.0,2.0,0,\r\n'
    ),
    "calendar.txt": (
        "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\r\n"
        "HIV$OCT,1,1,1,1,1,1,1,20261101,20270402\r\n"
        "SD$SEPT,0,0,0,0,0,1,1,20260901,20261030\r\n"
    ),
    "calendar_dates.txt": "service_id,date,exception_type\r\nHIV$OCT,20261202,2\r\nSD$SEPT,20261201,1\r\n",
    "trips.txt": (
        "route_id,service_id,trip_id,trip_headsign\r\n"
        "L1,HIV$OCT,T1,Frioul\r\nL1,HIV$OCT,T2,Frioul\r\nL1,HIV$OCT,T3,Frioul\r\n"
        "L1,SD$SEPT,T4,x\r\nL1,HIV$OCT,T5,nuit\r\nL1,HIV$OCT,EMPTY,x\r\nL9,HIV$OCT,T6,x\r\n"
    ),
    "stop_times.txt": (
        "trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type,drop_off_type\r\n"
        "T1,11:05:00,11:05:00,7001,1,,\r\n"
        "T1,,,7003,2\r\n"
        "T1,11:35:00,11:36:00,7004,3,,\r\n"
        "T2,12:00:00,12:00:00,7001,1,,\r\n"
        "T2,11:50:00,11:50:00,7004,2,,\r\n"
        "T3,13:00:00,13:00:00,7001,1,,\r\n"
        "T3,13:10:00,13:10:00,9999,2,,\r\n"
        "T3,13:20:00,13:20:00,7004,3,,\r\n"
        "T4,9:00:00,9:00:00,7001,1,,\r\n"
        "T4,9:20:00,9:20:00,7004,2,,\r\n"
        "T5,23:50:00,23:50:00,7001,1,,\r\n"
        "T5,25:10:00,25:10:00,7004,2,,\r\n"
    ),
    "transfers.txt": "from_stop_id,to_stop_id,transfer_type,min_transfer_time\r\n7004,7003,0,\r\n7003,7005,3,\r\n",
    "ExportService.checksum.md5": "abc\n",
}


def test_real_quirks_and_rejects(tmp_path):
    folder = _write(tmp_path / "rtm", BASE)
    zpath = tmp_path / "rtm.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for p in folder.iterdir():
            z.write(p, f"export/{p.name}")
    for src in (folder, zpath):
        data = load_gtfs(GtfsSource(src, name="rtm", licence="lov2"))
        rej = data.rejects
        got = {(r.fichier, r.ligne): r.motif for r in rej.itertuples()}
        assert "sans coordonnées" in got[("stops.txt", 6)]
        assert "hors de la zone" in got[("stops.txt", 7)]
        assert "recule" in got[("trips.txt", 3)]  # T2 goes back in time
        assert "au moins deux" in got[("trips.txt", 7)]  # EMPTY
        assert "ligne inconnue" in got[("trips.txt", 8)]  # L9
        assert "arrêt rejeté" in got[("stop_times.txt", 8)]  # T3 at the stop without coordinates
        assert "arrêt inconnu" in got[("transfers.txt", 3)]
        day = data.day("2026-12-01")  # Tuesday: HIV$OCT, plus SD$SEPT added by exception
        trips = set(day.trip_id)
        assert {"rtm:T1", "rtm:T3", "rtm:T4", "rtm:T5"} <= trips and "rtm:T2" not in trips
        t1 = list(day.trip_id).index("rtm:T1")
        sl = slice(day.st_ptr[t1], day.st_ptr[t1 + 1])
        assert day.st_arr[sl].tolist() == [39900, 40800, 41700]  # interpolated middle stop
        # T5 of the day before runs past midnight: it arrives at 01:10 the next day.
        nxt = data.day("2026-12-02")
        k = list(nxt.trip_id).index("rtm:T5@veille")
        assert nxt.st_arr[nxt.st_ptr[k + 1] - 1] == 4200
        assert "rtm:T1" not in set(nxt.trip_id)  # HIV$OCT removed on 2026-12-02
        assert data.feeds[0].licence == "lov2"
        # written like every CSV of the project (BOM for Excel), read back row for row
        out = write_rejects(data, tmp_path / "rejets_gtfs.csv")
        assert out.read_bytes().startswith(b"\xef\xbb\xbf")
        back = pd.read_csv(out, encoding="utf-8-sig", keep_default_na=False)
        pd.testing.assert_frame_equal(back, rej, check_dtype=False)


def test_several_feeds_prefixed(tmp_path):
    a = _write(tmp_path / "a", BASE)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    data = load_gtfs([a, b])
    day = data.day("2026-12-01")
    assert {f.name for f in data.feeds} == {"a", "b"}
    assert "a:7001" in set(day.stop_id) and "b:7001" in set(day.stop_id)
    assert len(set(day.trip_id)) == day.n_trips


def test_not_a_feed(tmp_path):
    with pytest.raises(DataError, match="stop_times.txt"):
        load_gtfs(_write(tmp_path / "x", {"stops.txt": "stop_id\n"}))
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="zip"):
        load_gtfs(bad)


def test_transport_mode_needs_timetables():
    assert mode_code("transports en commun", allow_transit=True) == "transport"
    with pytest.raises(ParameterError, match="GTFS"):
        mode_code("transport")


# ------------------------------------------------------------------------------------------
# transport.data.gouv.fr, against a local server
# ------------------------------------------------------------------------------------------


class _Handler(RouteHandler):
    routes: dict[str, tuple[int, bytes]] = {}
    hits: list[str] = []
    not_found = b'{"errors":"not found"}'


@pytest.fixture
def nap_server(tmp_path, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    zpath = tmp_path / "feed.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for name, text in BASE.items():
            z.writestr(name, text)
    body = zpath.read_bytes()

    def ds(i, area, owners=(), fmt="GTFS", updated="2026-10-01T00:00:00Z"):
        return {"datagouv_id": i, "id": i, "title": f"Réseau {i}", "slug": f"reseau-{i}",
                "type": "public-transit", "licence": "odc-odbl",
                "publisher": {"name": f"Éditeur {i}", "id": "o", "type": "organization"},
                "covered_area": area, "legal_owners": list(owners),
                "resources": [{"id": 1, "datagouv_id": "1", "title": "GTFS.zip", "format": fmt,
                               "type": "main", "url": f"{base}/files/{i}.zip", "updated": updated,
                               "is_available": True}]}  # fmt: skip

    payload = [
        ds("a1", [{"type": "epci", "insee": "245901160", "nom": "CA Valenciennes Métropole"}]),
        ds("a2", {"type": "aom", "name": "x", "aom": {"name": "x", "siren": "200067205"}}),
        ds("a3", [{"type": "region", "insee": "84", "nom": "Auvergne-Rhône-Alpes"}]),
        ds("a4", {}, owners=[{"insee": "32", "name": "Hauts-de-France", "type": "region"}]),
        ds("a5", [{"type": "commune", "insee": "59606", "nom": "Valenciennes"}], fmt="NeTEx"),
        ds("a6", [{"type": "pays", "insee": "FR", "nom": "France"}]),
    ]
    _Handler.routes = {"/api/datasets": (200, json.dumps(payload).encode())}
    for i in ("a1", "a2", "a4"):
        _Handler.routes[f"/files/{i}.zip"] = (200, body)
    _Handler.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(nap.API_ENV_VAR, base + "/api/")
    yield payload
    server.shutdown()
    server.server_close()


def test_nap_download_both_covered_area_shapes(nap_server, monkeypatch):
    codes = nap.TerritoryCodes(
        communes={"59606"}, epcis={"245901160", "200067205"}, departements={"59"}, regions={"32"}
    )
    # a5 covers the territory but has no GTFS (NeTEx only): listed here, not downloaded.
    assert nap.datasets_covering(nap_server, codes) == [
        "reseau-a1",
        "reseau-a2",
        "reseau-a4",
        "reseau-a5",
    ]
    assert "reseau-a6" in nap.datasets_covering(nap_server, codes, national=True)
    monkeypatch.setenv(nap.OFFLINE_ENV, "1")
    with pytest.raises(NetworkUnavailableError, match="hors ligne"):
        nap.download_territory_gtfs(codes, progress=False)
    monkeypatch.setenv(nap.OFFLINE_ENV, "0")
    sources = nap.download_territory_gtfs(codes, progress=False)
    assert [s.name for s in sources] == ["reseau-a1", "reseau-a2", "reseau-a4"]
    assert sources[0].licence == "odc-odbl" and sources[0].publisher == "Éditeur a1"
    data = load_gtfs(sources)
    assert [f.licence for f in data.feeds] == ["odc-odbl"] * 3
    n_hits = len(_Handler.hits)
    # Offline now: the cached list and files are used, nothing requested.
    monkeypatch.setenv(nap.OFFLINE_ENV, "1")
    again = nap.download_territory_gtfs(codes, progress=False)
    assert [Path(s.path) for s in again] == [Path(s.path) for s in sources]
    assert len(_Handler.hits) == n_hits


def test_transit_model_in_coverage_and_gap():
    """The TransitModel plugs into compute_coverage as mode `transport`, beside the car; the
    ratio and the report table of the worst gaps follow. Demand points are the sample feed's
    own stops (Beatty, Nevada: a format fixture, populations synthetic and labelled so)."""
    from zonesblanches.coverage.analysis import compute_coverage, time_col
    from zonesblanches.coverage.raptor import TransitModel
    from zonesblanches.coverage.transit_gap import gap_columns, ratio_col, worst_gaps

    day = load_gtfs(SAMPLE, bbox=None).day("2007-06-09")
    pts = gpd.points_from_xy(day.stop_lon, day.stop_lat)
    demand = gpd.GeoDataFrame(
        {
            "code_insee": [f"X{i}" for i in range(day.n_stops)],
            "nom": [f"point synthétique {i}" for i in range(day.n_stops)],
            "population": np.arange(day.n_stops) * 100.0 + 100,
        },
        geometry=pts,
        crs="EPSG:4326",
    )
    fur = list(day.stop_id).index("sample-feed:FUR_CREEK_RES")
    services = gpd.GeoDataFrame(
        {"service_id": ["s1"], "categorie": ["garage_solidaire"]},
        geometry=[pts[fur]],
        crs="EPSG:4326",
    )
    model = TransitModel(day, "10:00", direction="arrive", window_min=60, transfer_max_m=700)
    result = compute_coverage(
        demand,
        services,
        {"transport": 45, "voiture": 20},
        categories=["garage_solidaire"],
        models={"transport": model},
    )
    t = result.units[time_col("garage_solidaire", "transport")].to_numpy()
    assert t[fur] == 0 and np.isfinite(t).sum() >= 3 and not np.isfinite(t).all()
    gap = gap_columns(result)[ratio_col("garage_solidaire")].to_numpy()
    c = result.units[time_col("garage_solidaire", "voiture")].to_numpy()
    ok = np.isfinite(t) & (c > 0)
    np.testing.assert_allclose(gap[ok], t[ok] / c[ok])
    table = worst_gaps(result, factor=3)
    assert (table["population"].diff().dropna() <= 0).all()
    assert set(table["motif"]) <= {
        "aucun trajet en transports en commun dans la fenêtre",
        "transports en commun plus de 3 fois plus longs que la voiture",
    }
    assert (table["motif"] == "aucun trajet en transports en commun dans la fenêtre").sum() == (
        ~np.isfinite(t)
    ).sum()
    assert "transports en commun le 09/06/2007" in result.specs()["description"].iloc[0]


def test_transport_margin_bounded_by_train_speed():
    """Services are kept within reach of the fastest mode: public transport is bounded by the
    TER top speed (160 km/h), whatever its model."""
    from zonesblanches.coverage.margin import margin_km, reach_km

    assert reach_km("transport", 45) == pytest.approx(120.0)
    assert margin_km({"transport": 45, "voiture": 20}, {"transport": object()}) == pytest.approx(
        120.0
    )


def test_api_diagnostic_accepts_transport():
    """api.diagnostic runs with mode `transport` and a TransitModel; the sample feed lies in
    Nevada, so no Valenciennes commune has a bus: only walking all the way (at most 20 min)
    gives a time, elsewhere infinite. This checks the wiring (margin, coverage), not values."""
    from zonesblanches import api
    from zonesblanches.coverage.raptor import TransitModel

    day = load_gtfs(SAMPLE, bbox=None).day("2007-06-09")
    model = TransitModel(day, "09:00", direction="arrive", window_min=10)
    result = api.diagnostic(
        "valenciennes",
        {"transport": 45},
        models={"transport": model},
        categories=["garage_solidaire"],
    )
    col = "temps_garage_solidaire_transport"
    times = result.units[col].to_numpy()
    walk = np.isfinite(times)
    assert (times[walk] <= model.max_walk_min).all() and (~walk).sum() > 0
    assert "transports en commun" in result.specs()["description"].iloc[0]
