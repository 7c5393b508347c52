"""The bundled reference data matches the published check figures of its sources."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely

from zonesblanches.geodata import reference


def test_communes_figures(communes):
    # PROVENANCE.md check figures: 3,782 communes in 2026, population municipale 5,992,194.
    assert len(communes) == 3782
    assert communes["code_insee"].is_unique
    assert int(communes["population"].sum()) == 5_992_194
    assert communes["code_departement"].value_counts().to_dict() == {
        "02": 797,
        "59": 647,
        "60": 680,
        "62": 887,
        "80": 771,
    }
    assert communes.crs.to_epsg() == 4326


def test_communes_geometry_valid_and_points_inside(communes):
    assert communes.geometry.is_valid.all()
    assert not communes.geometry.is_empty.any()
    assert set(communes.geom_type) <= {"Polygon", "MultiPolygon"}
    points = shapely.points(communes["lon"], communes["lat"])
    assert shapely.contains(communes.geometry.values, points).all()


def test_merged_communes_are_dissolved(communes):
    # Six 2024 codes merged in 2025 are not communes any more; their 2026 commune absorbed them.
    assert not {"02311", "59070", "62461", "62549", "62743", "80830"} & set(communes["code_insee"])
    former = reference.load_former_communes()
    pairs = set(zip(former["code"], former["code_insee"], strict=True))
    assert ("59070", "59006") in pairs
    assert ("62461", "62447") in pairs
    assert ("59298", "59350") in pairs  # Hellemmes-Lille, commune associée of Lille


def test_epci_figures(communes):
    epci = reference.load_epci()
    assert len(epci) == 92
    assert epci["code_epci"].is_unique
    assert epci.geometry.is_valid.all()
    counts = epci.set_index("code_epci")["n_communes_region"]
    # PROVENANCE.md: CA Valenciennes Métropole 35 communes, CU d'Arras 46, MEL 95.
    assert counts["245901160"] == 35
    assert counts["200033579"] == 46
    assert counts["200093201"] == 95
    assert int(epci["population"].sum()) == 5_992_194
    # Two EPCI cross the regional border: fewer communes inside the region than in the EPCI.
    crossing = epci[epci["n_communes_region"] < epci["n_communes"]]["code_epci"]
    assert set(crossing) == {"200069722", "247600588"}
    assert set(communes["code_epci"]) == set(epci["code_epci"])


def test_departements():
    deps = reference.load_departements()
    assert sorted(deps["code_departement"]) == ["02", "59", "60", "62", "80"]
    assert int(deps["population"].sum()) == 5_992_194
    assert deps.geometry.is_valid.all()


def test_registry_points_inside_their_commune(communes, registry):
    assert len(registry) == 19
    assert registry["service_id"].is_unique
    assert (registry["precision"] == "commune").all()
    assert set(registry["statut"]) <= {"actif", "a_verifier"}
    polys = communes.set_index("code_insee").geometry
    for code, point in zip(registry["code_insee"], registry.geometry, strict=True):
        assert polys[code].contains(point), code
    # Every row keeps its public source and date.
    assert (registry["source"].str.len() > 0).all()
    assert (registry["date_source"].str.len() > 0).all()


def test_sources_manifest():
    entries = reference.sources()
    files = {e["fichier"] for e in entries}
    assert {"communes.parquet", "epci.parquet", "regions.parquet", "services.csv"} <= files
    for e in entries:
        assert e["source"] and e["licence"] and e["date"] and e["modifications"]
    text = reference.format_sources()
    assert "Licence Ouverte" in text
    assert "Source :" in text


# --- metropolitan France (issue 13) -------------------------------------------------------------


@pytest.fixture(scope="module")
def france():
    return reference.load_communes(None)


def test_national_figures(france):
    # DOMAIN.md: 34,746 communes (Corsica included), population municipale 66,165,815.
    assert len(france) == 34_746
    assert france["code_insee"].is_unique
    assert int(france["population"].sum()) == 66_165_815
    assert france["code_departement"].nunique() == 96
    assert not france["code_departement"].str.startswith("97").any()
    # The four island communes outside any EPCI.
    assert set(france.loc[france["code_epci"] == "", "code_insee"]) == {
        "85113",
        "22016",
        "29083",
        "29155",
    }
    cher = france[france["code_departement"] == "18"]
    assert (len(cher), int(cher["population"].sum())) == (286, 298_660)


def test_national_geometry(france):
    # Four Cantal communes restored in 2025 have no 2024 contour of their own (PROVENANCE.md).
    empty = set(france.loc[france.geometry.is_empty, "code_insee"])
    assert empty == {"15031", "15035", "15047", "15171"}
    full = france.loc[~france.geometry.is_empty]
    assert full.geometry.is_valid.all()
    assert set(full.geom_type) <= {"Polygon", "MultiPolygon"}
    points = shapely.points(full["lon"], full["lat"])
    assert shapely.contains(full.geometry.values, points).all()
    # The merged 2024 codes (68) are dissolved: no polygon lost, the 8 codes that lost their own
    # polygon (4 rebuilt from former codes) are there.
    assert {"12218", "14581", "49126", "69114"} <= set(full["code_insee"])


def test_national_epci_departements_regions(france):
    epci = reference.load_epci(None)
    assert len(epci) == 1_232
    assert int(epci["population"].sum()) == 66_165_815 - int(
        france.loc[france["code_epci"] == "", "population"].sum()
    )
    assert epci.geometry.is_valid.all()
    deps = reference.load_departements(None)
    assert len(deps) == 96 and int(deps["population"].sum()) == 66_165_815
    regions = reference.load_regions()
    assert len(regions) == 13 and int(regions["population"].sum()) == 66_165_815
    assert regions.set_index("code_region").at["94", "nom"] == "Corse"


def test_former_codes_include_arrondissements():
    former = reference.load_former_communes().set_index("code")["code_insee"]
    assert former["75111"] == "75056"
    assert former["13201"] == "13055"
    assert former["69381"] == "69123"


def test_bundled_size_budget():
    # Issue 13: everything bundled ≤ 25 MB in the installed package.
    from importlib import resources

    folder = resources.files("zonesblanches.geodata") / "data"
    total = sum(p.stat().st_size for p in Path(str(folder)).iterdir())
    assert total <= 25_000_000
