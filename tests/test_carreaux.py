"""Filosofi gridded data: layouts of every vintage, geometry from the ids, territory, download.

Data (tests/data/carreaux, see SOURCE.md):
- carreaux_200m_test.csv: a hand-made 5 × 4 grid in the official 2019/2021 layout, synthetic
  values, real coordinates (astride La Sentinelle and Valenciennes);
- filosofi2015_extrait_paris.csv, filosofi2017_extrait_corse.csv: one real INSEE row each, with
  the real 2015 and 2017 headers.
The 2015/2017 layouts of the test grid are made in the tests by renaming its columns.
"""

from __future__ import annotations

import csv
import http.server
import socket
import sys
import threading
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from route_server import RouteHandler
from shapely.geometry import box

from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import DataError, NetworkUnavailableError, ParameterError
from zonesblanches.geodata.carreaux import (
    aggregate_carreaux,
    carreaux_demand,
    load_carreaux,
    parse_idcar,
    parse_lcog_geo,
)

DATA = Path(__file__).parent / "data" / "carreaux"
GRID = DATA / "carreaux_200m_test.csv"


def columns(header: str) -> list[str]:
    return header.split(",")


COUNTS = ["ind", "men", "men_pauv", "ind_0_3", "ind_80p", "men_surf", "log_soc"]

