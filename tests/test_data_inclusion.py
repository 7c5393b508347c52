"""data·inclusion services, the Géoplateforme geocoder and the BPE layer, against local servers.

A local HTTP server (started here, localhost only) imitates data.gouv.fr (dataset API v1 payload,
permalinks answering a 302 to the static file) and the Géoplateforme CSV batch geocoder
(multipart in, the input CSV with ``longitude``, ``latitude`` and ``result_*`` columns out). The
geocoder's answers are the real Géoplateforme records quoted in the format notes (two Paris
addresses); the ``rue vague`` answer is the real Lyon ``municipality`` record with its score
lowered to 0.55 to test the threshold. Fixtures: tests/data/data_inclusion (SOURCE.md).
"""

from __future__ import annotations

import csv
import email.parser
import email.policy
import hashlib
import http.server
import io
import json
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from zonesblanches.errors import DataError, NetworkUnavailableError, ParameterError
from zonesblanches.geodata import data_inclusion as di
from zonesblanches.geodata import thematiques
from zonesblanches.geodata._data_inclusion_output import _merge_duplicates
from zonesblanches.geodata.bpe import load_bpe
from zonesblanches.geodata.geocodage import Geocoder, address_key

DATA = Path(__file__).parent / "data" / "data_inclusion"
PARQUET = DATA / "services.parquet"
RID = di.RESOURCES["services"]["parquet"]
STATIC = "/static/resources/referentiel-offre-insertion/20261123-140000/services.parquet"
SID = di.RESOURCES["structures"]["parquet"]
STATIC_STRUCTURES = STATIC.replace("services.parquet", "structures.parquet")

# Real Géoplateforme answers (format notes 05, section C.3), keyed by the address sent.
ANSWERS = {
    "22 Boulevard Flandrin": dict(longitude="2.272782", latitude="48.866218",
        result_score="0.9788990909090908", result_label="22 Boulevard Flandrin 75116 Paris",
        result_type="housenumber", result_id="75116_3663_00022", result_citycode="75116",
        result_status="ok"),
    "Place de l Hotel de Ville": dict(longitude="2.356161", latitude="48.854287",
        result_score="0.79728", result_label="Rue de l'Hôtel de Ville 75004 Paris",
        result_type="street", result_id="75104_4668", result_citycode="75104",
        result_status="ok"),
    "rue vague": dict(longitude="4.835", latitude="45.758", result_score="0.55",
        result_label="Lyon", result_type="municipality", result_id="69123",
        result_citycode="69123", result_status="ok"),
}  # fmt: skip
RESULT_COLUMNS = ["longitude", "latitude", "result_score", "result_score_next", "result_label",
                  "result_type", "result_id", "result_citycode", "result_status"]  # fmt: skip


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: list = []
    posts: list = []
    throttle_once = False
    delay = 0.0

    def _send(self, status, headers, body):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        self._send(*self.routes.get(self.path, (404, {}, b'{"message": "Not found"}')))

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).posts.append(time.monotonic())
        if self.delay:
            time.sleep(self.delay)
        if type(self).throttle_once:
            type(self).throttle_once = False
            self._send(429, {"retry-after": "1"}, b"Too Many Requests")
            return
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
        )
        form, data = {}, b""
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "data":
                data = part.get_payload(decode=True)
            else:
                form.setdefault(name, []).append(part.get_content().strip())
        assert form["columns"] == ["adresse", "code_postal", "commune"]
        assert form.get("citycode", ["code_insee"]) == ["code_insee"]
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\r\n")
        w.writerow(list(rows[0]) + RESULT_COLUMNS)
        for r in rows:
            ans = ANSWERS.get(r["adresse"], {"result_status": "not-found"})
            w.writerow(list(r.values()) + [ans.get(c, "") for c in RESULT_COLUMNS])
        self._send(200, {"Content-Type": "text/csv; charset=utf-8"}, out.getvalue().encode())

    def log_message(self, *args):
        pass


