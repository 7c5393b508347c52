"""Equity indicators checked against hand computations on the test grid.

The grid (tests/data/carreaux/carreaux_200m_test.csv, see SOURCE.md there) has 5 × 4 cells of
200 m in the official Filosofi layout, on real coordinates astride La Sentinelle (59564, CA de la
Porte du Hainaut 200042190) and Valenciennes (59606, CA Valenciennes Métropole 245901160); its
values are synthetic, chosen to be checked by hand. Travel times and the two QPV below are
synthetic too (the real QPV file is not available offline): they are labelled as such.

Layout (row 3 is the northern row; columns west → east), ``ind``:

    r3:  40    55   120   310   260        commune of the centre: 564 606 606 606 606
    r2:  25    35    80   205   190                               564 564 606 606 606
    r1:  12    18  30.5    60   150                               564 564 564 564 606
    r0: 8.5    14    22  45.5    70                               564 564 564 564 606
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from zonesblanches.coverage.equity import (
    AVERTISSEMENT_COMMUNES,
    assign_qpv,
    equity_tables,
    qpv_gap,
    qpv_indicators,
    weighted_coverage,
)
from zonesblanches.coverage.zones import weighted_quantile
from zonesblanches.crs import WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.carreaux import load_carreaux
from zonesblanches.writers import write_tables

DATA = Path(__file__).parent / "data" / "carreaux"
X0, Y0 = 3857600, 3046800  # south-west corner of the grid, EPSG:3035
CAPH, CAVM = "200042190", "245901160"

# Synthetic times (minutes), rows north → south as printed above.
VOITURE = [[5, 6, 7, 8, 9], [6, 7, 8, 9, 10], [12, 14, 16, 18, 20], [20, 22, 25, 30, math.inf]]
MARCHE = [
    [10, 12, 15, 18, 21],
    [14, 16, 19, 25, 30],
    [30, 35, 40, 45, 50],
    [math.inf, math.inf, 60, 70, 80],
]
THRESHOLDS = {"voiture": 15, "marche": 20}


def cell(r: int, c: int) -> shapely.Polygon:
    """Square of row r (0 = south) and column c, EPSG:3035."""
    return box(X0 + 200 * c, Y0 + 200 * r, X0 + 200 * (c + 1), Y0 + 200 * (r + 1))


@pytest.fixture(scope="module")
def units() -> gpd.GeoDataFrame:
    cells = load_carreaux(DATA / "carreaux_200m_test.csv", progress=False)
    communes = gpd.read_file(DATA / "communes_valenciennes_la_sentinelle.geojson")
    centres = gpd.GeoDataFrame(geometry=cells.to_crs(2154).centroid.to_crs(WGS84))
    joined = gpd.sjoin(centres, communes, predicate="within").sort_index()
    assert len(joined) == len(cells)  # every centre is in one of the two communes
    u = cells[["idcar", "ind", "men_pauv", "geometry"]].rename(columns={"ind": "population"})
    u["code_insee"] = joined["code_insee"].to_numpy()
    u["code_epci"] = joined["code_epci"].to_numpy()
    # rows of the file run north → south, west → east: same order as the arrays above
    u["temps_garage_solidaire_voiture"] = np.array(VOITURE, dtype=float).ravel()
    u["temps_garage_solidaire_marche"] = np.array(MARCHE, dtype=float).ravel()
    cols = np.tile(np.arange(5), 4)
    u["service_garage_solidaire_voiture"] = np.where(cols < 3, "S1", "S2")
    u["service_garage_solidaire_marche"] = np.where(
        np.isinf(u["temps_garage_solidaire_marche"]), None, np.where(cols < 3, "S1", "S2")
    )
    return u


@pytest.fixture(scope="module")
def qpv() -> gpd.GeoDataFrame:
    """Two synthetic QPV drawn on the grid (not real quartiers)."""
    # QPV-A: the four north-eastern cells and the eastern three quarters of cell (r3, c2).
    a = shapely.union_all(
        [
            cell(3, 3),
            cell(3, 4),
            cell(2, 3),
            cell(2, 4),
            box(X0 + 450, Y0 + 600, X0 + 600, Y0 + 800),
        ]
    )
    # QPV-B: cells (r1, c3) in La Sentinelle / CAPH and (r1, c4) in Valenciennes / CAVM.
    b = shapely.union_all([cell(1, 3), cell(1, 4)])
    frame = gpd.GeoDataFrame(
        {
            "code_qp": ["TEST-A", "TEST-B"],
            "nom_qp": ["QPV synthétique A", "QPV synthétique B"],
            "communes_insee": ["59606", "59564; 59606"],
        },
        geometry=[a, b],
        crs="EPSG:3035",
    )
    return frame.to_crs(WGS84)


def row(frame: pd.DataFrame, **keys) -> pd.Series:
    sel = frame
    for k, v in keys.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, keys
    return sel.iloc[0]


def test_weighted_quantile_inverted_cdf():
    assert weighted_quantile([5, 9], [10, 10], 0.5) == 5
    assert weighted_quantile([5, 9], [10, 11], 0.5) == 9
    assert weighted_quantile([1, 2, math.inf], [1, 1, 8], 0.5) == math.inf
    assert math.isnan(weighted_quantile([1, 2], [0, 0], 0.5))
    assert weighted_quantile([3, 1, 2], [1, 1, 1], 0.9) == 3


def test_assign_qpv_area_and_centroid(units, qpv):
    links = assign_qpv(units, qpv, method="area")
    parts = links.groupby("code_qp")["part"].sum()
    assert parts["TEST-A"] == pytest.approx(4 + 0.75, abs=1e-6)
    assert parts["TEST-B"] == pytest.approx(2, abs=1e-6)
    cen = assign_qpv(units, qpv, method="centroid")
    assert cen.groupby("code_qp").size().to_dict() == {"TEST-A": 5, "TEST-B": 2}
    assert (cen["part"] == 1).all()


def test_qpv_indicators_by_hand(units, qpv):
    table = qpv_indicators(
        units, qpv, categories=["garage_solidaire"], modes=["voiture", "marche"],
        thresholds=THRESHOLDS,
    )  # fmt: skip
    assert len(table) == 4
    pop_a = 310 + 260 + 205 + 190 + 0.75 * 120
    a_car = row(table, code_qp="TEST-A", mode="voiture")
    assert a_car["population"] == pytest.approx(pop_a)
    assert a_car["pct_population_dans_seuil"] == pytest.approx(100.0)  # 7, 8, 9, 9, 10 min
    a_walk = row(table, code_qp="TEST-A", mode="marche")
    # within 20 min on foot: (r3,c3) 18 min, 310 people; 3/4 of (r3,c2) 15 min, 90 people
    assert a_walk["population_dans_seuil"] == pytest.approx(310 + 90)
    assert a_walk["pct_population_dans_seuil"] == pytest.approx(100 * 400 / pop_a)
    # sorted times 15 (90), 18 (310), 21 (260), 25 (205), 30 (190); cumulated 90, 400, 660…
    assert a_walk["temps_median"] == 21  # half of 1055 = 527.5 reached at 21
    assert a_walk["temps_p90"] == 30  # 949.5 reached at 30
    assert a_walk["service_plus_proche"] == "S2"  # S2 for 965 people, S1 for 90
    poor_a = 56 + 41 + 37 + 25.5 + 0.75 * 11
    assert a_walk["men_pauv"] == pytest.approx(poor_a)
    assert a_walk["men_pauv_dans_seuil"] == pytest.approx(56 + 0.75 * 11)

    b_car = row(table, code_qp="TEST-B", mode="voiture")
    assert b_car["population"] == pytest.approx(60 + 150)
    assert b_car["pct_population_dans_seuil"] == 0  # 18 and 20 min > 15
    assert b_car["temps_median"] == 20  # 60 people at 18 min, 150 at 20
    assert b_car["temps_p90"] == 20
    assert b_car["methode"].startswith("carreaux")


def test_qpv_indicators_centroid_method(units, qpv):
    table = qpv_indicators(
        units, qpv, categories=["garage_solidaire"], modes=["marche"], thresholds=THRESHOLDS,
        method="centroid",
    )  # fmt: skip
    a = row(table, code_qp="TEST-A")
    assert a["population"] == pytest.approx(310 + 260 + 205 + 190 + 120)  # whole cell (r3,c2)
    assert a["population_dans_seuil"] == pytest.approx(310 + 120)


def test_qpv_gap_by_epci_by_hand(units, qpv):
    gap = qpv_gap(
        units, qpv, categories=["garage_solidaire"], modes=["voiture"], thresholds=THRESHOLDS
    )
    assert list(gap["code"]) == [CAPH, CAVM, "ensemble"]
    cavm = row(gap, code=CAVM)
    # QPV residents of CAVM: 3/4 of 120 + 310 + 260 + 205 + 190 (QPV-A) + 150 (QPV-B east)
    assert cavm["population_qpv"] == pytest.approx(90 + 310 + 260 + 205 + 190 + 150)
    assert cavm["pct_dans_seuil_qpv"] == pytest.approx(100 * 1055 / 1205)
    # others in CAVM: 55 (6 min), 1/4 of 120 (7 min), 80 (8 min), 70 (unreachable)
    assert cavm["population_hors_qpv"] == pytest.approx(55 + 30 + 80 + 70)
    assert cavm["pct_dans_seuil_hors_qpv"] == pytest.approx(100 * 165 / 235)
    assert cavm["ecart_points"] == pytest.approx(100 * 1055 / 1205 - 100 * 165 / 235)
    caph = row(gap, code=CAPH)
    assert caph["population_qpv"] == pytest.approx(60)  # west cell of QPV-B only
    assert caph["pct_dans_seuil_qpv"] == 0
    rest_caph = 40 + 25 + 35 + 12 + 18 + 30.5 + 8.5 + 14 + 22 + 45.5
    assert caph["population_hors_qpv"] == pytest.approx(rest_caph)
    assert caph["pct_dans_seuil_hors_qpv"] == pytest.approx(
        100 * (40 + 25 + 35 + 12 + 18) / rest_caph
    )
    whole = row(gap, code="ensemble")
    assert whole["niveau"] == "territoire"
    assert whole["population_qpv"] == pytest.approx(1205 + 60)
    assert whole["population_qpv"] + whole["population_hors_qpv"] == pytest.approx(1750.5)
    assert whole["pct_dans_seuil_qpv"] == pytest.approx(100 * 1055 / 1265)
    assert whole["pct_dans_seuil_hors_qpv"] == pytest.approx(100 * 295 / 485.5)


def test_weighted_coverage_population_and_poor_households(units):
    cov = weighted_coverage(
        units, categories=["garage_solidaire"], modes=["voiture"], thresholds=THRESHOLDS
    )
    assert len(cov) == 1
    r = cov.iloc[0]
    # within 15 min by car: the two northern rows, and (r1,c0) 12 min, (r1,c1) 14 min
    assert r["population"] == pytest.approx(1750.5)
    assert r["population_dans_seuil"] == pytest.approx(785 + 535 + 12 + 18)
    assert r["men_pauv"] == pytest.approx(112.5 + 72 + 22 + 10)
    assert r["men_pauv_dans_seuil"] == pytest.approx(112.5 + 72 + 0.5 + 1)
    assert r["pct_men_pauv_dans_seuil"] == pytest.approx(100 * 186 / 216.5)
    by = weighted_coverage(
        units, categories=["garage_solidaire"], modes=["voiture"], thresholds=15, by="code_epci"
    )
    assert list(by["code"]) == [CAPH, CAVM, "ensemble"]
    assert by["population"].iloc[:2].sum() == pytest.approx(1750.5)


def test_commune_points_give_no_qpv_figures(units, qpv):
    """A commune centre is not a QPV resident: no population or share, an explicit warning."""
    points = units.drop(columns="idcar").copy()  # one point per commune, no cell id
    points["geometry"] = units.to_crs(2154).centroid.to_crs(WGS84)
    points = points.groupby("code_insee", as_index=False).first()
    points = gpd.GeoDataFrame(points, geometry="geometry", crs=WGS84)
    table = qpv_indicators(points, qpv, thresholds=THRESHOLDS)
    assert table["population"].isna().all()
    assert table["pct_population_dans_seuil"].isna().all()
    assert table["temps_centre_commune"].notna().all()
    assert table.attrs["avertissement"] == AVERTISSEMENT_COMMUNES
    assert "carroyage" in AVERTISSEMENT_COMMUNES
    assert table["methode"].str.contains("indicatif").all()
    gap = qpv_gap(points, qpv, thresholds=THRESHOLDS)
    assert gap.empty and gap.attrs["avertissement"] == AVERTISSEMENT_COMMUNES
    tables = equity_tables(points, qpv, thresholds=THRESHOLDS)
    assert set(tables) == {"couverture", "qpv"}


def test_cells_given_as_centres(units, qpv):
    """The coverage analysis works on points: cell centres carry their id back to the square."""
    centres = units.copy()
    centres["geometry"] = units.to_crs(2154).centroid.to_crs(WGS84)
    args = {"categories": ["garage_solidaire"], "thresholds": THRESHOLDS}
    squares = qpv_indicators(units, qpv, **args)
    pd.testing.assert_frame_equal(qpv_indicators(centres, qpv, **args), squares)
    pd.testing.assert_frame_equal(qpv_gap(centres, qpv, **args), qpv_gap(units, qpv, **args))
    # without the id, only the centroid rule is possible, and the table says so
    no_id = qpv_indicators(centres.drop(columns="idcar"), qpv, kind="carreau", **args)
    by_centre = qpv_indicators(units, qpv, method="centroid", **args)
    pd.testing.assert_frame_equal(no_id, by_centre)
    assert (no_id["methode"] == "carreaux, centre du carreau dans le QPV").all()
    # commune outlines must not be spread over their area: flagged, they get the approximation
    flagged = qpv_indicators(units, qpv, kind="commune", **args)
    assert flagged["population"].isna().all()


def test_parameters_are_checked(units, qpv):
    with pytest.raises(ParameterError, match="Seuil"):
        qpv_indicators(units, qpv, thresholds={"voiture": 15})
    with pytest.raises(ParameterError, match="positif"):
        weighted_coverage(units, thresholds={"voiture": -1, "marche": 10})
    with pytest.raises(ParameterError, match="temps_atelier_velo_velo"):
        weighted_coverage(units, categories=["atelier_velo"], modes=["bike"], thresholds=10)
    with pytest.raises(ParameterError, match="code_commune"):
        qpv_gap(units, qpv, thresholds=THRESHOLDS, by="code_commune")


def test_write_tables_is_deterministic(units, qpv, tmp_path):
    tables = equity_tables(units, qpv, thresholds=THRESHOLDS)
    assert set(tables) == {"couverture", "qpv", "ecarts_qpv"}
    first = write_tables(tables, tmp_path / "a")
    second = write_tables(tables, tmp_path / "b")
    assert [p.name for p in first] == [
        "couverture.csv",
        "qpv.csv",
        "ecarts_qpv.csv",
        "indicateurs.xlsx",
    ]
    for p, q in zip(first[:3], second[:3], strict=True):
        assert p.read_bytes() == q.read_bytes()
        assert p.read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(first[1], encoding="utf-8-sig")
    assert list(back.columns) == list(tables["qpv"].columns)
    assert back["population"].tolist() == pytest.approx(tables["qpv"]["population"].tolist())
    sheets = pd.read_excel(first[3], sheet_name=None)
    assert list(sheets) == ["couverture", "qpv", "ecarts_qpv"]
    assert len(sheets["qpv"]) == len(tables["qpv"])
    assert sheets["qpv"]["code_qp"].tolist() == tables["qpv"]["code_qp"].tolist()


def test_write_tables_unreachable_and_sheet_names(tmp_path):
    frame = pd.DataFrame({"code": ["a", "b"], "temps": [3.25, math.inf], "x": [1 / 3, None]})
    paths = write_tables({"un nom: très/long [avec] des caractères interdits": frame}, tmp_path)
    text = paths[0].read_text(encoding="utf-8-sig")
    assert text == "code,temps,x\na,3.25,0.3333333333\nb,inf,\n"
    book = pd.read_excel(paths[1], sheet_name=None)
    ((name, sheet),) = book.items()
    assert len(name) <= 31 and "/" not in name and ":" not in name
    assert sheet["temps"].tolist() == [3.25, "inaccessible"]
