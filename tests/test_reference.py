"""The bundled reference data matches the published check figures of its sources."""

from __future__ import annotations

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
    assert {"communes.geojson", "epci.geojson", "services.csv"} <= files
    for e in entries:
        assert e["source"] and e["licence"] and e["date"] and e["modifications"]
    text = reference.format_sources()
    assert "Licence Ouverte" in text
    assert "Source :" in text