def dataset_payload(base: str, body: bytes, structures: bytes = b"") -> dict:
    """API v1 dataset shape (keys from the udata source); titles and dates are test values.
    With ``structures``, the structures table's parquet resource is listed too."""
    res = {
        "id": RID, "title": "services.parquet", "description": None, "filetype": "file",
        "type": "main", "format": "parquet", "url": base + STATIC,
        "latest": f"{base}/api/1/datasets/r/{RID}",
        "checksum": {"type": "sha1", "value": hashlib.sha1(body).hexdigest()},
        "filesize": len(body), "mime": "application/octet-stream",
        "created_at": "2022-03-17T12:00:00.000000+00:00",
        "last_modified": "2026-11-23T14:00:00.000000+00:00", "metrics": {"views": 0},
        "harvest": None, "extras": {}, "preview_url": None, "schema": None,
        "internal": {"created_at_internal": "2022-03-17T12:00:00+00:00",
                     "last_modified_internal": "2026-11-23T14:00:00+00:00"},
    }  # fmt: skip
    resources = [res]
    if structures:
        resources.append(
            res
            | {
                "id": SID,
                "title": "structures.parquet",
                "url": base + STATIC_STRUCTURES,
                "latest": f"{base}/api/1/datasets/r/{SID}",
                "filesize": len(structures),
                "checksum": {"type": "sha1", "value": hashlib.sha1(structures).hexdigest()},
            }
        )
    return {"id": di.DATASET_ID, "slug": "referentiel-offre-insertion", "title":
            "Référentiel de l'offre d'insertion (jeu de test)", "license": "etalab-2.0",
            "resources": resources, "frequency": "weekly", "tags": [], "extras": {},
            "harvest": None, "organization": None, "owner": None}  # fmt: skip