HEADER_2015 = columns(
    "IdINSPIRE,Id_carr1km,I_est_cr,Id_carr_n,Groupe,Depcom,I_pauv,Id_car2010,Ind,Men,Men_pauv,"
    "Men_1ind,Men_5ind,Men_prop,Men_fmp,Ind_snv,Men_surf,Men_coll,Men_mais,Log_av45,Log_45_70,"
    "Log_70_90,Log_ap90,Log_inc,Log_soc,Ind_0_3,Ind_4_5,Ind_6_10,Ind_11_17,Ind_18_24,Ind_25_39,"
    "Ind_40_54,Ind_55_64,Ind_65_79,Ind_80p,Ind_inc,I_est_1km"
)
HEADER_2017 = columns(
    "Idcar_200m,I_est_200,Idcar_1km,I_est_1km,Idcar_nat,Groupe,Ind,Men_1ind,Men_5ind,Men_prop,"
    "Men_fmp,Ind_snv,Men_surf,Men_coll,Men_mais,Log_av45,Log_45_70,Log_70_90,Log_ap90,Log_inc,"
    "Log_soc,Ind_0_3,Ind_4_5,Ind_6_10,Ind_11_17,Ind_18_24,Ind_25_39,Ind_40_54,Ind_55_64,"
    "Ind_65_79,Ind_80p,Ind_inc,Men_pauv,Men,lcog_geo"
)
TO_2019 = {
    "idinspire": "idcar_200m", "id_carr1km": "idcar_1km", "i_est_cr": "i_est_200",
    "id_carr_n": "idcar_nat", "depcom": "lcog_geo",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZONESBLANCHES_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(GRID, dtype={"lcog_geo": str})


@pytest.fixture(scope="module")
def cells() -> gpd.GeoDataFrame:
    return load_carreaux(GRID, progress=False)


@pytest.fixture(scope="module")
def communes() -> gpd.GeoDataFrame:
    return gpd.read_file(DATA / "communes_valenciennes_la_sentinelle.geojson")


def write_layout(raw: pd.DataFrame, header: list[str], path: Path, quoted=()) -> Path:
    """Write the test grid under another vintage's header (renamed, reordered columns)."""
    extra = {"groupe": "1", "i_pauv": "0", "id_car2010": None}
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for _, rec in raw.iterrows():
            out = []
            for name in header:
                key = TO_2019.get(name.lower(), name.lower())
                if key in rec.index:
                    value = rec[key]
                    if key == "lcog_geo" and name == "Depcom":
                        value = str(value)[:5]  # 2015: one commune code
                elif key == "id_car2010":
                    value = rec["idcar_200m"]
                else:
                    value = extra[key]
                value = f"{value:g}" if isinstance(value, float) else str(value)
                out.append(f'"{value}"' if name in quoted else value)
            f.write(",".join(out) + "\n")
    return path


def test_official_layout(raw, cells):
    assert len(cells) == len(raw) == 20
    assert list(cells.columns[:6]) == ["idcar", "resolution", "ind", "men", "men_pauv", "ind_0_3"]
    assert cells.crs == WGS84
    assert (cells["resolution"] == 200).all()
    assert cells["idcar"].tolist() == raw["idcar_200m"].tolist()
    for col in COUNTS:
        assert cells[col].tolist() == raw[col].astype(float).tolist()
    assert cells["i_est"].tolist() == raw["i_est_200"].tolist()
    assert cells["communes_insee"].iloc[0] == "59564; 59606"  # "5956459606" in the file
    assert set(cells["communes_insee"]) == {"59564", "59606", "59564; 59606"}
    # exact squares from the ids: lower-left corner = N/E of the id, 200 m sides, in EPSG:3035
    laea = cells.to_crs(3035)
    decoded = parse_idcar(cells["idcar"])
    bounds = laea.bounds.to_numpy()
    assert np.allclose(bounds[:, 0], decoded["x0"], atol=1e-3)
    assert np.allclose(bounds[:, 1], decoded["y0"], atol=1e-3)
    assert np.allclose(laea.area, 40_000, rtol=1e-9)
    assert shapely.union_all(cells.geometry.values).geom_type == "Polygon"  # no gap, no overlap


def test_cells_lie_on_the_real_communes(cells, communes):
    """The grid sits on the real outlines its lcog_geo was computed from."""
    outline = shapely.union_all(communes.to_crs(LAMBERT93).geometry.values)
    centres = cells.to_crs(LAMBERT93).centroid
    assert centres.within(outline).all()
    metric = cells.to_crs(LAMBERT93)
    for _, cell in metric.iterrows():
        touched = communes.to_crs(LAMBERT93)
        touched = touched[touched.intersection(cell.geometry).area > 1]
        assert "; ".join(sorted(touched["code_insee"])) == cell["communes_insee"]


def test_vintage_layouts_give_the_same_cells(raw, cells, tmp_path):
    v2015 = write_layout(
        raw, HEADER_2015, tmp_path / "Filosofi2015_carreaux_200m_metropole.csv",
        quoted=("I_est_cr", "Groupe", "Depcom", "I_pauv", "I_est_1km"),
    )  # fmt: skip
    v2017 = write_layout(raw, HEADER_2017, tmp_path / "Filosofi2017_carreaux_200m_met.csv")
    quoted = raw.copy()
    quoted["lcog_geo"] = [",".join(parse_lcog_geo(v).split("; ")) for v in raw["lcog_geo"]]
    v2021 = tmp_path / "carreaux_200m_met.csv"
    quoted.to_csv(v2021, index=False)  # pandas quotes "59564,59606" like the 2021 file
    assert '"59564,59606"' in v2021.read_text()
    for path in (v2015, v2017, v2021):
        got = load_carreaux(path, progress=False)
        assert got["idcar"].tolist() == cells["idcar"].tolist(), path.name
        for col in COUNTS:
            assert got[col].tolist() == cells[col].tolist(), (path.name, col)
        assert got["i_est"].tolist() == cells["i_est"].tolist()
        assert got.geom_equals_exact(cells.geometry, tolerance=0).all()
    assert (
        load_carreaux(v2021, progress=False)["communes_insee"].tolist()
        == cells["communes_insee"].tolist()
    )
    assert "groupe" not in load_carreaux(v2015, progress=False).columns  # text, dropped


def test_real_rows_2015_paris_and_2017_corsica():
    paris = load_carreaux(DATA / "filosofi2015_extrait_paris.csv", progress=False).iloc[0]
    assert paris["idcar"] == "CRS3035RES200mN2893400E3763200"
    assert (paris["ind"], paris["men"], paris["men_pauv"]) == (2818.5, 990.0, 280.0)
    assert paris["communes_insee"] == "75119" and paris["i_est"] == 0
    assert paris["idcar_1km"] == "CRS3035RES1000mN2893000E3763000"
    c = paris.geometry.centroid
    assert 2.25 < c.x < 2.42 and 48.81 < c.y < 48.91  # in Paris
    corse = load_carreaux(DATA / "filosofi2017_extrait_corse.csv", progress=False).iloc[0]
    assert corse["men"] == 0.9 and corse["ind"] == 2 and corse["i_est"] == 1
    assert corse["communes_insee"] == "2A041"
    c = corse.geometry.centroid
    assert 8.5 < c.x < 9.6 and 41.3 < c.y < 43.1  # in Corsica


def test_mask_keeps_cells_whose_centre_is_inside(cells, communes):
    valenciennes = communes[communes["code_insee"] == "59606"]
    got = load_carreaux(GRID, mask=valenciennes, progress=False)
    centres = cells.to_crs(LAMBERT93).centroid.to_crs(WGS84)
    expected = cells[centres.within(valenciennes.geometry.iloc[0]).to_numpy()]
    assert got["idcar"].tolist() == expected["idcar"].tolist()
    assert 0 < len(got) < len(cells)
    same = load_carreaux(GRID, mask=valenciennes.geometry.iloc[0], progress=False, chunksize=3)
    assert same["idcar"].tolist() == got["idcar"].tolist()
    lb93 = load_carreaux(GRID, mask=valenciennes.to_crs(LAMBERT93), crs=LAMBERT93, progress=False)
    assert lb93.crs == LAMBERT93 and lb93["idcar"].tolist() == got["idcar"].tolist()
    with pytest.raises(DataError, match="Aucun carreau"):
        load_carreaux(GRID, mask=box(2.3, 49.9, 2.4, 50.0), progress=False)


def test_geopackage_in_lambert93_is_rebuilt_from_the_ids(raw, cells, tmp_path):
    """The 2021 GeoPackage stores Lambert-93 squares with LAEA ids: the ids win."""
    frame = raw.rename(columns={"idcar_200m": "Idcar_200m", "ind": "Ind"})
    gpkg = tmp_path / "carreaux_200m.gpkg"
    squares = cells.to_crs(LAMBERT93).geometry.values
    gpd.GeoDataFrame(frame, geometry=squares, crs=LAMBERT93).to_file(
        gpkg, layer="carreaux_200m_met", driver="GPKG"
    )
    gpd.GeoDataFrame(frame.head(2), geometry=squares[:2], crs=LAMBERT93).to_file(
        gpkg, layer="carreaux_200m_reun", driver="GPKG"
    )
    got = load_carreaux(gpkg, progress=False)
    assert got["idcar"].tolist() == cells["idcar"].tolist()
    assert got["ind"].tolist() == cells["ind"].tolist()
    assert got.geom_equals_exact(cells.geometry, tolerance=0).all()
    assert len(load_carreaux(gpkg, territory="reun", progress=False)) == 2
    with pytest.raises(DataError, match="couche"):
        load_carreaux(gpkg, layer="absente", progress=False)
    nogeo_ids = tmp_path / "sans_id.gpkg"
    gpd.GeoDataFrame(raw.drop(columns=["idcar_200m", "idcar_1km"]), geometry=squares,
                     crs=LAMBERT93).to_file(nogeo_ids, driver="GPKG")  # fmt: skip
    kept = load_carreaux(nogeo_ids, progress=False)
    assert kept["ind"].tolist() == cells["ind"].tolist()
    areas = kept.to_crs(3035).area
    assert np.allclose(areas, 40_000, rtol=1e-6)


def test_demand_units_from_cells(cells, communes):
    units = carreaux_demand(cells, communes)
    assert len(units) == len(cells) and (units.geom_type == "Point").all()
    assert units["population"].tolist() == cells["ind"].tolist()
    assert units["idcar"].tolist() == cells["idcar"].tolist()
    # each centre's commune, checked against a plain point-in-polygon test
    for (_, unit), centre in zip(units.iterrows(), units.geometry, strict=True):
        holder = communes[communes.contains(centre)]
        assert unit["code_insee"] == holder["code_insee"].iloc[0]
        assert unit["code_epci"] == holder["code_epci"].iloc[0]
    assert set(units["code_epci"]) == {"200042190", "245901160"}
    squares = carreaux_demand(cells, as_points=False)
    assert squares.geom_equals_exact(cells.geometry, tolerance=0).all()
    # a centre in no commune (here: Valenciennes missing) gets the nearest one
    only_one = carreaux_demand(cells, communes[communes["code_insee"] == "59564"])
    assert set(only_one["code_insee"]) == {"59564"}


def test_aggregate_to_1km(cells, tmp_path):
    km = aggregate_carreaux(cells)
    assert len(km) == 4 and (km["resolution"] == 1000).all()
    assert km["ind"].sum() == cells["ind"].sum()
    north_east = km.set_index("idcar").loc["CRS3035RES1000mN3047000E3858000"]
    # rows r1..r3 × columns c2..c4 of the grid
    assert north_east["ind"] == 120 + 310 + 260 + 80 + 205 + 190 + 30.5 + 60 + 150
    assert north_east["communes_insee"] == "59564; 59606"
    assert np.allclose(km.to_crs(3035).area, 1e6, rtol=1e-9)
    direct = load_carreaux(GRID, resolution=1000, progress=False)
    assert direct["ind"].tolist() == km["ind"].tolist()
    # a 1 km file in the 2021 layout (idcar_1km is the cell id) [layout UNVERIFIED]
    onekm = tmp_path / "carreaux_1km_met.csv"
    table = km.drop(columns=["geometry", "resolution"]).rename(columns={"idcar": "idcar_1km"})
    table = table.rename(columns={"i_est": "i_est_1km", "communes_insee": "lcog_geo"})
    table["lcog_geo"] = table["lcog_geo"].str.replace("; ", "")
    table.to_csv(onekm, index=False)
    got = load_carreaux(onekm, progress=False)
    assert (got["resolution"] == 1000).all() and got["ind"].tolist() == km["ind"].tolist()
    assert got["communes_insee"].tolist() == km["communes_insee"].tolist()


def test_zip_and_nested_7z_archives(tmp_path):
    py7zr = pytest.importorskip("py7zr")
    archive = tmp_path / "Filosofi2021_carreaux_200m_csv.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(DATA / "filosofi2017_extrait_corse.csv", "carreaux_200m_reun.csv")
        zf.write(GRID, "carreaux_200m_met.csv")
    assert len(load_carreaux(archive, progress=False)) == 20
    assert len(load_carreaux(archive, territory="reun", progress=False)) == 1
    seven = tmp_path / "Filosofi2019_carreaux_200m_csv.7z"
    with py7zr.SevenZipFile(seven, "w") as z:
        z.write(GRID, "Filosofi2019_carreaux_200m_met.csv")
    nested = tmp_path / "Filosofi2019_carreaux_200m_csv.zip"
    with zipfile.ZipFile(nested, "w") as zf:
        zf.write(seven, seven.name)
    assert len(load_carreaux(nested, progress=False)) == 20
    assert len(load_carreaux(seven, progress=False)) == 20


@pytest.mark.filterwarnings("ignore:GPKG")
def test_errors(tmp_path):
    with pytest.raises(DataError, match="--carreaux FICHIER"):
        load_carreaux()
    with pytest.raises(DataError, match="introuvable"):
        load_carreaux(tmp_path / "absent.csv")
    with pytest.raises(ParameterError):
        load_carreaux(GRID, resolution=500)
    not_filosofi = tmp_path / "communes.csv"
    not_filosofi.write_text("code_insee,population\n59606,42000\n")
    with pytest.raises(DataError, match="identifiant de carreau"):
        load_carreaux(not_filosofi, progress=False)
    no_ind = tmp_path / "sans_ind.csv"
    no_ind.write_text("idcar_200m,population\nCRS3035RES200mN3047400E3857600,40\n")
    with pytest.raises(DataError, match="« ind »"):
        load_carreaux(no_ind, progress=False)
    empty = tmp_path / "vide.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="vide"):
        load_carreaux(empty, progress=False)
    bad_ids = tmp_path / "ids.csv"
    bad_ids.write_text("idcar_200m,ind\nnimportequoi,3\n")
    with pytest.raises(DataError, match="Aucun carreau"):
        load_carreaux(bad_ids, progress=False)
    corrupt = tmp_path / "abime.gpkg"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(DataError, match="illisible"):
        load_carreaux(corrupt, progress=False)


def test_id_and_commune_parsing():
    ids = pd.Series(
        ["CRS3035RES200mN2029800E4254200", "CRS2975RES200mN7634200E359400", "N2893400E3763200", "x"]
    )
    d = parse_idcar(ids, default_resolution=200)
    assert d["epsg"].tolist()[:3] == [3035, 2975, 3035]
    assert d["x0"].tolist()[:3] == [4254200, 359400, 3763200]
    assert d["y0"].tolist()[:3] == [2029800, 7634200, 2893400]
    assert d.iloc[3].isna().all()
    # the vectorised (pyarrow) path and the pandas fallback agree
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "pyarrow", None)
        slow = parse_idcar(ids, default_resolution=200)
    pd.testing.assert_frame_equal(slow, d)
    assert parse_lcog_geo("7737393051") == "77373; 93051"
    assert parse_lcog_geo('"2A041,2A247"') == "2A041; 2A247"
    assert parse_lcog_geo(None) == ""


