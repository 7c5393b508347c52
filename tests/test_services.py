"""Reading a user's services file: formats, validation, rejects, commune geocoding.

The test files (tests/data/services, see SOURCE.md) are rows of the bundled registry, some damaged
on purpose; expected values come from the registry and the bundled communes, not from constants.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata import _tables
from zonesblanches.geodata import services as svc
from zonesblanches.geodata._service_log import lines_text
from zonesblanches.geodata._service_places import in_box, parse_number
from zonesblanches.geodata._tables import sniff_delimiter
from zonesblanches.geodata.categories import CATEGORIES
from zonesblanches.geodata.services import (
    FRANCE_BBOX,
    OUTPUT_COLUMNS,
    ServicesRead,
    match_columns,
    read_services,
    write_rejects,
)

DATA = Path(__file__).parent / "data" / "services"
REGISTRY_CSV = Path(svc.__file__).parent / "data" / "services.csv"


@pytest.fixture(scope="module")
def reg(registry):
    return registry.set_index("service_id")


def _file_rows(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> list[dict]:
    with open(path, newline="", encoding=encoding) as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def _assert_like_registry(services, reg, tol_deg=1e-6):
    """Kept services sit where the registry puts them, with its category and commune code."""
    assert len(services)
    expected = reg.loc[services["service_id"]]
    assert list(services["categorie"]) == list(expected["categorie"])
    assert list(services["code_insee"]) == list(expected["code_insee"])
    dist = shapely.distance(services.geometry.values, expected.geometry.values)
    assert (dist < tol_deg).all(), dist


def _write_csv(path: Path, header, rows, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


def _registry_rows(reg, ids, fields=("nom", "categorie", "commune", "code_insee")):
    return [[reg.loc[i, f] for f in fields] for i in ids]


# ----------------------------------------------------------------------------------------------
# Good files in every format
# ----------------------------------------------------------------------------------------------


def test_reading_the_bundled_registry_gives_the_registry_back(registry):
    read = read_services(REGISTRY_CSV)
    assert read.rejects.empty and read.problems == 0
    assert list(read.services.columns) == [*OUTPUT_COLUMNS, "hors_territoire", "geometry"]
    cols = [c for c in registry.columns if c != "geometry"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(read.services[cols]).astype(str), pd.DataFrame(registry[cols]).astype(str)
    )
    assert read.services.geometry.geom_equals_exact(registry.geometry, 1e-9).all()
    assert read.services.crs.to_epsg() == 4326
    assert not read.services["hors_territoire"].any()


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("services_virgule_utf8.csv", {}),
        ("services_pointvirgule_latin1.csv", {}),
        ("services_tabulation_bom.txt", {}),
        ("services_lambert93.csv", {"crs": "EPSG:2154"}),
        ("services_lambert93.csv", {"crs": "2154"}),
        ("services_lambert93.csv", {"crs": "lambert93"}),
        ("services_lambert93.csv", {"crs": 2154}),
        ("services_lambert93.csv", {"crs": pyproj.CRS("EPSG:2154")}),
        ("services.xlsx", {}),
        ("services_lambert93.gpkg", {}),
        ("services_lambert93.gpkg", {"layer": "services"}),
        ("services_lambert93_sans_crs.geojson", {"crs": "EPSG:2154"}),
    ],
)
def test_formats_encodings_delimiters_and_crs(name, kwargs, reg):
    read = read_services(DATA / name, **kwargs)
    assert read.rejects.empty
    coords = read.services[read.services["precision"] == "coordonnees"]
    # Lambert-93 files were rounded to 0.1 m: 1e-5 degree is about 1 m.
    _assert_like_registry(coords, reg, tol_deg=1e-5 if "lambert93" in name else 1e-6)
    assert (read.services["nom"] == reg.loc[read.services["service_id"], "nom"].values).all()


def test_latin1_file_keeps_accents_and_says_so(reg):
    read = read_services(DATA / "services_pointvirgule_latin1.csv")
    assert any("UTF-8" in w and "Windows-1252" in w for w in read.warnings)
    accented = read.services[read.services["nom"].str.contains("é")]
    assert len(accented) >= 2
    assert (accented["nom"] == reg.loc[accented["service_id"], "nom"].values).all()


def test_delimiter_sniffing():
    assert sniff_delimiter((DATA / "services_virgule_utf8.csv").read_text()) == ","
    text = (DATA / "services_pointvirgule_latin1.csv").read_bytes().decode("cp1252")
    assert sniff_delimiter(text) == ";"
    assert sniff_delimiter((DATA / "services_tabulation_bom.txt").read_text()) == "\t"


@given(st.floats(min_value=-180, max_value=180, allow_nan=False).map(lambda v: round(v, 6)))
@settings(max_examples=200, deadline=None)
def test_french_decimal_comma_parses_like_the_dot(value):
    text = repr(value)
    assert parse_number(text) == value
    assert parse_number(text.replace(".", ",")) == value
    assert parse_number(" " + text + "\u00a0") == value


def test_number_parsing_edge_cases():
    assert parse_number("") is None
    assert np.isnan(parse_number("1.90372O"))
    assert np.isnan(parse_number("1,2,3"))
    assert np.isnan(parse_number("inf"))


def test_column_synonyms():
    found = match_columns(
        ["Identifiant", "Raison sociale", "Thématique", "Code commune", "Ville", "CP", "X", "Y"]
    )
    assert found == {
        "service_id": "Identifiant",
        "nom": "Raison sociale",
        "categorie": "Thématique",
        "commune": "Ville",
        "code_insee": "Code commune",
        "code_postal": "CP",
        "lon": "X",
        "lat": "Y",
    }
    both = ["name", "category", "citycode", "longitude", "latitude", "x", "y"]
    assert match_columns(both)["lon"] == "longitude"
    assert match_columns(both, projected=True)["lon"] == "x"
    # The first synonym wins when two columns could be the name.
    assert match_columns(["structure", "NOM", "type"])["nom"] == "NOM"


# ----------------------------------------------------------------------------------------------
# Issue 2 acceptance file
# ----------------------------------------------------------------------------------------------


def test_acceptance_file(tmp_path, reg, communes):
    rejects_path = tmp_path / "sortie" / "rejets.csv"
    valenciennes_metropole = communes[communes["code_epci"] == "245901160"]
    territory = shapely.union_all(valenciennes_metropole.geometry.values)
    read = read_services(
        DATA / "acceptance.csv", crs=None, territory=territory, rejects_path=rejects_path
    )
    rows = _file_rows(DATA / "acceptance.csv")
    # <script> name kept, unchanged.
    script = next(r for r in rows if "<script>" in r["nom"])
    kept = read.services.set_index("service_id")
    assert kept.loc[script["service_id"], "nom"] == script["nom"]
    # Swapped coordinates: fixed, kept, said with the row number.
    swapped_line = next(i for i, r in enumerate(rows, 2) if float(r["lon"]) > float(r["lat"]))
    swapped_id = rows[swapped_line - 2]["service_id"]
    assert kept.loc[swapped_id, "geometry"].equals_exact(reg.loc[swapped_id, "geometry"], 1e-9)
    assert any("inversées" in w and f"ligne {swapped_line}" in w for w in read.warnings)
    # Unknown commune and unknown category: rejected, with the row number and a reason.
    by_line = read.rejects.set_index("ligne")
    bad_commune = next(i for i, r in enumerate(rows, 2) if not r["lon"])
    bad_category = next(i for i, r in enumerate(rows, 2) if r["categorie"] not in CATEGORIES)
    assert set(by_line.index) == {bad_commune, bad_category}
    assert "introuvable" in by_line.loc[bad_commune, "motif"]
    assert "Abbeville" in by_line.loc[bad_commune, "motif"]  # closest real name suggested
    assert by_line.loc[bad_category, "champ"] == "categorie"
    assert "pizzeria" in by_line.loc[bad_category, "motif"]
    # The rejects file holds each bad row with its reason and its original values.
    written = pd.read_csv(rejects_path, dtype=str, encoding="utf-8-sig")
    assert list(written["ligne"].astype(int)) == [bad_commune, bad_category]
    assert list(written["motif"]) == list(read.rejects["motif"])
    assert list(written["nom"]) == [rows[bad_commune - 2]["nom"], rows[bad_category - 2]["nom"]]
    # Problems counted; services outside the territory flagged, not dropped.
    assert read.problems >= 3
    expected_out = ~kept["code_insee"].isin(valenciennes_metropole["code_insee"])
    assert expected_out.any() and (~expected_out).any()
    assert list(kept["hors_territoire"]) == list(expected_out)
    assert any("hors du territoire" in w for w in read.warnings)


def test_script_and_whitespace(tmp_path, reg):
    name = '  <script>alert("x")</script> <b>&amp;  '
    path = _write_csv(
        tmp_path / "s.csv",
        ["nom", "categorie", "code_insee"],
        [[name, "  atelier vélo ", reg.loc["HDF-003", "code_insee"]]],
    )
    read = read_services(path)
    assert read.services["nom"].iloc[0] == name.strip()
    assert read.services["categorie"].iloc[0] == "atelier_velo"


# ----------------------------------------------------------------------------------------------
# Bad rows
# ----------------------------------------------------------------------------------------------

# Line of erreurs.csv -> (field named, words of the reason). See SOURCE.md for each damage.
ERRORS = {
    3: ("nom", ["nom vide"]),
    4: ("lon, lat", ["hors de France"]),
    5: ("lon, lat", ["Lambert-93", "EPSG:2154"]),
    6: ("lon, lat", ["non numérique", "1.90372O"]),
    7: ("lon, lat", ["(0, 0)"]),
    8: ("id", ["HDF-003", "ligne 2"]),
    9: ("id", ["doublon exact"]),
    10: ("code_insee", ["75056", "hors des Hauts-de-France"]),
    11: ("code_insee", ["621190", "invalide"]),
    12: ("lon, lat", ["incomplètes"]),
    13: ("commune, code_insee", ["ni coordonnées ni commune"]),
    14: ("(ligne entière)", ["9 valeurs pour 7 colonnes"]),
}


def test_each_bad_row_is_rejected_with_its_reason(tmp_path, reg):
    read = read_services(DATA / "erreurs.csv", rejects_path=tmp_path / "rejets.csv")
    assert list(read.services["service_id"]) == ["HDF-003"]
    _assert_like_registry(read.services, reg)
    by_line = read.rejects.set_index("ligne")
    assert sorted(by_line.index) == sorted(ERRORS)
    for line, (champ, words) in ERRORS.items():
        assert by_line.loc[line, "champ"] == champ, line
        for word in words:
            assert word in by_line.loc[line, "motif"], (line, by_line.loc[line, "motif"])
    # Original values are kept beside the reason; stray cells of the split row too.
    assert by_line.loc[6, "lon"] == "1.90372O"
    assert by_line.loc[14, "valeurs_en_trop"]
    assert len(pd.read_csv(tmp_path / "rejets.csv", encoding="utf-8-sig")) == len(ERRORS)


def test_swapped_coordinates_are_detected_for_every_registry_service(tmp_path, reg):
    rows = [[i, r["nom"], r["categorie"], r.geometry.y, r.geometry.x] for i, r in reg.iterrows()]
    path = _write_csv(tmp_path / "inverse.csv", ["id", "nom", "categorie", "lon", "lat"], rows)
    read = read_services(path)
    assert read.rejects.empty
    _assert_like_registry(read.services, reg)
    assert len(read.flags) == len(reg)
    assert read.problems == len(reg)


@given(
    lon=st.floats(min_value=FRANCE_BBOX[0], max_value=FRANCE_BBOX[2]),
    lat=st.floats(min_value=FRANCE_BBOX[1], max_value=FRANCE_BBOX[3]),
)
@settings(max_examples=100, deadline=None)
def test_swap_rule_on_synthetic_points(lon, lat):
    # Synthetic coordinates (not services): any point of the box is accepted as given, and
    # recognised once swapped, because the box's longitudes and latitudes do not overlap.
    x = np.array([lon, lat])
    y = np.array([lat, lon])
    inside = in_box(x, y, FRANCE_BBOX)
    assert list(inside) == [True, False]
    assert in_box(y[1:], x[1:], FRANCE_BBOX).all()


def test_lambert93_without_crs_stops_with_a_hint(tmp_path):
    rejects_path = tmp_path / "rejets.csv"
    with pytest.raises(DataError, match="EPSG:2154") as err:
        read_services(DATA / "services_lambert93.csv", rejects_path=rejects_path)
    assert "Aucun service utilisable" in str(err.value)
    assert "6 lignes lues" in str(err.value)
    # The rejects file is written before the error.
    assert len(pd.read_csv(rejects_path, encoding="utf-8-sig")) == 6


def test_geojson_without_crs_and_lambert93_coordinates_hints_the_crs():
    with pytest.raises(DataError, match=r"Lambert-93.*EPSG:2154"):
        read_services(DATA / "services_lambert93_sans_crs.geojson")


def test_wrong_crs_for_degrees_is_explained():
    with pytest.raises(DataError, match="degrés"):
        read_services(DATA / "services_virgule_utf8.csv", crs="EPSG:2154")


def test_unknown_crs_is_a_parameter_error():
    with pytest.raises(ParameterError, match="Système de coordonnées inconnu"):
        read_services(DATA / "services_virgule_utf8.csv", crs="pas-un-crs")


def test_ids_generated_stably_and_duplicates_without_id(tmp_path, reg):
    ids = ["HDF-004", "HDF-009", "HDF-004"]  # the third row repeats the first, exactly
    path = _write_csv(
        tmp_path / "sans_id.csv",
        ["nom", "categorie", "commune", "code_insee"],
        _registry_rows(reg, ids),
    )
    first, again = read_services(path), read_services(path)
    assert list(first.services["service_id"]) == ["U-0002", "U-0003"]
    assert list(again.services["service_id"]) == list(first.services["service_id"])
    assert list(first.rejects["ligne"]) == [4]
    assert "doublon exact de la ligne 2" in first.rejects["motif"].iloc[0]


def test_missing_required_column_is_a_clear_error(tmp_path, reg):
    path = _write_csv(
        tmp_path / "sans_categorie.csv",
        ["nom", "commune"],
        [[reg.loc["HDF-004", "nom"], reg.loc["HDF-004", "commune"]]],
    )
    with pytest.raises(DataError, match=r"categorie.*Colonnes du fichier : nom, commune"):
        read_services(path)
    path = _write_csv(
        tmp_path / "sans_lieu.csv",
        ["nom", "categorie"],
        [[reg.loc["HDF-004", "nom"], reg.loc["HDF-004", "categorie"]]],
    )
    with pytest.raises(DataError, match="localisation"):
        read_services(path)
    path = _write_csv(
        tmp_path / "sans_latitude.csv",
        ["nom", "categorie", "longitude"],
        [[reg.loc["HDF-004", "nom"], reg.loc["HDF-004", "categorie"], "3.5"]],
    )
    with pytest.raises(DataError, match="latitude"):
        read_services(path)


def test_ignored_columns_are_listed(tmp_path, reg):
    path = _write_csv(
        tmp_path / "extra.csv",
        ["nom", "categorie", "code_insee", "telephone"],
        [[*_registry_rows(reg, ["HDF-004"], ("nom", "categorie", "code_insee"))[0], ""]],
    )
    assert any("telephone" in w for w in read_services(path).warnings)


# ----------------------------------------------------------------------------------------------
# Commune geocoding
# ----------------------------------------------------------------------------------------------


def test_commune_geocoding(reg, communes):
    read = read_services(DATA / "services_communes.csv")
    kept = read.services.set_index("service_id")
    assert (kept["precision"] == "commune").all()
    _assert_like_registry(read.services, reg)  # registry points are commune interior points
    # Integer-looking code repaired, commune associée recognised, postcode used.
    assert kept.loc["HDF-018", "code_insee"] == "02722"
    assert kept.loc["HDF-012", "commune"] == "Lille"
    assert any("Hellemmes-Lille" in w and "59350" in w for w in read.warnings)
    # A postcode shared by several communes is rejected with their number.
    shared = int(communes["codes_postaux"].str.split(";").map(lambda c: "80430" in c).sum())
    assert shared > 1
    (motif,) = read.rejects["motif"]
    assert f"couvre {shared} communes" in motif
    assert read.rejects["champ"].iloc[0] == "cp"


def test_former_commune_code_is_mapped(tmp_path, reg):
    # HDF-012 is in Hellemmes, commune associée of Lille, whose old code is 59298.
    path = _write_csv(
        tmp_path / "ancien.csv",
        ["nom", "categorie", "code_insee"],
        [[reg.loc["HDF-012", "nom"], reg.loc["HDF-012", "categorie"], "59298"]],
    )
    read = read_services(path)
    assert read.services["code_insee"].iloc[0] == reg.loc["HDF-012", "code_insee"]
    assert any("59298" in w for w in read.warnings)


def test_homonyms_need_a_postcode(tmp_path, communes):
    # Synthetic rows (labelled as such): only the commune names are real, taken from the data.
    from zonesblanches._text import normalize

    keys = communes["nom"].map(normalize)
    twins = communes[keys.duplicated(keep=False)]
    name = twins["nom"].iloc[0]
    pair = twins[twins["nom"].map(normalize) == normalize(name)]
    target = pair.iloc[-1]
    postcode = target["codes_postaux"].split(";")[0]
    path = _write_csv(
        tmp_path / "homonymes.csv",
        ["nom", "categorie", "commune", "cp"],
        [
            ["ligne synthétique : homonyme sans code postal", "garage", name, ""],
            ["ligne synthétique : homonyme avec code postal", "garage", name, postcode],
        ],
    )
    read = read_services(path)
    assert list(read.rejects["ligne"]) == [2]
    motif = read.rejects["motif"].iloc[0]
    assert "plusieurs communes" in motif
    for code in pair["code_insee"]:
        assert code in motif
    assert read.services["code_insee"].iloc[0] == target["code_insee"]
    assert read.services.geometry.iloc[0].equals(shapely.Point(target["lon"], target["lat"]))


def test_code_and_name_that_disagree_keep_the_code_and_say_so(tmp_path, reg):
    path = _write_csv(
        tmp_path / "discordant.csv",
        ["nom", "categorie", "code_insee", "commune"],
        [[reg.loc["HDF-002", "nom"], "garage", reg.loc["HDF-002", "code_insee"], "Liévin"]],
    )
    read = read_services(path)
    assert read.services["code_insee"].iloc[0] == reg.loc["HDF-002", "code_insee"]
    assert read.problems == 1
    assert "le code est retenu" in read.flags["motif"].iloc[0]


def test_commune_of_a_point_comes_from_the_bundled_communes(tmp_path, reg):
    # Coordinates win: the commune and code are those of the polygon the point falls in.
    r = reg.loc["HDF-015"]
    path = _write_csv(
        tmp_path / "point.csv",
        ["nom", "categorie", "lon", "lat"],
        [[r["nom"], r["categorie"], r.geometry.x, r.geometry.y]],
    )
    read = read_services(path)
    assert read.services[["commune", "code_insee"]].iloc[0].tolist() == [
        r["commune"],
        r["code_insee"],
    ]


def test_custom_communes_limit_the_geocoding(communes, reg):
    nord = communes[communes["code_departement"] == "59"]
    read = read_services(DATA / "services_communes.csv", communes=nord)
    assert set(read.services["code_insee"].str[:2]) == {"59"}
    motifs = " ".join(read.rejects["motif"])
    assert "hors des communes fournies (département 02)" in motifs
    assert "Hauts-de-France" not in motifs


# ----------------------------------------------------------------------------------------------
# Excel and vector files
# ----------------------------------------------------------------------------------------------


def test_excel_row_numbers_match_the_sheet(tmp_path):
    book = openpyxl.load_workbook(DATA / "services.xlsx")
    sheet = book["services"]
    blank = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(r, 1).value is None)
    sheet.cell(blank + 1, 3).value = "pizzeria"
    book.save(tmp_path / "modifie.xlsx")
    read = read_services(tmp_path / "modifie.xlsx")
    assert list(read.rejects["ligne"]) == [blank + 1]
    assert any("2 feuilles" in w for w in read.warnings)


def test_excel_sheet_choice():
    with pytest.raises(DataError, match="aucune ligne de données"):
        read_services(DATA / "services.xlsx", sheet="lisez-moi")
    assert len(read_services(DATA / "services.xlsx", sheet=0).services) == 4
    with pytest.raises(ParameterError, match="Feuille"):
        read_services(DATA / "services.xlsx", sheet="absente")


def test_geojson_polygon_and_null_geometry(reg, communes):
    read = read_services(DATA / "services.geojson")
    assert read.rejects.empty
    kept = read.services.set_index("service_id")
    # Polygon -> a point inside it, flagged.
    liomer = communes.set_index("code_insee").loc[reg.loc["HDF-010", "code_insee"], "geometry"]
    assert liomer.contains(kept.loc["HDF-010", "geometry"])
    assert kept.loc["HDF-010", "code_insee"] == reg.loc["HDF-010", "code_insee"]
    assert any("point intérieur" in w for w in read.warnings)
    feature = 1 + list(read.services["service_id"]).index("HDF-010")  # no feature rejected
    assert "Polygon" in read.flags.set_index("ligne").loc[feature, "motif"]
    # Null geometry -> located at its commune.
    assert kept.loc["HDF-017", "precision"] == "commune"
    assert kept.loc["HDF-017", "geometry"].equals_exact(reg.loc["HDF-017", "geometry"], 1e-9)
    points = read.services[read.services["service_id"].isin(["HDF-001", "HDF-004", "HDF-013"])]
    _assert_like_registry(points, reg)


def test_null_geometry_without_commune_is_rejected(tmp_path):
    text = (DATA / "services.geojson").read_text(encoding="utf-8")
    path = tmp_path / "sans_commune.geojson"
    for field in ('"code_insee": "62463"', '"commune": "Hucqueliers"'):
        assert field in text
        text = text.replace(field, field.split(":")[0] + ': ""')
    path.write_text(text, encoding="utf-8")
    read = read_services(path)
    assert list(read.rejects["ligne"]) == [5]
    assert "ni coordonnées ni commune" in read.rejects["motif"].iloc[0]
    assert "geometrie" in read.rejects.columns


def test_malformed_point_is_located_at_its_commune(tmp_path, reg):
    collection = json.loads((DATA / "services.geojson").read_text(encoding="utf-8"))
    (feature,) = [f for f in collection["features"] if f["properties"]["service_id"] == "HDF-013"]
    feature["geometry"]["coordinates"] = []  # GDAL cannot read this point
    path = tmp_path / "malforme.geojson"
    path.write_text(json.dumps(collection), encoding="utf-8")
    read = read_services(path)
    kept = read.services.set_index("service_id")
    assert kept.loc["HDF-013", "precision"] == "commune"
    assert kept.loc["HDF-013", "code_insee"] == reg.loc["HDF-013", "code_insee"]
    assert any("GDAL" in w for w in read.warnings)


def test_geopackage_without_crs(tmp_path):
    import pyogrio

    frame = pyogrio.read_dataframe(DATA / "services_lambert93.gpkg")
    with pytest.warns(UserWarning, match="crs"):
        pyogrio.write_dataframe(frame.set_crs(None, allow_override=True), tmp_path / "sans.gpkg")
    with pytest.raises(DataError, match="EPSG:2154"):
        read_services(tmp_path / "sans.gpkg")
    read = read_services(tmp_path / "sans.gpkg", crs="EPSG:2154")
    assert len(read.services) == len(frame) and read.rejects.empty


def test_commune_name_outside_the_region(tmp_path, reg):
    r = reg.loc["HDF-017"]
    path = _write_csv(
        tmp_path / "paris.csv",
        ["nom", "categorie", "commune", "cp"],
        [[r["nom"], r["categorie"], "Paris", "75001"]],
    )
    with pytest.raises(DataError, match="hors des Hauts-de-France"):
        read_services(path)


def test_unknown_layer():
    with pytest.raises(ParameterError, match="Couche"):
        read_services(DATA / "services_lambert93.gpkg", layer="absente")


# ----------------------------------------------------------------------------------------------
# Corrupt files
# ----------------------------------------------------------------------------------------------


def test_truncated_workbook(tmp_path):
    data = (DATA / "services.xlsx").read_bytes()
    (tmp_path / "tronque.xlsx").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="classeur Excel illisible"):
        read_services(tmp_path / "tronque.xlsx")


def test_binary_garbage_named_csv(tmp_path):
    # Synthetic random bytes: a corrupt file, not data.
    garbage = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    (tmp_path / "services.csv").write_bytes(garbage)
    with pytest.raises(DataError, match="CSV"):
        read_services(tmp_path / "services.csv")


def test_workbook_named_csv_is_read_as_excel(tmp_path, reg):
    shutil.copy(DATA / "services.xlsx", tmp_path / "services.csv")
    read = read_services(tmp_path / "services.csv")
    assert any("classeur Excel" in w for w in read.warnings)
    _assert_like_registry(read.services, reg)


def test_invalid_geojson(tmp_path):
    text = (DATA / "services.geojson").read_text(encoding="utf-8")
    (tmp_path / "coupe.geojson").write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(DataError, match="illisible"):
        read_services(tmp_path / "coupe.geojson")


@pytest.mark.parametrize("content", ["", "\r\n\r\n", "nom,categorie,code_insee\r\n"])
def test_empty_files(tmp_path, content):
    (tmp_path / "vide.csv").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match="aucune ligne"):
        read_services(tmp_path / "vide.csv")


def test_missing_file_and_old_excel(tmp_path):
    with pytest.raises(DataError, match="introuvable"):
        read_services(tmp_path / "absent.csv")
    (tmp_path / "vieux.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DataError, match=r"\.xlsx"):
        read_services(tmp_path / "vieux.xls")


# ----------------------------------------------------------------------------------------------
# Territory, rejects file, display
# ----------------------------------------------------------------------------------------------


def test_territory_as_geodataframe_in_lambert93(communes, reg):
    epci = communes[
        communes["code_epci"] == communes.set_index("code_insee").loc["62498", "code_epci"]
    ]
    read = read_services(DATA / "services_virgule_utf8.csv", territory=epci.to_crs("EPSG:2154"))
    expected = ~read.services["code_insee"].isin(epci["code_insee"])
    assert list(read.services["hors_territoire"]) == list(expected)
    assert expected.sum() == len(read.flags)


def test_bad_territory_type():
    with pytest.raises(ParameterError, match="territoire"):
        read_services(DATA / "services_virgule_utf8.csv", territory="Lens")


def test_rejects_file_always_written_with_header(tmp_path):
    path = tmp_path / "rejets.csv"
    path.write_text("rejets d'une analyse précédente\n", encoding="utf-8")
    read_services(DATA / "services_virgule_utf8.csv", rejects_path=path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    (header,) = raw.decode("utf-8-sig").splitlines()
    assert header.startswith("ligne,champ,motif,id,nom,categorie")


def test_write_rejects_round_trips(tmp_path):
    read = read_services(DATA / "erreurs.csv")
    path = write_rejects(read.rejects, tmp_path / "a" / "rejets.csv")
    back = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    pd.testing.assert_frame_equal(back, read.rejects.astype(str), check_dtype=False)


def test_repr_in_french_and_html_escaped():
    read = read_services(DATA / "acceptance.csv")
    assert isinstance(read, ServicesRead)
    text = repr(read)
    assert "lignes rejetées" in text and "pizzeria" in text
    assert "(s)" not in text
    html = read._repr_html_()
    assert "<script>" not in html and "Lignes rejetées" in html


def test_rejects_carry_the_original_row(tmp_path):
    rows = _file_rows(DATA / "erreurs.csv")
    read = read_services(DATA / "erreurs.csv")
    got = read.rejects.set_index("ligne")
    for line in (3, 5, 10):
        for col, value in rows[line - 2].items():
            assert got.loc[line, col] == value


def test_lines_text():
    assert lines_text([4]) == "ligne 4"
    assert lines_text([3, 2]) == "lignes 2, 3"
    assert "(12 au total)" in lines_text(list(range(12)))
    assert lines_text([1, 2], "entité") == "entités 1, 2"


def test_csv_records_line_numbers_skip_blank_rows():
    records = list(csv.reader(io.StringIO("a,b\r\n\r\n1,2\r\n3,4\r\n")))
    raw = _tables._from_records(records, [])
    assert list(raw.lines) == [3, 4]