@pytest.fixture
def server(monkeypatch, tmp_path):
    handler = type("H", (_Handler,), {"routes": {}, "hits": [], "posts": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    body = PARQUET.read_bytes()
    structures = (DATA / "structures.parquet").read_bytes()
    handler.routes.update(
        {
            f"/api/1/datasets/{di.DATASET_ID}/": (
                200, {"Content-Type": "application/json"},
                json.dumps(dataset_payload(base, body, structures)).encode()),
            f"/api/1/datasets/r/{RID}": (302, {"Location": base + STATIC}, b""),
            STATIC: (200, {}, body),
            f"/api/1/datasets/r/{SID}": (302, {"Location": base + STATIC_STRUCTURES}, b""),
            STATIC_STRUCTURES: (200, {}, structures),
        }
    )  # fmt: skip
    monkeypatch.setenv("ZONESBLANCHES_DATAGOUV_API", f"{base}/api/1/")
    monkeypatch.setenv("ZONESBLANCHES_GEOCODEUR", f"{base}/geocodage/search/csv")
    monkeypatch.setenv("ZONESBLANCHES_HORS_LIGNE", "0")
    yield handler
    httpd.shutdown()
    httpd.server_close()


def balance(r: di.DataInclusionRead) -> int:
    c = r.counts
    return (c["retenus"] + c["fusionnes"] + c["rejetes"] + c["a_distance"] + c["hors_mobilite"]
            + c["hors_zone"] + c["avant_depuis"])  # fmt: skip


def test_parquet_fixture_accounting_offline():
    r = di.load_data_inclusion(PARQUET, DATA / "structures.parquet")
    c = r.counts
    assert c["lus"] == 21 == balance(r)
    # read = used + merged + rejected + remote-only (+ the one non-mobility row, out of scope)
    assert c["lus"] - c["hors_mobilite"] == c["retenus"] + c["fusionnes"] + c["rejetes"] + c[
        "a_distance"]  # fmt: skip
    assert (c["retenus"], c["fusionnes"], c["rejetes"], c["a_distance"]) == (10, 2, 7, 1)
    assert r.by_category() == {"garage_solidaire": 2, "location_solidaire": 2,
                               "auto_ecole_sociale": 1, "atelier_velo": 4,
                               "plateforme_mobilite": 1, "transport_solidaire": 0}  # fmt: skip
    # offline: no geocoding; the rows with an address but no coordinates go to their commune
    assert r.by_precision() == {"coordonnees_fournies": 8, "adresse": 0, "rue": 0, "commune": 2}
    assert any("hors ligne" in w for w in r.warnings)
    s = r.services.set_index("service_id")
    assert s.loc["mes-aides--gsbm", "regle_categorie"] == "mes-aides-garage"
    assert s.loc["mes-aides--gsbm", "sources"] == "dora; mes-aides"
    assert s.loc["mes-aides--gsbm", "doublons"] == 1
    assert s.loc["mobin--gsh", "doublons"] == 1  # best score_qualite kept
    assert s.loc["dora--gsbm-loc", "categorie"] == "location_solidaire"  # same place, other cat.
    assert s.loc["dora--au5v", "regle_categorie"] == "douce-location-velo"
    assert s.loc["dora--wimoov", "reseaux_porteurs"] == "wimoov"
    assert s.loc["dora--mdv", "date_maj"] == "2025-02-10"
    assert s.loc["dora--mdv", "score_qualite"] == pytest.approx(0.6)
    assert s.loc["dora--mdv", "lien_source"].endswith("dora--mdv")
    assert set(s["statut"]) == {""}
    assert list(r.merged["id"]) == ["dora--gsbm", "mes-aides--gsh"]
    assert list(r.merged["fusionne_dans"]) == ["mes-aides--gsbm", "mobin--gsh"]
    assert list(r.remote["id"]) == ["dora--wimoov-tel"]
    assert list(r.remote["categorie"]) == ["plateforme_mobilite"]
    reasons = dict(zip(r.rejects["id"], r.rejects["motif"], strict=True))
    assert "aide financière" in reasons["dora--aide"]
    assert "sans indice" in reasons["dora--autopartage"]
    assert "outre-mer" in reasons["dora--reunion"]
    assert "hors de France" in reasons["dora--swap"]
    assert list(r.rejects["ligne"]) == sorted(r.rejects["ligne"])
    flag = r.flags.set_index("id").loc["dora--decl", "motif"]
    assert "Valenciennes (59606)" in flag and "Lille (59350)" in flag
    # declared commune disagreeing with the coordinates: the coordinates are kept
    assert s.loc["dora--decl", "geometry"].x == pytest.approx(2.991, abs=0.2)
    assert "2 doublons fusionnés" in " ".join(r.summary())


def test_every_published_format_gives_the_same_services(tmp_path):
    ref = di.load_data_inclusion(PARQUET).services
    frame = pd.read_parquet(PARQUET)
    frame["date_maj"] = frame["date_maj"].astype(str)
    geo = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.longitude, frame.latitude),
                           crs="EPSG:4326")  # fmt: skip
    as_text = frame.copy()
    for col in di.LIST_COLUMNS & set(frame.columns):
        as_text[col] = [str(list(v)) for v in frame[col]]
    paths = {
        "csv": DATA / "services.csv",
        "json": tmp_path / "services.json",
        "geojson": tmp_path / "services.geojson",
        "xlsx": tmp_path / "services.xlsx",
    }
    frame.assign(**{c: [list(v) for v in frame[c]] for c in di.LIST_COLUMNS & set(frame)}).to_json(
        paths["json"], orient="records", force_ascii=False
    )
    geo.assign(**{c: as_text[c] for c in di.LIST_COLUMNS & set(frame)}).to_file(
        paths["geojson"], driver="GeoJSON"
    )
    as_text.to_excel(paths["xlsx"], index=False)
    as_lists = frame.assign(
        **{c: [list(v) for v in frame[c]] for c in di.LIST_COLUMNS & set(frame)}
    )
    for orient in ("columns", "split", "index", "table"):  # whatever pandas orient was used
        paths[f"json-{orient}"] = tmp_path / f"services-{orient}.json"
        as_lists.to_json(paths[f"json-{orient}"], orient=orient, force_ascii=False)
    cols = ["service_id", "categorie", "regle_categorie", "precision", "doublons", "sources"]
    for kind, path in paths.items():
        got = di.load_data_inclusion(path).services
        pd.testing.assert_frame_equal(got[cols], ref[cols], obj=kind)
        assert got.geometry.geom_equals_exact(ref.geometry, 1e-9).all(), kind
        assert di.looks_like_data_inclusion(path), kind
    assert di.looks_like_data_inclusion(PARQUET)
    assert not di.looks_like_data_inclusion(Path(di.__file__).parent / "data" / "services.csv")


