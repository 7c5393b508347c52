"""Public transport from the command line (issue 14): options, errors, outputs.

The only real GTFS feed available offline is the GTFS reference sample (``tests/data/gtfs/
sample-feed``: « Demo Transit Authority », Beatty, Nevada; see ``tests/data/gtfs/SOURCE.md``),
and the command line analyses French territories only. The end-to-end runs below therefore use
a feed and a territory that DO NOT MATCH, on purpose and said so: the loader's France check is
lifted (:data:`zonesblanches.transit.FEED_BBOX` set to the whole world) so the Nevada feed
loads, and the tests assert the honest result: no French commune reaches a service by public
transport; the only finite « transport » times are walks (a service in the commune itself).
The engine's correctness on the place the feed serves (Beatty, with its OSM extract) is checked
against the networkx oracle in ``tests/test_raptor.py``.
"""

from __future__ import annotations

import html
import http.server
import json
import re
import sqlite3
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from route_server import RouteHandler

from zonesblanches import transit
from zonesblanches.cli import main, parse_modes
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.maps.transit_layer import LAYER_NAME, ratio_classes

SAMPLE = "tests/data/gtfs/sample-feed"
WORLD = [(-180.0, -90.0, 180.0, 90.0)]
DAY = "2008-01-02"  # a Wednesday inside the feed's calendar (2007-01-01 to 2010-12-31)
# Valenciennes and Anzin: the bundled registry has a garage solidaire in Anzin (HDF-008).
TERRITORY = "59606,59014"


@pytest.fixture
def world_feeds(monkeypatch):
    """Let the Nevada sample feed load for a French territory (see the module docstring)."""
    monkeypatch.setattr(transit, "FEED_BBOX", WORLD)


def _read(path):
    return pd.read_csv(path, dtype={"code_insee": str, "code_epci": str, "code_departement": str})


def _run(tmp_path, *extra, name="out"):
    out = tmp_path / name
    argv = ["analyse", "--territoire", TERRITORY, "--categorie", "garage_solidaire"]
    argv += ["--mode", "voiture:20", "--mode", "transport:45", "--sortie", str(out), *extra]
    return main(argv), out


# ------------------------------------------------------------------------- options and errors


def test_parse_modes_accepts_transport_with_its_default_threshold():
    assert parse_modes(["voiture:20", "transport"], None) == {"voiture": 20.0, "transport": 45.0}
    assert parse_modes(["tc:60"], None) == {"transport": 60.0}


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({}, "--gtfs FICHIER.zip"),
        ({"gtfs": [SAMPLE], "day": DAY, "depart": "08:00", "arrive": "09:00"}, "pas les deux"),
        ({"gtfs": [SAMPLE]}, "--jour AAAA-MM-JJ"),
        ({"gtfs": [SAMPLE], "day": "2026-13-01"}, "Date invalide : « 2026-13-01 »"),
        ({"gtfs": [SAMPLE], "day": DAY, "depart": "8h75"}, "Heure invalide : « 8h75 »"),
        ({"gtfs": [SAMPLE], "day": DAY, "window_min": -5}, "--fenetre"),
        ({"gtfs": [SAMPLE], "day": DAY, "percentile": 120}, "--centile"),
    ],
)
def test_transit_options_errors_say_what_to_do(kwargs, words):
    with pytest.raises(ParameterError) as err:
        transit.check_transit_options(["voiture", "transport"], **kwargs)
    assert words in str(err.value)


def test_timetable_options_without_the_transport_mode_are_refused():
    with pytest.raises(ParameterError, match="--mode transport:45"):
        transit.check_transit_options(["voiture"], gtfs=[SAMPLE], day=DAY)
    assert transit.check_transit_options(["voiture", "marche"]) is None


