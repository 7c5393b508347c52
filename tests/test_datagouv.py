"""data.gouv.fr client and the QPV download, against a local HTTP server started by the tests.

The server answers ``GET /api/1/datasets/{slug}/`` with a dataset payload in the real API v1
shape (keys and types from the udata source, see the format notes), the ``/datasets/r/{id}``
permalink with a 302, and serves a zip built here from the real 2015 QPV fixture (renamed to
the 2024 layout). Resource titles, dates and sizes in the payload are test placeholders, not
the real ones (the live response was not available offline).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest

from zonesblanches.errors import DataError, NetworkUnavailableError
from zonesblanches.geodata import datagouv
from zonesblanches.geodata.qpv import QPV_DATASET, load_qpv

FIXTURE = Path(__file__).parent / "data" / "qpv" / "qp2015_occitanie.geojson"
DATASET_ID = "5a561801c751df42d7fca9b6"
RES_2024 = "942d4ee8-8142-4556-8ea1-335537ce1119"


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}
    hits: list = []

    def do_GET(self):  # noqa: N802 (http.server API)
        self.hits.append(self.path)
        route = self.routes.get(self.path, (404, {}, b'{"message": "Not found"}'))
        status, headers, body = route
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def resource(rid, title, url, fmt, *, modified, mime="application/zip", body=None, **extra):
    """A resource object with every key of the API's resource_fields."""
    res = {
        "id": rid,
        "title": title,
        "description": None,
        "filetype": "file",
        "type": "main",
        "format": fmt,
        "url": url,
        "latest": url.split("/static/")[0] + f"/api/1/datasets/r/{rid}",
        "checksum": {"type": "sha1", "value": hashlib.sha1(body).hexdigest()} if body else None,
        "filesize": len(body) if body else None,
        "mime": mime,
        "created_at": "2024-06-27T10:00:00.000000+00:00",
        "last_modified": modified,
        "metrics": {"views": 0},
        "harvest": None,
        "extras": {"check:available": True, "check:date": "2025-11-17T15:12:47.649000"},
        "preview_url": None,
        "schema": {"name": None, "url": None, "version": None},
        "internal": {"created_at_internal": "2024-06-27T10:00:00+00:00",
                     "last_modified_internal": modified},
    }  # fmt: skip
    res.update(extra)
    return res


def dataset_payload(base: str, resources: list[dict]) -> dict:
    return {
        "id": DATASET_ID,
        "slug": QPV_DATASET,
        "title": "Quartiers prioritaires de la politique de la ville (QPV)",
        "acronym": None,
        "description": "Périmètres des QPV (jeu de test).",
        "description_short": None,
        "created_at": "2018-01-10T15:15:13.000000+00:00",
        "last_modified": "2026-01-16T11:03:50.000000+00:00",
        "last_update": "2026-01-16T11:03:50.000000+00:00",
        "deleted": None,
        "archived": None,
        "private": False,
        "tags": [],
        "badges": [],
        "resources": resources,
        "frequency": "unknown",
        "frequency_date": None,
        "extras": {},
        "harvest": None,
        "metrics": {"views": 0},
        "organization": None,
        "owner": None,
        "schema": None,
        "temporal_coverage": None,
        "spatial": None,
        "license": "lov2",
        "uri": f"{base}/api/1/datasets/{QPV_DATASET}/",
        "page": f"{base}/fr/datasets/{QPV_DATASET}/",
        "quality": {"score": 0.5},
        "internal": {"created_at_internal": "2018-01-10T15:15:13+00:00",
                     "last_modified_internal": "2026-01-16T11:03:50+00:00"},
    }  # fmt: skip


@pytest.fixture(scope="module")
def qpv_zip(tmp_path_factory) -> bytes:
    """The official archive layout, holding the real 2015 fixture renamed to the 2024 fields."""
    folder = tmp_path_factory.mktemp("zip")
    raw = gpd.read_file(FIXTURE)
    layout = raw.rename(
        columns={"nom_qp": "lib_qp", "code_commune": "insee_com", "nom_commune": "lib_com",
                 "code_departement": "insee_dep"}
    ).drop(columns=["commune_qp"])  # fmt: skip
    geojson = folder / "qp.geojson"
    layout.to_file(geojson, driver="GeoJSON")
    archive = folder / "qpv.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(geojson, "GEOJSON/QP2024_France_Hexagonale_Outre_Mer_WGS84.geojson")
        zf.writestr("LISEZMOI.txt", "test")
    return archive.read_bytes()