def test_v0_codes_of_an_old_file():
    r = di.load_data_inclusion(DATA / "services_v0.csv")
    cats = dict(zip(r.services["service_id"], r.services["categorie"], strict=True))
    assert cats == {"dora--lienplus": "location_solidaire", "dora--clef": "auto_ecole_sociale"}
    assert any("v0" in w for w in r.warnings)


def test_depuis_and_zone():
    r = di.load_data_inclusion(PARQUET, depuis="2024-01-01")
    assert r.counts["avant_depuis"] == 1 and balance(r) == r.counts["lus"]
    assert "dora--old" not in set(r.services["service_id"])
    with pytest.raises(ParameterError, match="AAAA-MM-JJ"):
        di.load_data_inclusion(PARQUET, depuis="hier")
    from zonesblanches.geodata.reference import load_departements

    nord = load_departements().set_index("code_departement").loc["59", "geometry"]
    z = di.load_data_inclusion(PARQUET, zone=nord)
    assert set(z.services["code_insee"].str[:2]) == {"59"}
    assert z.counts["hors_zone"] > 0 and balance(z) == z.counts["lus"]
    # a 30 km margin around the Nord reaches Lens (62) but not Soissons (02) or Creil (60)
    wide = di.load_data_inclusion(PARQUET, zone=di.search_zone(nord, 30_000))
    assert set(wide.services["code_insee"].str[:2]) == {"59", "62"}
    with pytest.raises(ParameterError, match="marge"):
        di.search_zone(nord, -1)


def test_download_follows_the_permalink_and_records_the_licence(server, monkeypatch):
    r = di.load_data_inclusion(download=True, progress=False, geocode=False)
    assert r.provenance["licence"] == "etalab-2.0"
    assert r.provenance["telecharge_le"][:4] >= "2026"
    assert r.provenance["mise_a_jour"].startswith("2026-11-23")
    assert server.hits.count(f"/api/1/datasets/r/{RID}") == 1 and server.hits.count(STATIC) == 1
    assert "licence etalab-2.0" in " ".join(r.summary())
    # the structures table comes with it: réseaux porteurs (Mob'In, Wimoov…) and siret
    assert server.hits.count(STATIC_STRUCTURES) == 1
    assert r.services.set_index("service_id").loc["dora--wimoov", "reseaux_porteurs"] == "wimoov"
    # same published version: the cached copy is used, nothing downloaded again
    di.load_data_inclusion(download=True, progress=False, geocode=False)
    assert server.hits.count(STATIC) == 1
    # offline switch: the cached copy, no request at all
    server.hits.clear()
    monkeypatch.setenv("ZONESBLANCHES_HORS_LIGNE", "1")
    again = di.load_data_inclusion(download=True, geocode=False)
    assert server.hits == [] and again.counts == r.counts
    assert again.services["reseaux_porteurs"].tolist() == r.services["reseaux_porteurs"].tolist()
    # without its structures table (not published, or not cached), said, services kept
    folder = di.cached_table("structures")[0].parent
    for name in ("structures.parquet", "structures.parquet.json"):
        (folder / name).unlink()
    alone = di.load_data_inclusion(download=True, geocode=False)
    assert alone.counts == r.counts and set(alone.services["reseaux_porteurs"]) == {""}
    assert any("structures" in w and "laissés vides" in w for w in alone.warnings)