def test_checked_options_default_to_arriving_by_nine_over_two_hours():
    opts = transit.check_transit_options(["transport"], gtfs=[SAMPLE], day="20080102")
    assert (opts.direction, opts.time, opts.window_min, opts.percentile) == (
        "arrive",
        "09:00",
        120.0,
        50.0,
    )
    assert str(opts.day) == DAY


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ((), "--telecharger-gtfs"),
        (
            ("--gtfs", SAMPLE, "--jour", DAY, "--depart", "08:00", "--arrivee", "09:00"),
            "pas les deux",
        ),
        (("--gtfs", SAMPLE, "--jour", "01-12-2026"), "Date invalide"),
        (("--gtfs", SAMPLE, "--jour", DAY, "--arrivee", "neuf heures"), "Heure invalide"),
    ],
)
def test_cli_option_errors_are_french_and_write_nothing(tmp_path, capsys, extra, words):
    code, out = _run(tmp_path, *extra)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("Erreur : ") and words in err
    assert "Traceback" not in err
    assert not (out / "communes.csv").exists()


def test_cli_refuses_a_feed_outside_france(tmp_path, capsys):
    """The real sample feed as a user would give it: every stop lies in Nevada, so every stop is
    rejected by the France check and the feed has no usable trip: a French error naming the
    first rejected row."""
    code, out = _run(tmp_path, "--gtfs", SAMPLE, "--jour", DAY)
    err = capsys.readouterr().err
    assert code == 2
    assert "« sample-feed » n'a aucune course utilisable" in err
    assert "stops.txt ligne 2, coordonnées hors de la zone attendue (France)" in err
    assert not (out / "communes.csv").exists()


def test_cli_day_outside_the_calendar_names_the_dates_covered(tmp_path, capsys, world_feeds):
    code, _ = _run(tmp_path, "--gtfs", SAMPLE, "--jour", "2026-12-01")
    err = capsys.readouterr().err
    assert code == 2
    assert "Aucune course ne circule le mardi 01/12/2026" in err
    assert "« sample-feed » du 01/01/2007 au 31/12/2010" in err


def test_service_periods_read_both_calendar_files():
    from zonesblanches.geodata.gtfs import load_gtfs

    data = load_gtfs(SAMPLE, bbox=None)
    ((name, first, last),) = transit.service_periods(data)
    assert (name, str(first), str(last)) == ("sample-feed", "2007-01-01", "2010-12-31")


# ------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def arrive_run(tmp_path_factory):
    """One full run (map, report, CSV, GeoPackage): arrive by 09:00, 2-hour window."""
    tmp = tmp_path_factory.mktemp("transit")
    mp = pytest.MonkeyPatch()
    mp.setattr(transit, "FEED_BBOX", WORLD)
    try:
        code, out = _run(tmp, "--gtfs", SAMPLE, "--jour", DAY, "--arrivee", "09:00")
    finally:
        mp.undo()
    assert code == 0
    return out


def test_communes_csv_carries_transit_time_and_ratio(arrive_run):
    table = _read(arrive_run / "communes.csv").set_index("code_insee")
    cols = list(table.columns)
    assert "temps_garage_solidaire_transport_min" in cols
    assert "rapport_transport_voiture_garage_solidaire" in cols
    # the ratio follows its category's columns
    assert cols.index("rapport_transport_voiture_garage_solidaire") == (
        cols.index("zone_blanche_garage_solidaire_transport") + 1
    )
    anzin, valenciennes = table.loc["59014"], table.loc["59606"]
    # Anzin: the garage is in the commune (same point): 0 min on foot, by car too, so the ratio
    # is undefined (empty).
    assert anzin["temps_garage_solidaire_transport_min"] == 0
    assert anzin["temps_garage_solidaire_voiture_min"] == 0
    assert pd.isna(anzin["rapport_transport_voiture_garage_solidaire"])
    # Valenciennes: no stop of a Nevada feed within walking distance, Anzin's garage beyond a
    # 20-min walk: no trip (empty time, zone blanche), ratio empty, car a few minutes.
    assert pd.isna(valenciennes["temps_garage_solidaire_transport_min"])
    assert valenciennes["zone_blanche_garage_solidaire_transport"] == 1
    assert pd.isna(valenciennes["rapport_transport_voiture_garage_solidaire"])
    assert 0 < valenciennes["temps_garage_solidaire_voiture_min"] < 20
    # Per commune, whatever the category: no stop within the longest walk.
    assert set(table["remarque_transport"]) == {
        "Aucun arrêt de transport en commun à moins de 20 min à pied."
    }


