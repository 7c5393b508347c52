"""Candidate sites: communes, QPV, premises files and grid, restricted to the territory."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from zonesblanches.coverage.analysis import commune_demand
from zonesblanches.coverage.candidates import (
    COLUMNS,
    build_candidates,
    commune_candidates,
    file_candidates,
    grid_candidates,
    locate_in_communes,
    qpv_candidates,
    restrict_to_territory,
)
from zonesblanches.crs import LAMBERT93
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata.territory import select_territory

DATA = Path(__file__).parent / "data" / "sites"


@pytest.fixture(scope="module")
def valenciennes():
    return select_territory("245901160")  # CA Valenciennes Métropole, 35 communes


def _inside_own_commune(cands: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> np.ndarray:
    polys = communes.set_index("code_insee").geometry.to_crs(LAMBERT93)
    pts = cands.geometry.to_crs(LAMBERT93).to_numpy()
    own = polys.loc[cands["code_insee"]].to_numpy()
    return shapely.intersects(own, pts)


def test_commune_candidates_one_per_commune_inside_it(valenciennes):
    cands = commune_candidates(valenciennes.communes)
    assert list(cands.columns) == COLUMNS
    assert len(cands) == len(valenciennes.communes)
    assert cands["candidate_id"].is_unique
    assert set(cands["origine"]) == {"commune"}
    assert set(cands["code_epci"]) == {"245901160"}
    assert (cands["candidate_id"] == "COM-" + cands["code_insee"]).all()
    assert _inside_own_commune(cands, valenciennes.communes).all()
    assert cands.crs.to_epsg() == 4326


def test_locate_in_communes_agrees_with_a_spatial_join(valenciennes, registry):
    where = locate_in_communes(registry.geometry, valenciennes.communes)
    joined = gpd.sjoin(
        registry[["service_id", "geometry"]],
        valenciennes.communes[["code_insee", "geometry"]],
        predicate="intersects",
        how="left",
    ).drop_duplicates("service_id")
    expected = joined["code_insee"].fillna("").to_numpy()
    assert list(where["code_insee"]) == list(expected)
    assert list(where["inside"]) == list(expected != "")


def test_file_candidates_keep_only_premises_in_the_territory(registry):
    territory = select_territory("62")
    cands = file_candidates(registry, territory.communes)
    in_62 = locate_in_communes(registry.geometry, territory.communes)["inside"].to_numpy()
    assert len(cands) == int(in_62.sum())
    assert cands.attrs["hors_territoire"] == int((~in_62).sum())
    assert set(cands["candidate_id"]) == {"FIC-" + s for s in registry["service_id"][in_62]}
    assert (cands["libelle"].to_numpy() == registry["nom"][in_62].to_numpy()).all()
    assert (cands["code_insee"].str[:2] == "62").all()
    assert _inside_own_commune(cands, territory.communes).all()


def test_file_candidates_refuse_duplicate_ids(registry, valenciennes):
    twice = gpd.GeoDataFrame(gpd.pd.concat([registry.head(3), registry.head(1)]), crs=registry.crs)
    with pytest.raises(DataError, match="en double"):
        file_candidates(twice, valenciennes.communes)


def test_qpv_candidates_lie_inside_their_qpv():
    from zonesblanches.geodata.qpv import load_qpv

    qpv = load_qpv(DATA / "qp2015_occitanie_extrait.geojson")
    cands = qpv_candidates(qpv)
    assert len(cands) == len(qpv)
    assert (cands["candidate_id"] == "QPV-" + qpv["code_qp"]).all()
    polys = qpv.geometry.to_crs(LAMBERT93).to_numpy()
    pts = cands.geometry.to_crs(LAMBERT93).to_numpy()
    assert shapely.intersects(polys, pts).all()
    # Where the centroid is inside, the candidate is the centroid.
    centroid = shapely.centroid(polys)
    inside = shapely.contains(polys, centroid)
    assert not inside.all(), "the extract keeps a QPV whose centroid is outside it"
    assert np.allclose(
        shapely.get_coordinates(pts[inside]), shapely.get_coordinates(centroid[inside])
    )
    assert (cands["code_insee"] == qpv["communes_insee"].str[:5]).all()


def test_qpv_outside_the_territory_are_dropped(valenciennes):
    from zonesblanches.geodata.qpv import load_qpv

    qpv = load_qpv(DATA / "qp2015_occitanie_extrait.geojson")  # Occitanie, not HdF
    cands = qpv_candidates(qpv, valenciennes.communes)
    assert len(cands) == 0
    assert cands.attrs["hors_territoire"] == len(qpv)


def test_grid_candidates_cover_every_inhabited_cell_inside_the_territory(valenciennes):
    demand = commune_demand(valenciennes.communes)
    cell = 3000.0
    cands = grid_candidates(demand, valenciennes.communes, cell_m=cell)
    assert cands["candidate_id"].is_unique
    assert set(cands["origine"]) == {"grille"}
    region = shapely.union_all(valenciennes.communes.to_crs(LAMBERT93).geometry.to_numpy())
    pts = cands.geometry.to_crs(LAMBERT93).to_numpy()
    assert shapely.intersects(region, pts).all()
    # Each candidate belongs to the cell its id names.
    xy = demand.geometry.to_crs(LAMBERT93)
    cells = {(int(x // cell), int(y // cell)) for x, y in zip(xy.x, xy.y, strict=True)}
    named = set()
    for cid, p in zip(cands["candidate_id"], pts, strict=True):
        north, east = cid.split("mN")[1].split("E")
        ix, iy = int(east) // int(cell), int(north) // int(cell)
        named.add((ix, iy))
        assert ix * cell <= p.x <= (ix + 1) * cell and iy * cell <= p.y <= (iy + 1) * cell
    # Every inhabited cell gets exactly one candidate (all its points are in the territory).
    assert named == cells


def test_grid_candidates_validate_parameters(valenciennes):
    demand = commune_demand(valenciennes.communes)
    with pytest.raises(ParameterError, match="100 m"):
        grid_candidates(demand, valenciennes.communes, cell_m=10)


def test_build_candidates_combines_origins(valenciennes, registry):
    demand = commune_demand(valenciennes.communes)
    cands = build_candidates(
        valenciennes.communes,
        origins=["commune", "fichier", "grille"],
        premises=registry,
        demand=demand,
    )
    counts = cands["origine"].value_counts()
    assert counts["commune"] == len(valenciennes.communes)
    assert counts["fichier"] == len(file_candidates(registry, valenciennes.communes))
    assert cands["candidate_id"].is_unique
    with pytest.raises(ParameterError, match="Origine de candidats inconnue"):
        build_candidates(valenciennes.communes, origins=["gare"])
    with pytest.raises(ParameterError, match="sans le fichier des QPV"):
        build_candidates(valenciennes.communes, origins=["qpv"])


def test_restrict_to_territory_resets_commune_from_the_point(valenciennes, registry):
    cands = file_candidates(registry, valenciennes.communes)
    cands["code_insee"] = "99999"  # a wrong commune given by the file
    again = restrict_to_territory(cands, valenciennes.communes)
    assert (again["code_insee"] != "99999").all()
    assert _inside_own_commune(again, valenciennes.communes).all()