def test_offline_without_cache_says_what_to_do(monkeypatch):
    with pytest.raises(NetworkUnavailableError, match="hors ligne.*parquet"):
        di.load_data_inclusion(download=True)
    with pytest.raises(DataError, match="Aucune copie"):
        di.load_data_inclusion()


def test_geocoding_precision_429_and_cache(server):
    waits: list[float] = []

    def sleep(s):
        waits.append(s)
        time.sleep(min(s, 0.05))

    server.throttle_once = True
    r = di.load_data_inclusion(PARQUET, geocoder=Geocoder(sleep=sleep))
    assert 1.0 in waits  # retry-after obeyed
    assert len(server.posts) == 2  # the 429, then the batch (one request for 4 addresses)
    s = r.services.set_index("service_id")
    assert s.loc["dora--paris-num", "precision"] == "adresse"
    assert s.loc["dora--paris-num", "geometry"].x == pytest.approx(2.272782)
    assert s.loc["dora--paris-rue", "precision"] == "rue"
    assert s.loc["dora--biclou", "precision"] == "commune"  # not found: its commune, flagged
    assert r.by_precision() == {"coordonnees_fournies": 8, "adresse": 1, "rue": 1, "commune": 2}
    flags = r.flags.set_index("id")["motif"]
    assert "introuvable" in flags["dora--biclou"]
    # Paris is outside the bundled communes: no point to fall back on, rejected with both reasons
    reasons = r.rejects.set_index("id")["motif"]
    assert "0.55 sous le seuil 0.60" in reasons["dora--paris-faible"]
    assert "hors du référentiel" in reasons["dora--paris-faible"]
    assert "dora--paris-faible" not in flags
    assert balance(r) == r.counts["lus"] == 21
    # re-run: every answer comes from the cache, no request
    again = di.load_data_inclusion(PARQUET, geocoder=Geocoder(sleep=sleep))
    assert len(server.posts) == 2
    assert again.by_precision() == r.by_precision()


def test_geocoder_timing_out_loses_nothing(server):
    server.delay = 1.0
    geocoder = Geocoder(timeout=(0.2, 0.2), retries=1, sleep=lambda s: None)
    r = di.load_data_inclusion(PARQUET, geocoder=geocoder)
    assert any("ne répond pas" in w for w in r.warnings)
    assert r.counts["lus"] == balance(r) == 21
    assert r.by_precision()["commune"] == 2
    assert "géocodeur indisponible" in r.flags.set_index("id").loc["dora--biclou", "motif"]


def test_geocoder_rate_limit(server):
    geocoder = Geocoder(batch_size=1, max_rate=20)
    sent: list[float] = []
    post = geocoder.session.post

    def timed_post(*args, **kwargs):  # when each request leaves the client
        sent.append(time.monotonic())
        return post(*args, **kwargs)

    geocoder.session.post = timed_post
    addresses = pd.DataFrame({"adresse": list(ANSWERS), "code_insee": ["75116", "75104", ""]})
    answer = geocoder.geocode(addresses)
    assert answer.requests == 3 and len(answer.table) == 3 and len(server.posts) == 3
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert min(gaps) >= 0.049  # 20 requests/s at most
    assert address_key("Rue  François-Marceau", "", "LILLE", "") == "rue francois marceau||lille|"