def test_gtfs_rejects_file_lists_file_line_and_reason(arrive_run):
    rejects = pd.read_csv(arrive_run / "gtfs_rejets.csv", encoding="utf-8-sig")
    assert list(rejects.columns) == ["flux", "fichier", "ligne", "champ", "motif"]
    assert rejects[["fichier", "ligne"]].values.tolist() == [
        ["transfers.txt", 3],
        ["transfers.txt", 4],
    ]
    assert rejects["motif"].str.contains("correspondance propre à une ligne").all()
    manifest = json.loads((arrive_run / "manifeste.json").read_text(encoding="utf-8"))
    assert "gtfs_rejets.csv" in json.dumps(manifest)
    assert manifest["parametres"]["gtfs"] == [SAMPLE]


def test_report_has_the_gap_table_and_the_method(arrive_run):
    page = (arrive_run / "rapport.html").read_text(encoding="utf-8")
    start = page.index('<section id="transports">')
    section = page[start : page.index("</section>", start)]
    assert f"{LAYER_NAME} : les écarts" in section
    rows = re.findall(r"<tr><td>(.*?)</tr>", section)
    assert len(rows) == 1  # Valenciennes only: Anzin's ratio is undefined, not a gap
    assert "Valenciennes" in rows[0]
    # Why no trip: no stop of the (Nevada) feed within a 20-min walk of Valenciennes' point.
    assert "aucun trajet : aucun arrêt de transport en commun à moins de 20 min à pied" in rows[0]
    text = re.sub(r"<[^>]+>", " ", page)
    assert "Temps en transports en commun le 02/01/2008" in text
    assert "arrivées au plus tard entre 120 min avant 09h00 et 09h00" in text
    assert "médiane des temps porte à porte" in text
    assert "marche (à vol d'oiseau)" in text
    assert "« sample-feed » (Demo Transit Authority, licence non précisée)" in text
    # The reliability box says where transit times come from (not « réseau OpenStreetMap »).
    box = html.unescape(page[page.index("<aside class='reliability'") : page.index("</aside>")])
    assert "Temps en transports en commun : horaires GTFS, médiane des temps porte à porte" in box
    assert "marche vers et depuis les arrêts à vol d'oiseau" in box


def test_map_has_the_ratio_layer(arrive_run):
    page = (arrive_run / "carte.html").read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    payload = json.loads(match.group(1))
    (layer,) = [x for x in payload["extra"] if x["name"].startswith(LAYER_NAME)]
    assert layer["name"] == f"{LAYER_NAME} — Garage solidaire"
    assert layer["show"] is False
    classes = {f["properties"]["titre"]: f["properties"]["k"] for f in layer["data"]["features"]}
    assert classes == {"Anzin": "na", "Valenciennes": "none"}
    assert {row[1] for row in layer["legend_rows"]} >= {
        "plus de 3 fois plus longs",
        "aucun trajet en transports en commun dans la fenêtre",
    }
    # The time layers' legend says what « unreachable » means for each mode.
    labels = {x["mode"]: x["unreachable_label"] for x in payload["layers"]}
    assert labels["transport"] == "aucun trajet en transports en commun dans la fenêtre"
    assert labels["voiture"] == "aucun service connu accessible"
    assert "L0.unreachable_label" in page


def test_geopackage_communes_layer_has_the_ratio(arrive_run):
    con = sqlite3.connect(arrive_run / "diagnostic.gpkg")
    try:
        cols = [r[1] for r in con.execute("PRAGMA table_info(communes)")]
    finally:
        con.close()
    assert "temps_garage_solidaire_transport_min" in cols
    assert "rapport_transport_voiture_garage_solidaire" in cols