@pytest.fixture
def server(monkeypatch, tmp_path, qpv_zip):
    handler = type("H", (_Handler,), {"routes": {}, "hits": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv("ZONESBLANCHES_DATAGOUV_API", f"{base}/api/1/")
    monkeypatch.setenv("ZONESBLANCHES_CACHE", str(tmp_path / "cache"))
    static = f"{base}/static/resources/{QPV_DATASET}"
    resources = [
        # producer order is not date order: the 2015 file comes first
        resource("3b5c1a2e-0000-4000-8000-000000002015", "Périmètres QP 2015 (shapefile, test)",
                 f"{static}/20180110-151513/qp-2015.zip", "shp", modified="2018-01-10 15:15:13+01"),
        resource("3b5c1a2e-0000-4000-8000-000000000001", "Périmètres QP 2024 (ancienne, test)",
                 f"{static}/20240627-100000/qp-2024-old.zip", "zip",
                 modified="2024-06-27T10:00:00.000000+00:00"),
        resource(RES_2024, "Périmètres QP 2024 (GEOJSON - GPKG - SHP, test)",
                 f"{static}/20260116-110350/qp2024.zip", "ZIP", body=qpv_zip,
                 modified="2026-01-16T11:03:50.000000+00:00"),
        resource("3b5c1a2e-0000-4000-8000-00000000c5v0", "listeqp2024-cog2024.csv",
                 f"{static}/20260116-110350/listeqp2024-cog2024.csv", "csv", mime="text/csv",
                 modified="2026-01-17T00:00:00+00:00"),
        resource("3b5c1a2e-0000-4000-8000-0000000d0c00", "Notice QP 2024", f"{static}/n.pdf",
                 "pdf", mime="application/pdf", type="documentation",
                 modified="2026-02-01T00:00:00+00:00"),
    ]  # fmt: skip
    payload = json.dumps(dataset_payload(base, resources)).encode()
    json_headers = {"Content-Type": "application/json"}
    handler.routes.update(
        {
            f"/api/1/datasets/{QPV_DATASET}/": (200, json_headers, payload),
            f"/api/1/datasets/{DATASET_ID}/": (200, json_headers, payload),
            f"/static/resources/{QPV_DATASET}/20260116-110350/qp2024.zip": (200, {}, qpv_zip),
            f"/api/1/datasets/r/{RES_2024}": (
                302,
                {"Location": f"{static}/20260116-110350/qp2024.zip"},
                b"",
            ),
        }
    )
    handler.base = base
    handler.static = f"/static/resources/{QPV_DATASET}/20260116-110350/qp2024.zip"
    yield handler
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/1/"


def test_api_url(monkeypatch):
    monkeypatch.delenv("ZONESBLANCHES_DATAGOUV_API", raising=False)
    assert datagouv.api_url() == "https://www.data.gouv.fr/api/1/"
    monkeypatch.setenv("ZONESBLANCHES_DATAGOUV_API", "http://127.0.0.1:9/api/1")
    assert datagouv.api_url() == "http://127.0.0.1:9/api/1/"
    assert datagouv.api_url("http://x/") == "http://x/"


def test_dataset_by_slug_or_id_and_resource_choice(server):
    by_slug = datagouv.get_dataset(QPV_DATASET)
    by_id = datagouv.get_dataset(DATASET_ID)
    assert by_slug == by_id and by_slug["id"] == DATASET_ID
    res = datagouv.pick_resource(by_slug, formats=["zip", "geojson"], title_pattern="2024")
    assert res["id"] == RES_2024  # newest matching, not the first listed
    assert datagouv.pick_resource(by_slug, formats=["csv"])["title"] == "listeqp2024-cog2024.csv"
    old = datagouv.pick_resource(by_slug, formats=["shp"], title_pattern="2015")
    assert old["id"].endswith("2015")
    assert datagouv.resource_formats(old) == {"shp", "zip"}  # from format, mime, URL
    with pytest.raises(DataError, match="Notice QP 2024"):
        datagouv.pick_resource(by_slug, formats=["pdf"])  # documentation is never chosen
    assert datagouv.resource_filename(res) == "qp2024.zip"


def test_download_verifies_and_caches(server):
    path = datagouv.fetch_resource(QPV_DATASET, formats=["zip"], title_pattern="2024",
                                   progress=False)  # fmt: skip
    assert path.name == "qp2024.zip" and zipfile.is_zipfile(path)
    assert RES_2024 in str(path)
    assert (path.parent / "ressource.json").is_file()
    assert server.hits.count(server.static) == 1
    again = datagouv.fetch_resource(QPV_DATASET, formats=["zip"], title_pattern="2024",
                                    progress=False)  # fmt: skip
    assert again == path and server.hits.count(server.static) == 1  # re-used, checksum ok
    path.write_bytes(path.read_bytes()[:-10])  # damaged copy: downloaded again
    datagouv.fetch_resource(QPV_DATASET, formats=["zip"], title_pattern="2024", progress=False)
    assert server.hits.count(server.static) == 2
    assert datagouv._check_file(path, None, None) is None


def test_checksum_mismatch_is_a_dataerror(server):
    payload = json.loads(server.routes[f"/api/1/datasets/{QPV_DATASET}/"][2])
    for res in payload["resources"]:
        if res["id"] == RES_2024:
            res["checksum"]["value"] = "0" * 40
    server.routes[f"/api/1/datasets/{QPV_DATASET}/"] = (200, {}, json.dumps(payload).encode())
    with pytest.raises(DataError, match="altéré"):
        datagouv.fetch_resource(QPV_DATASET, formats=["zip"], title_pattern="2024",
                                progress=False)  # fmt: skip
    leftovers = [p for p in Path(datagouv.cache_dir("telechargements")).rglob("*.zip*")]
    assert leftovers == []  # nothing half-written under the final name


def test_falls_back_on_the_latest_permalink(server, qpv_zip):
    del server.routes[server.static]  # the direct URL is gone: the permalink redirects
    target = "/static/resources/moved/qp2024.zip"
    server.routes[f"/api/1/datasets/r/{RES_2024}"] = (
        302, {"Location": server.base + target}, b""
    )  # fmt: skip
    server.routes[target] = (200, {}, qpv_zip)
    path = datagouv.fetch_resource(QPV_DATASET, formats=["zip"], title_pattern="2024",
                                   progress=False)  # fmt: skip
    assert path.read_bytes() == qpv_zip
    assert server.hits[-3:] == [server.static, f"/api/1/datasets/r/{RES_2024}", target]


def test_load_qpv_downloads_through_the_api(server):
    qpv = load_qpv(download=True, progress=False)
    assert len(qpv) == 105
    assert qpv.crs == "EPSG:4326" and qpv.is_valid.all()
    assert qpv.set_index("code_qp").loc["QP065003", "nom_communes"] == "Séméac; Tarbes"
    assert f"/api/1/datasets/{QPV_DATASET}/" in server.hits


def test_offline_message_and_cache_fallback(server, monkeypatch):
    first = load_qpv(download=True, progress=False)
    monkeypatch.setenv("ZONESBLANCHES_DATAGOUV_API", closed_port_url())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cached = load_qpv(download=True, progress=False)
    assert len(cached) == len(first)
    assert any("cache" in str(w.message) for w in caught)


def test_offline_without_cache_says_where_to_get_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("ZONESBLANCHES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ZONESBLANCHES_DATAGOUV_API", closed_port_url())
    with pytest.raises(NetworkUnavailableError) as err:
        load_qpv(download=True, progress=False)
    msg = str(err.value)
    assert "--qpv FICHIER" in msg
    assert "https://www.data.gouv.fr/fr/datasets/quartiers-prioritaires" in msg


def test_http_errors(server):
    with pytest.raises(DataError, match="introuvable"):
        datagouv.get_dataset("jeu-qui-n-existe-pas")
    server.routes[f"/api/1/datasets/{QPV_DATASET}/"] = (503, {}, b"maintenance")
    with pytest.raises(NetworkUnavailableError, match="HTTP 503"):
        datagouv.get_dataset(QPV_DATASET, hint="Passez-le avec --qpv FICHIER.")
    server.routes[f"/api/1/datasets/{QPV_DATASET}/"] = (200, {}, b"<html>pas du json</html>")
    with pytest.raises(DataError, match="JSON"):
        datagouv.get_dataset(QPV_DATASET)


def test_no_matching_resource_says_what_to_do(server):
    with pytest.raises(DataError, match="--qpv FICHIER") as err:
        datagouv.fetch_resource(
            QPV_DATASET, formats=["gpkg"], title_pattern="2030", progress=False,
            hint="Passez-le avec --qpv FICHIER.",
        )  # fmt: skip
    assert "Périmètres QP 2024" in str(err.value)  # the titles on offer are listed


def test_extract_from_zip(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("SHP/QP2024_France_hexagonale_LB93.shp", b"shp")
        zf.writestr("SHP/QP2024_France_hexagonale_LB93.DBF", b"dbf")
        zf.writestr("SHP/QP2024_France_hexagonale_LB93.prj", b"prj")
        zf.writestr("SHP/QP2024_Guyane_RGF95_UTM22N.shp", b"x")
        zf.writestr("__MACOSX/._x.geojson", b"")
    out = datagouv.extract_from_zip(
        archive, ["*.geojson", "*hexagonale*.shp"], dest_dir=tmp_path / "x"
    )
    assert out.name == "QP2024_France_hexagonale_LB93.shp"
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "QP2024_France_hexagonale_LB93.DBF",
        "QP2024_France_hexagonale_LB93.prj",
        "QP2024_France_hexagonale_LB93.shp",
    ]
    with pytest.raises(DataError, match="aucun fichier attendu"):
        datagouv.extract_from_zip(archive, ["*.gpkg"], dest_dir=tmp_path / "y")
    not_zip = tmp_path / "b.zip"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="zip lisible"):
        datagouv.extract_from_zip(not_zip, ["*"])