def test_corrupt_and_foreign_files(tmp_path):
    truncated = tmp_path / "services.parquet"
    truncated.write_bytes(PARQUET.read_bytes()[: len(PARQUET.read_bytes()) // 2])
    with pytest.raises(DataError, match="illisible.*tronqué"):
        di.load_data_inclusion(truncated)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1" + bytes(range(256)) * 4)
    with pytest.raises(DataError, match="parquet illisible"):
        di.load_data_inclusion(garbage)
    other = Path(di.__file__).parent / "data" / "communes_anciennes.csv"
    with pytest.raises(DataError, match="n'est pas la table « services ».*thematiques"):
        di.load_data_inclusion(other)
    with pytest.raises(DataError, match="table « structures »"):
        di.load_data_inclusion(DATA / "structures.parquet")
    empty = tmp_path / "vide.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="vide"):
        di.load_data_inclusion(empty)


def test_rejects_file(tmp_path):
    out = tmp_path / "rejets.csv"
    r = di.load_data_inclusion(PARQUET, rejects_path=out)
    back = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert list(back["id"]) == list(r.rejects["id"]) and {"ligne", "champ", "motif"} <= set(back)


@pytest.mark.parametrize(
    ("them", "type_", "nom", "source", "expected"),
    [
        (["mobilite--acceder-a-un-vehicule"], "aide-materielle", "Garage Pierre", "mes-aides",
         ("garage_solidaire", "mes-aides-garage")),
        (["mobilite--acceder-a-un-vehicule"], "aide-materielle", "Prêt de scooters", "dora",
         ("location_solidaire", "vehicule")),
        (["mobilite--mobilite-douce-partagee-collective"], "accompagnement",
         "Transport à la demande solidaire", "dora", ("transport_solidaire", "douce-transport")),
        (["mobilite--mobilite-douce-partagee-collective"], "formation", "Vélo-école", "dora",
         ("atelier_velo", "douce-atelier-velo")),
        (["mobilite--entretenir-reparer-son-vehicule"], "atelier", "Atelier vélo solidaire",
         "dora", ("atelier_velo", "reparer-velo")),
        (["mobilite--apprendre-a-utiliser-un-deux-roues"], "formation", "Vélo pour tous", "x",
         ("atelier_velo", "douce-velo")),
        (["mobilite--financer-ma-mobilite"], "aide-financiere", "Aide", "x", (None, "financer")),
        (["mobilite--inconnue"], "x", "y", "z", (None, "mobilite-inconnue")),
    ],
)  # fmt: skip
def test_category_rules(them, type_, nom, source, expected):
    assert thematiques.categorize(them, type_, nom, source) == expected


def test_rule_table_is_documented():
    doc = (Path(__file__).parent.parent / "docs" / "categories.md").read_text(encoding="utf-8")
    text = thematiques.format_table()
    for rule in thematiques.RULES:
        assert f"`{rule.code}`" in doc and rule.code in text
    for old in thematiques.V0_TO_V1:
        assert old in doc and old in text


def test_bpe_context_layer():
    l93 = load_bpe(DATA / "bpe_lambert93.csv")
    assert l93.counts == {"lus": 6, "retenus": 3, "autres_types": 1, "sans_coordonnees": 2,
                          "hors_zone": 0}  # fmt: skip
    assert set(l93.equipments["couche"]) == {"offre marchande"}
    assert "categorie" not in l93.equipments  # never a solidarity service
    val = l93.equipments.set_index("code_insee").loc["59606"]
    assert val["equipement"] == "ecole_de_conduite"
    from zonesblanches.geodata.reference import load_communes

    com = load_communes().set_index("code_insee")
    assert (
        val.geometry.distance(shapely.Point(com.loc["59606", "lon"], com.loc["59606", "lat"]))
        < 1e-6
    )
    wgs = load_bpe(DATA / "bpe_wgs84.csv", types=("A301",))
    assert list(wgs.equipments["code_insee"]) == ["59172"]
    with pytest.raises(DataError, match="pas un fichier BPE"):
        load_bpe(DATA / "services.csv")
    with pytest.raises(ParameterError, match="A304"):
        load_bpe(DATA / "bpe_wgs84.csv", types=("B101",))


TO_WGS84 = pyproj.Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)


def _frame_for_merge(xs, ys, cats, structs, names) -> gpd.GeoDataFrame:
    lon, lat = TO_WGS84.transform(np.asarray(xs, float), np.asarray(ys, float))
    n = len(xs)
    data = {c: [""] * n for c in di.OUTPUT_COLUMNS}
    data.update(
        service_id=[f"s{i:03d}" for i in range(n)], categorie=cats, structure_id=structs,
        nom=names, source=[f"src{i % 3}" for i in range(n)], sources=[f"src{i % 3}" for i in range(n)],
        score_qualite=[0.5] * n, precision=["coordonnees_fournies"] * n, doublons=[0] * n,
        _ligne=list(range(1, n + 1)),
    )  # fmt: skip
    return gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 12),  # x in 10 m steps: many pairs around the 50 m limit
            st.integers(0, 12),
            st.sampled_from(["garage_solidaire", "atelier_velo"]),
            st.sampled_from(["", "A", "B"]),
            st.sampled_from(["", "Garage X", "garage x", "Atelier"]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_duplicate_merge_matches_brute_force(rows):
    """Groups merged = connected components of the brute-force « same category, same structure
    or name, within 50 m » graph (networkx), ids kept and dropped alike."""
    import networkx as nx

    from zonesblanches._text import normalize

    xs = [700_000 + 10 * r[0] for r in rows]
    ys = [7_000_000 + 10 * r[1] for r in rows]
    frame = _frame_for_merge(xs, ys, [r[2] for r in rows], [r[3] for r in rows],
                             [r[4] for r in rows])  # fmt: skip
    kept, merged = _merge_duplicates(frame)
    graph = nx.Graph()
    graph.add_nodes_from(range(len(rows)))
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            close = np.hypot(xs[i] - xs[j], ys[i] - ys[j]) <= di.MERGE_DISTANCE_M
            same = (rows[i][3] and rows[i][3] == rows[j][3]) or (
                normalize(rows[i][4]) and normalize(rows[i][4]) == normalize(rows[j][4])
            )
            if close and rows[i][2] == rows[j][2] and same:
                graph.add_edge(i, j)
    expected = {frozenset(f"s{i:03d}" for i in comp) for comp in nx.connected_components(graph)}
    groups: dict[str, set] = {sid: {sid} for sid in kept["service_id"]}
    for dropped, into in zip(merged["id"], merged["fusionne_dans"], strict=True):
        groups[into].add(dropped)
    assert {frozenset(g) for g in groups.values()} == expected
    assert len(kept) + len(merged) == len(rows)
    assert (kept["doublons"] == [len(groups[s]) - 1 for s in kept["service_id"]]).all()


def test_api_down_falls_back_on_the_cached_copy(server):
    first = di.load_data_inclusion(download=True, progress=False, geocode=False)
    server.routes[f"/api/1/datasets/{di.DATASET_ID}/"] = (503, {}, b"indisponible")
    with pytest.warns(UserWarning, match="injoignable.*téléchargée le"):
        again = di.load_data_inclusion(download=True, progress=False, geocode=False)
    assert again.counts == first.counts
    assert again.provenance["licence"] == "etalab-2.0"


def test_truncated_csv_loses_nothing(tmp_path):
    """A download cut mid-row: every row that is there is used, merged, counted or rejected."""
    data = (DATA / "services.csv").read_bytes()
    cut = tmp_path / "services.csv"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    r = di.load_data_inclusion(cut)
    assert 0 < r.counts["lus"] < 21 and balance(r) == r.counts["lus"]


def test_arrondissement_code_places_the_service_in_its_commune(tmp_path):
    """A row without coordinates declared in « 75119 » (Paris 19e) is placed at Paris (75056),
    the commune of the national reference: one INSEE-code path (geodata.communes) for all."""
    from zonesblanches.geodata import reference

    frame = pd.read_parquet(PARQUET).head(1).copy()
    frame["id"] = "dora--paris19"
    frame[["longitude", "latitude"]] = np.nan
    frame[["adresse", "code_postal"]] = ""
    frame["code_insee"] = "75119"
    frame["commune"] = "Paris 19e Arrondissement"
    path = tmp_path / "paris.parquet"
    frame.to_parquet(path)
    communes = reference.load_communes(None)
    r = di.load_data_inclusion(path, communes=communes, geocode=False)
    assert len(r.rejects) == 0
    (point,) = r.services.geometry
    paris = communes.loc[communes["code_insee"] == "75056"].geometry.iloc[0]
    assert paris.contains(point)
    assert r.services["precision"].iloc[0] == "commune"