# ---------------------------------------------------------------- download (local server only)


class _Handler(RouteHandler):
    routes: dict[str, tuple[int, bytes]] = {}
    hits: list[str] = []


@pytest.fixture
def insee_server(monkeypatch):
    handler = type("H", (_Handler,), {"routes": {}, "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/fr/statistiques/fichier/"
    monkeypatch.setenv("ZONESBLANCHES_INSEE_URL", base)
    yield handler
    server.shutdown()
    server.server_close()


def test_download_from_a_local_insee_server(insee_server, tmp_path, communes):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(GRID, "carreaux_200m_met.csv")
    path = "/fr/statistiques/fichier/8735162/Filosofi2021_carreaux_200m_csv.zip"
    insee_server.routes[path] = (200, archive.read_bytes())
    valenciennes = communes[communes["code_insee"] == "59606"]
    got = load_carreaux(download=True, mask=valenciennes, progress=False)
    assert 0 < len(got) < 20
    again = load_carreaux(download=True, progress=False)  # from the cache
    assert len(again) == 20
    assert insee_server.hits == [path]


def test_download_refused_or_offline_says_what_to_do(insee_server, monkeypatch):
    with pytest.raises(NetworkUnavailableError, match="--carreaux FICHIER") as err:
        load_carreaux(download=True, progress=False)  # the server answers 404
    assert "insee.fr/fr/statistiques/8735162" in str(err.value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ZONESBLANCHES_INSEE_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(NetworkUnavailableError, match="--carreaux FICHIER"):
        load_carreaux(download=True, progress=False)
