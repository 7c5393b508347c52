"""QPV loader: the 2015 and 2024 layouts through one function.

Fixture: tests/data/qpv/qp2015_occitanie.geojson, 105 real QPV 2015 outlines of Occitanie in
the official field layout (see SOURCE.md). The real 2024 file is not available offline, so the
2024-layout file used here is **made from the 2015 fixture by renaming its fields** to the 2024
names (``nom_qp`` → ``lib_qp``…) and adding ``insee_com``/``siren_epci`` looked up in
communes_epci_occitanie.csv (decoupage-administratif, real codes): the quartiers are still the
2015 ones, only the layout is 2024's.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata.qpv import (
    fill_from_communes,
    load_qpv,
    normalize_insee,
    normalize_qpv,
    split_codes,
)

DATA = Path(__file__).parent / "data" / "qpv"
FIXTURE = DATA / "qp2015_occitanie.geojson"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZONESBLANCHES_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def raw() -> gpd.GeoDataFrame:
    return gpd.read_file(FIXTURE)


@pytest.fixture(scope="module")
def lookup() -> pd.DataFrame:
    return pd.read_csv(DATA / "communes_epci_occitanie.csv", dtype=str)


def make_2024_layout(raw: gpd.GeoDataFrame, lookup: pd.DataFrame) -> gpd.GeoDataFrame:
    """The 2015 fixture with the 2024 field names (renamed; codes from the lookup table)."""
    code_of = {(r.code_departement, r.nom): r.code_insee for r in lookup.itertuples()}
    epci_of = dict(zip(lookup["code_insee"], lookup["code_epci"], strict=True))
    epci_name = dict(zip(lookup["code_epci"], lookup["nom_epci"], strict=True))
    codes = [
        [code_of[(dep, name.strip())] for name in names.split(",")]
        for dep, names in zip(raw["code_departement"], raw["nom_commune"], strict=True)
    ]
    sirens = [list(dict.fromkeys(epci_of[c] for c in cs)) for cs in codes]
    return gpd.GeoDataFrame(
        {
            "code_qp": raw["code_qp"],
            "lib_qp": raw["nom_qp"],
            "insee_dep": raw["code_departement"],
            "insee_com": [", ".join(cs) for cs in codes],  # the 2024 file joins with ", "
            "lib_com": raw["nom_commune"],
            "siren_epci": [", ".join(s) for s in sirens],
            "lib_epci": [", ".join(epci_name[e] for e in s) for s in sirens],
        },
        geometry=raw.geometry,
        crs=raw.crs,
    )


def test_2015_fixture(raw):
    qpv = load_qpv(FIXTURE)
    assert len(qpv) == len(raw) == 105
    assert list(qpv.columns) == [
        "code_qp", "nom_qp", "communes_insee", "nom_communes", "siren_epci", "nom_epci",
        "code_departement", "generation", "geometry",
    ]  # fmt: skip
    assert qpv.crs == WGS84
    assert (qpv["generation"] == 2015).all()
    assert qpv["code_qp"].is_monotonic_increasing
    assert qpv.is_valid.all() and (qpv.geom_type == "MultiPolygon").all()
    assert (~raw.is_valid).sum() > 0  # the fixture has invalid rings, repaired by the loader
    tarbes = qpv.set_index("code_qp").loc["QP065003"]
    assert tarbes["nom_communes"] == "Séméac; Tarbes"  # "Séméac, Tarbes" in the file
    assert tarbes["communes_insee"] == "65440"
    assert tarbes["code_departement"] == "65"
    assert qpv.set_index("code_qp").loc["QP009001", "communes_insee"] == "09261"
    # same outlines as the file, up to the repair of invalid rings
    areas = qpv.to_crs(LAMBERT93).area.to_numpy()
    raw_areas = raw.set_index("code_qp").loc[qpv["code_qp"]].to_crs(LAMBERT93)
    raw_areas = shapely.area(shapely.make_valid(raw_areas.geometry.values))
    assert areas == pytest.approx(raw_areas, rel=1e-6)


def test_2024_layout_made_from_the_2015_fixture(raw, lookup, tmp_path):
    path = tmp_path / "qp2024_layout.geojson"
    make_2024_layout(raw, lookup).to_file(path, driver="GeoJSON")
    qpv = load_qpv(path)
    ref = load_qpv(FIXTURE)
    assert qpv["code_qp"].tolist() == ref["code_qp"].tolist()
    assert qpv["nom_qp"].tolist() == ref["nom_qp"].tolist()
    assert qpv.geom_equals_exact(ref.geometry, tolerance=1e-9).all()
    # the codes stay QP…: the generation comes from the code, these are 2015 quartiers
    assert (qpv["generation"] == 2015).all()
    tarbes = qpv.set_index("code_qp").loc["QP065003"]
    assert tarbes["communes_insee"] == "65417; 65440"
    assert split_codes(tarbes["communes_insee"]) == ["65417", "65440"]
    assert tarbes["siren_epci"] == "200069300"
    assert tarbes["nom_epci"] == "CA Tarbes-Lourdes-Pyrénées"
    assert (qpv["siren_epci"].str.fullmatch(r"\d{9}(; \d{9})*")).all()
    only = load_qpv(path, epci="200069300")
    assert set(only["code_departement"]) == {"65"}
    assert "QP065003" in set(only["code_qp"])


def test_generation_2024_from_qn_codes(raw, lookup, tmp_path):
    frame = make_2024_layout(raw, lookup).head(3)
    frame["code_qp"] = frame["code_qp"].str.replace("QP", "QN", regex=False) + "M"
    qpv = normalize_qpv(frame)
    assert (qpv["generation"] == 2024).all()


def test_capitalised_shapefile_in_lambert93_with_integer_codes(raw, tmp_path):
    """Field names as in QP_METROPOLE_LB93.shp, codes as integers (leading zero lost)."""
    frame = gpd.GeoDataFrame(
        {
            "CODE_QP": raw["code_qp"],
            "NOM_QP": "  " + raw["nom_qp"] + " ",
            "COMMUNE_QP": raw["commune_qp"],
            "CODE_INSEE": raw["code_commune"].astype(int),
        },
        geometry=raw.geometry,
        crs=raw.crs,
    ).to_crs(LAMBERT93)
    path = tmp_path / "QP_METROPOLE_LB93.shp"
    frame.to_file(path, encoding="utf-8")
    qpv = load_qpv(path)
    ref = load_qpv(FIXTURE)
    assert qpv.crs == WGS84
    assert qpv["nom_qp"].tolist() == ref["nom_qp"].tolist()  # trimmed
    assert qpv.set_index("code_qp").loc["QP009001", "communes_insee"] == "09261"
    assert (qpv["communes_insee"].str.len() == 5).all()
    assert qpv.set_index("code_qp").loc["QP065003", "nom_communes"] == "Tarbes"
    assert qpv.is_valid.all()
    # outlines valid in the file come back within a centimetre (invalid ones are repaired in
    # another CRS, so their repair may differ by the 4-decimal rounding of the file, ~11 m)
    valid = raw.set_index("code_qp").loc[ref["code_qp"]].is_valid.to_numpy()
    d = shapely.hausdorff_distance(
        qpv.to_crs(LAMBERT93).geometry.values[valid], ref.to_crs(LAMBERT93).geometry.values[valid]
    )
    assert d.max() < 0.01  # metres


def test_zip_archive_prefers_the_wgs84_geojson(raw, lookup, tmp_path):
    layout = make_2024_layout(raw, lookup)
    geojson, gpkg = tmp_path / "a.geojson", tmp_path / "b.gpkg"
    layout.to_file(geojson, driver="GeoJSON")
    layout.head(5).to_crs(LAMBERT93).to_file(gpkg, driver="GPKG")
    archive = tmp_path / "qpv.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(gpkg, "GPKG/QP2024_France_hexagonale_LB93.gpkg")
        zf.write(geojson, "GEOJSON/QP2024_France_Hexagonale_Outre_Mer_WGS84.GeoJSON")
    assert len(load_qpv(archive)) == 105
    only_gpkg = tmp_path / "gpkg.zip"
    with zipfile.ZipFile(only_gpkg, "w") as zf:
        zf.write(gpkg, "GPKG/QP2024_France_hexagonale_LB93.gpkg")
    qpv = load_qpv(only_gpkg)
    assert len(qpv) == 5 and qpv.crs == WGS84


def test_communes_by_overlay_keep_every_commune_and_epci(raw):
    """2015 layout (names only) + a communes table: codes and EPCI from the overlay.

    The two communes are synthetic (the real outlines of Occitanie are not in the test data):
    the bounding box of the real QPV Tarbes Est is split into a western and an eastern half.
    """
    names_only = raw[["code_qp", "nom_qp", "commune_qp", "geometry"]]
    qpv = normalize_qpv(names_only)
    assert (qpv["communes_insee"] == "").all()
    minx, miny, maxx, maxy = qpv.set_index("code_qp").loc["QP065003"].geometry.bounds
    mid = (minx + maxx) / 2
    communes = gpd.GeoDataFrame(
        {
            "code_insee": ["99001", "99002", "99003"],
            "nom": ["Commune synthétique Ouest", "Commune synthétique Est", "Voisine synthétique"],
            "code_epci": ["999000001", "999000002", "999000002"],
        },
        geometry=[
            box(minx - 0.01, miny - 0.01, mid, maxy + 0.01),
            box(mid, miny - 0.01, maxx + 0.01, maxy + 0.01),
            box(maxx + 0.01, miny, maxx + 0.02, maxy),  # touches nothing of the QPV
        ],
        crs=WGS84,
    )
    filled = fill_from_communes(qpv, communes)
    tarbes = filled.set_index("code_qp").loc["QP065003"]
    assert set(split_codes(tarbes["communes_insee"])) == {"99001", "99002"}
    assert set(split_codes(tarbes["siren_epci"])) == {"999000001", "999000002"}
    assert tarbes["nom_communes"] == "Tarbes"  # the file's names are kept
    far = ~qpv.intersects(shapely.union_all(communes.geometry.values))
    assert (filled.loc[far, "communes_insee"] == "").all()
    assert (filled.loc[~far, "communes_insee"] != "").all()
    # a sliver below min_overlap is dropped, the main commune always kept
    thin = communes.copy()
    thin.loc[1, "geometry"] = box(maxx - 1e-5, miny, maxx + 0.01, maxy)
    filled = fill_from_communes(qpv, thin, min_overlap=0.05)
    assert filled.set_index("code_qp").loc["QP065003", "communes_insee"] == "99001"
    loaded = load_qpv(FIXTURE, communes=communes)  # file codes win over the overlay
    assert loaded.set_index("code_qp").loc["QP065003", "communes_insee"] == "65440"


def test_mask_and_clip():
    full = load_qpv(FIXTURE)
    perpignan = full[full["communes_insee"] == "66136"]
    area = box(*perpignan.total_bounds)
    kept = load_qpv(FIXTURE, mask=area)
    assert set(kept["code_qp"]) == set(perpignan["code_qp"])
    cut = load_qpv(FIXTURE, mask=box(*perpignan.total_bounds).buffer(-0.005), clip=True)
    inner = box(*perpignan.total_bounds).buffer(-0.005)
    assert cut.is_valid.all()
    assert shapely.covered_by(cut.geometry.values, inner.buffer(1e-9)).all()
    assert cut.to_crs(LAMBERT93).area.sum() < kept.to_crs(LAMBERT93).area.sum()
    nothing = load_qpv(FIXTURE, mask=box(2.3, 50.2, 2.4, 50.3))  # in Hauts-de-France: none
    assert len(nothing) == 0 and list(nothing.columns)[-1] == "geometry"


def test_errors_are_french_dataerrors(tmp_path):
    with pytest.raises(DataError, match="--qpv FICHIER"):
        load_qpv()
    with pytest.raises(DataError, match="introuvable"):
        load_qpv(tmp_path / "absent.geojson")
    other = tmp_path / "communes.geojson"
    gpd.GeoDataFrame({"code": ["59606"], "nom": ["Valenciennes"]}, geometry=[box(0, 0, 1, 1)],
                     crs=WGS84).to_file(other)  # fmt: skip
    with pytest.raises(DataError, match="champs attendus"):
        load_qpv(other)
    empty = tmp_path / "vide.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(DataError):
        load_qpv(empty)
    zero = tmp_path / "zero.geojson"
    zero.write_bytes(b"")
    with pytest.raises(DataError, match="vide"):
        load_qpv(zero)
    corrupt = tmp_path / "abime.gpkg"
    corrupt.write_bytes(FIXTURE.read_bytes()[:5000])
    with pytest.raises(DataError, match="illisible"):
        load_qpv(corrupt)
    truncated = tmp_path / "tronque.geojson"
    truncated.write_bytes(FIXTURE.read_bytes()[:5000])
    with pytest.raises(DataError):
        load_qpv(truncated)
    csv = tmp_path / "listeqp2024.csv"
    csv.write_text("\ufeffcode_qp;lib_qp;insee_com\nQN05901M;Test;59350\n", encoding="utf-8")
    with pytest.raises(DataError, match="géométries|illisible"):
        load_qpv(csv)
    with pytest.raises(ParameterError, match="EPCI"):
        load_qpv(FIXTURE, epci="200069300")  # the 2015 file has no EPCI


def test_normalize_insee():
    assert normalize_insee(2691) == "02691"
    assert normalize_insee("2691") == "02691"
    assert normalize_insee("59606.0") == "59606"
    assert normalize_insee(" 2a004 ") == "2A004"
    assert normalize_insee("75119") == "75056"
    assert normalize_insee("69385") == "69123"
    assert normalize_insee("13216") == "13055"
    assert normalize_insee("13070") == "13070"
    assert split_codes("13055, 13070") == ["13055", "13070"]
    assert split_codes(None) == []