def test_depart_at_with_percentile_on_the_walking_network(tmp_path, capsys, world_feeds):
    """Depart-at, 80th percentile, walking legs on a real OSM street graph of a French commune
    (Maisons-Laffitte, ``tests/data/osm``) — still far from Nevada's stops: no trip."""
    argv = ["analyse", "--territoire", "78358", "--categorie", "auto_ecole_sociale"]
    argv += ["--mode", "voiture:20", "--mode", "transport:45", "--sans-carte"]
    argv += ["--osm", "tests/data/osm/maisons-laffitte-osmnx122.graphml"]
    argv += ["--gtfs", SAMPLE, "--jour", DAY, "--depart", "08:00", "--fenetre", "60"]
    argv += ["--centile", "80", "--sortie", str(tmp_path / "out")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Réseau routier : fichier maisons-laffitte-osmnx122.graphml (voiture, marche)" in out
    assert "Marche vers et depuis les arrêts : sur le réseau piéton OpenStreetMap." in out
    assert "départs de 08h00 à 60 min plus tard, chaque minute) : 80e centile" in out
    assert "marche (sur le réseau piéton)" in out
    table = _read(tmp_path / "out" / "communes.csv")
    assert table["temps_auto_ecole_sociale_transport_min"].isna().all()
    assert table["zone_blanche_auto_ecole_sociale_transport"].eq(1).all()


# ------------------------------------------------------------------------- ratio classes


class _Result:
    """The three attributes :func:`ratio_classes` reads (a CoverageResult has them too)."""

    def __init__(self, transit_min, car_min):
        self.modes = ["voiture", "transport"]
        self.categories = ["atelier_velo"]
        self.units = pd.DataFrame(
            {
                "temps_atelier_velo_transport": transit_min,
                "temps_atelier_velo_voiture": car_min,
            }
        )


def test_ratio_classes_bounds_belong_to_the_lower_class():
    t = np.array([15.0, 15.1, 20.0, 30.0, 30.1, np.inf, 5.0, 12.0])
    c = np.array([10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 0.0, np.inf])
    got = ratio_classes(_Result(t, c), "atelier_velo").tolist()
    assert got == ["r1", "r2", "r2", "r3", "r4", "none", "na", "na"]


def test_transit_setup_rejects_a_missing_file(tmp_path):
    opts = transit.check_transit_options(["transport"], gtfs=[tmp_path / "absent.zip"], day=DAY)
    with pytest.raises(DataError, match="Fichier GTFS introuvable"):
        transit.transit_setup(None, opts)


# ------------------------------------------------------------------------- --telecharger-gtfs


@pytest.fixture
def nap_api(tmp_path, monkeypatch):
    """A local transport.data.gouv.fr API (``GET /api/datasets``, 2025 ``covered_area`` shape)
    with one dataset whose GTFS resource is the real sample feed, zipped. Its ``covered_area``
    names Valenciennes so that the client keeps it: that entry is test metadata, the feed does
    not serve Valenciennes (see the module docstring)."""
    from zonesblanches.geodata import gtfs_download as nap

    handler = type("Nap", (RouteHandler,), {"hits": [], "not_found": b'{"errors":"not found"}'})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    zpath = tmp_path / "sample-feed.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in sorted(Path(SAMPLE).iterdir()):
            z.write(f, f.name)
    dataset = {
        "datagouv_id": "d1",
        "id": "d1",
        "title": "GTFS reference sample feed",
        "slug": "sample-feed-demo",
        "type": "public-transit",
        "licence": "Apache-2.0",
        "publisher": {"name": "Demo Transit Authority", "type": "organization"},
        "covered_area": [{"type": "commune", "insee": "59606", "nom": "Valenciennes"}],
        "resources": [
            {
                "id": 7,
                "title": "sample-feed.zip",
                "format": "GTFS",
                "type": "main",
                "url": f"{base}/files/sample-feed.zip",
                "updated": "2026-11-01T00:00:00Z",
                "is_available": True,
            }
        ],
    }
    handler.routes = {
        "/api/datasets": (200, json.dumps([dataset]).encode()),
        "/files/sample-feed.zip": (200, zpath.read_bytes()),
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(nap.API_ENV_VAR, base + "/api/")
    monkeypatch.setenv(nap.OFFLINE_ENV, "0")
    yield handler
    server.shutdown()
    server.server_close()


def test_cli_downloads_the_feeds_covering_the_territory(tmp_path, capsys, nap_api, world_feeds):
    code, out = _run(tmp_path, "--telecharger-gtfs", "--jour", DAY, "--sans-carte")
    printed = capsys.readouterr().out
    assert code == 0
    assert nap_api.hits == ["/api/datasets", "/files/sample-feed.zip"]
    assert "Horaires GTFS : 1 flux (sample-feed-demo), 10 arrêts, 147 courses" in printed
    # publisher and licence as the API declares them, in the method notes
    assert "« sample-feed-demo » (Demo Transit Authority, licence Apache-2.0)" in printed
    table = _read(out / "communes.csv").set_index("code_insee")
    assert pd.isna(table.loc["59606", "temps_garage_solidaire_transport_min"])
    rejects = pd.read_csv(out / "gtfs_rejets.csv", encoding="utf-8-sig")
    assert set(rejects["flux"]) == {"sample-feed-demo"}
    # The rejected GTFS rows count among the problems, and their file is listed with the others.
    assert f"Problèmes signalés dans les fichiers lus : {len(rejects)} —" in printed
    assert f"  {out / 'gtfs_rejets.csv'}\n" in printed


def test_scenario_says_it_does_not_do_public_transport_yet(tmp_path, capsys):
    argv = ["scenario", "--deplacer", "HDF-002:62895", "--mode", "transport:45"]
    assert main([*argv, "--sortie", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "« scenario » ne calcule pas encore les transports en commun" in err


@pytest.mark.parametrize("option", [["--workers", "2"], ["--cluster", "tcp://127.0.0.1:1"]])
def test_partitioned_run_refuses_public_transport_before_reading(tmp_path, capsys, option):
    # One Dask task per département cannot follow a bus, coach or train across département
    # borders: refused in French, saying what to do, before any input is read or result written.
    argv = ["analyse", "--territoire", "59", "--mode", "transport:45", "--gtfs", SAMPLE]
    out = tmp_path / "out"
    assert main([*argv, "--jour", DAY, *option, "--sortie", str(out)]) == 2
    printed = capsys.readouterr()
    err = printed.err
    assert "Les transports en commun ne se calculent pas encore par département" in err
    assert "passe d'un département à l'autre" in err
    assert "sans --cluster ni --workers" in err
    assert "Territoire :" not in printed.out  # nothing read
    assert not list(out.glob("*.csv")) and not list(out.glob("*.html"))


def test_suggest_explains_why_it_does_not_choose_sites_by_public_transport(tmp_path, capsys):
    argv = ["suggerer", "--territoire", TERRITORY, "--categorie", "garage_solidaire"]
    assert main([*argv, "--mode", "tc", "--sortie", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "« suggerer » ne choisit pas encore les sites en transports en commun" in err
    assert (
        "la médiane du meilleur de plusieurs sites n'est pas le meilleur de leurs médianes" in err
    )
    assert "analyse --mode transport" in err


def test_scenario_map_labels_public_transport_layers():
    """The Python API runs a scenario with a transit model (the CLI refuses it, see above); its
    map names the mode « en transports en commun » (maps/plans.py knows every mode's label).
    Nevada sample feed on Valenciennes (see the module docstring): the garage added in
    Valenciennes is reached on foot, so Valenciennes gains, Anzin's own garage is unchanged."""
    from zonesblanches import api
    from zonesblanches.coverage.raptor import TransitModel
    from zonesblanches.geodata.gtfs import load_gtfs
    from zonesblanches.geodata.territory import select_territory
    from zonesblanches.maps import render_map, scenario_map

    schedule = load_gtfs(SAMPLE, bbox=None).day(DAY)
    territory = select_territory(TERRITORY)
    model = TransitModel(schedule, "09:00", direction="arrive", window_min=30, step_min=10)
    res = api.scenario(
        territory,
        add="garage_solidaire:59606",
        thresholds={"transport": 45},
        categories=["garage_solidaire"],
        models={"transport": model},
    )
    diff = res.diff_layer("garage_solidaire", "transport").set_index("code_insee")
    assert diff.loc["59606", "evolution"] == "gagne"
    html = render_map(scenario_map(res, territory.communes, tiles=False))
    assert "Qui gagne, qui perd : Garage solidaire, en transports en commun 45 min" in html
    assert "(Garage solidaire, en transports en commun), avant → après" in html
