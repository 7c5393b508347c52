"""Coverage analysis with the straight-line model, checked against brute force."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from zonesblanches.coverage.analysis import (
    CoverageResult,
    _grouped_cumsum,
    blank_col,
    commune_demand,
    compute_coverage,
    grouped_weighted_median,
    service_col,
    time_col,
    weighted_median,
)
from zonesblanches.coverage.traveltime import StraightLineModel
from zonesblanches.errors import ParameterError

# Hauts-de-France bounding box (lon/lat), from the bundled communes.
LON = st.floats(1.38, 4.25)
LAT = st.floats(48.84, 51.09)


def _points(coords):
    lon, lat = zip(*coords, strict=True) if coords else ((), ())
    return gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326)


@settings(max_examples=60, deadline=None)
@given(
    origins=st.lists(st.tuples(LON, LAT), min_size=1, max_size=30),
    services=st.lists(st.tuples(LON, LAT), min_size=1, max_size=10),
    mode=st.sampled_from(["marche", "velo", "voiture"]),
)
def test_straight_line_matches_brute_force(origins, services, mode):
    model = StraightLineModel(mode)
    o, s = _points(origins), _points(services)
    res = model.nearest(o, s)
    ox, oy = o.to_crs(2154).x.to_numpy(), o.to_crs(2154).y.to_numpy()
    sx, sy = s.to_crs(2154).x.to_numpy(), s.to_crs(2154).y.to_numpy()
    d = np.hypot(ox[:, None] - sx[None, :], oy[:, None] - sy[None, :])
    expected = d.min(axis=1) * 1.3 / (model.speed_kmh * 1000 / 60)
    np.testing.assert_allclose(res.minutes, expected, rtol=1e-9, atol=1e-9)
    # The chosen service is at the minimum distance (ties allowed).
    chosen = d[np.arange(len(o)), res.nearest]
    np.testing.assert_allclose(chosen, d.min(axis=1), rtol=1e-9, atol=1e-6)


def test_straight_line_known_distance():
    # Valenciennes interior point to itself is 0; 10 km at 50 km/h with detour 1.3 is 15.6 min.
    model = StraightLineModel("voiture")
    assert model.minutes_for_metres(np.array([10_000.0]))[0] == pytest.approx(15.6)
    assert "vol d'oiseau" in model.description
    walk = StraightLineModel("walk", speed_kmh=4.0, detour=1.2)
    assert walk.mode == "marche"
    assert walk.minutes_for_metres(np.array([1000.0]))[0] == pytest.approx(18.0)


def test_straight_line_parameters_validated():
    with pytest.raises(ParameterError, match="vitesse"):
        StraightLineModel("voiture", speed_kmh=0)
    with pytest.raises(ParameterError, match="détour"):
        StraightLineModel("voiture", detour=0.5)
    with pytest.raises(ParameterError, match="Mode de déplacement inconnu"):
        StraightLineModel("trottinette")


def test_no_destination_means_unreachable():
    res = StraightLineModel("voiture").nearest(_points([(3.5, 50.3)]), _points([]))
    assert np.isinf(res.minutes[0]) and res.nearest[0] == -1


def test_weighted_median():
    assert weighted_median(np.array([1.0, 2.0, 3.0]), np.array([1, 1, 1])) == 2.0
    assert weighted_median(np.array([1.0, 10.0]), np.array([1, 3])) == 10.0
    assert weighted_median(np.array([5.0, np.inf]), np.array([1, 2])) == np.inf
    assert np.isnan(weighted_median(np.array([1.0]), np.array([0])))


@pytest.fixture(scope="module")
def vm_result(communes, registry):
    vm = communes[communes["code_epci"] == "245901160"]
    return compute_coverage(
        commune_demand(vm),
        registry,
        {"voiture": 20, "marche": 30},
        territory="CA Valenciennes Métropole",
    )


def test_columns_and_flags(vm_result, registry):
    units = vm_result.units
    assert len(units) == 35
    for cat in vm_result.categories:
        for mode in ("voiture", "marche"):
            t, s, b = time_col(cat, mode), service_col(cat, mode), blank_col(cat, mode)
            assert (units[b] == (units[t] > vm_result.thresholds[mode])).all()
            assert set(units[s]) <= set(registry["service_id"])
    # Valenciennes hosts an auto-école sociale (registry row « La Clef du Permis »): time 0.
    vnc = units.set_index("code_insee").loc["59606"]
    assert vnc[time_col("auto_ecole_sociale", "voiture")] == 0.0
    assert not vnc[blank_col("auto_ecole_sociale", "marche")]


def test_summary_adds_up(vm_result):
    summary = vm_result.summary()
    assert set(summary["code_epci"]) == {"245901160"}
    total = vm_result.population
    for _, row in summary.iterrows():
        assert row["population"] == total
        assert row["population_couverte"] + row["population_zone_blanche"] == total
    overall = vm_result.summary(by=None)
    assert len(overall) == len(vm_result.categories) * 2
    # Same order as requested: categories, then modes voiture, marche.
    assert list(overall["mode"][:2]) == ["voiture", "marche"]


def test_reused_tables_give_the_tables_computed_afresh(vm_result):
    """Within ``reused_tables`` (the output writers), ``long``, ``summary`` and ``uncovered``
    equal the tables computed without it; each call gets its own copy (a caller that adds a
    column changes nothing for the next); the block ends with the outer one."""
    fresh = {by: vm_result.summary(by=by) for by in (None, "code_epci", "code_insee")}
    long, uncovered = vm_result.long(), vm_result.uncovered("garage_solidaire", "voiture")
    with vm_result.reused_tables():
        for _ in range(2):
            for by, table in fresh.items():
                got = vm_result.summary(by=by)
                pd.testing.assert_frame_equal(got, table)
                got["libelle"] = "changé"  # as the report's _add_labels does
                got.loc[0, "population"] = -1
            pd.testing.assert_frame_equal(vm_result.long(), long)
            pd.testing.assert_frame_equal(
                vm_result.uncovered("garage_solidaire", "voiture"), uncovered
            )
        with vm_result.reused_tables():
            assert vm_result._memo
        assert vm_result._memo  # the inner block keeps the outer one's tables
    assert vm_result._memo is None
    pd.testing.assert_frame_equal(vm_result.summary(by=None), fresh[None])


def test_uncovered_sorted_by_population(vm_result):
    unc = vm_result.uncovered("garage_solidaire", "voiture")
    assert unc["zone_blanche"].all()
    assert unc["population"].is_monotonic_decreasing


def test_thresholds_are_parameters(communes, registry):
    vm = commune_demand(communes[communes["code_epci"] == "245901160"])
    strict = compute_coverage(vm, registry, {"voiture": 1}, categories=["garage_solidaire"])
    loose = compute_coverage(vm, registry, {"voiture": 120}, categories=["garage_solidaire"])
    col = blank_col("garage_solidaire", "voiture")
    assert strict.units[col].sum() > loose.units[col].sum() == 0


@pytest.mark.parametrize(
    "thresholds", [{}, {"voiture": -5}, {"voiture": "abc"}, {"trottinette": 10}]
)
def test_invalid_thresholds(communes, registry, thresholds):
    with pytest.raises(ParameterError):
        compute_coverage(commune_demand(communes.head(3)), registry, thresholds)


def test_unknown_category(communes, registry):
    with pytest.raises(ParameterError, match="Catégorie inconnue"):
        compute_coverage(
            commune_demand(communes.head(3)), registry, {"voiture": 20}, categories=["pizzeria"]
        )


def test_missing_category_is_all_blank_with_note(communes, registry):
    res = compute_coverage(
        commune_demand(communes.head(5)),
        registry,
        {"voiture": 20},
        categories=["transport_solidaire"],
    )
    assert res.units[blank_col("transport_solidaire", "voiture")].all()
    assert any("Aucun service" in n for n in res.notes)


def test_notes_say_straight_line(vm_result):
    assert any("vol d'oiseau" in n for n in vm_result.notes)
    assert any("géocodés à la commune" in n for n in vm_result.notes)
    assert "Diagnostic" in vm_result._repr_html_()


# --------------------------------------------------------------------------------------------
# summary(): vectorised over groups, checked against the per-group loop it replaced
# --------------------------------------------------------------------------------------------


def _reference_summary(result: CoverageResult, by: str | None) -> pd.DataFrame:
    """The former ``CoverageResult.summary``: one Python iteration per group."""
    data = result.long()
    if by is None:
        data["_tout"] = result.territory or "territoire"
        keys = ["_tout"]
    else:
        keys = [by]
        if by == "code_epci" and "nom_epci" in result.units:
            data["nom_epci"] = np.tile(
                result.units["nom_epci"].to_numpy(), len(result.categories) * len(result.modes)
            )
            keys = ["code_epci", "nom_epci"]
    rows = []
    for group_key, g in data.groupby([*keys, "categorie", "mode"], sort=True):
        pop = g["population"].to_numpy(dtype=float)
        blank = g["zone_blanche"].to_numpy(dtype=bool)
        total = pop.sum()
        row = dict(zip([*keys, "categorie", "mode"], group_key, strict=True))
        row.update(
            {
                "seuil_min": g["seuil_min"].iloc[0],
                "population": total,
                "population_couverte": pop[~blank].sum(),
                "part_couverte": (pop[~blank].sum() / total) if total > 0 else np.nan,
                "temps_median_min": weighted_median(g["temps_min"].to_numpy(), pop),
                "population_zone_blanche": pop[blank].sum(),
                "unites_zone_blanche": int(blank.sum()),
            }
        )
        rows.append(row)
    out = pd.DataFrame(rows)
    out["_c"] = out["categorie"].map({c: i for i, c in enumerate(result.categories)})
    out["_m"] = out["mode"].map({m: i for i, m in enumerate(result.modes)})
    out = out.sort_values([*keys, "_c", "_m"], kind="stable").drop(columns=["_c", "_m"])
    out = out.reset_index(drop=True)
    if by is None:
        out = out.rename(columns={"_tout": "territoire"})
    return out


def _assert_same_summary(got: pd.DataFrame, expected: pd.DataFrame, exact: bool) -> None:
    # Sums may differ in the last bit (bincount adds in row order, numpy's sum pairwise);
    # the medians are picked values: they must be equal, not close.
    pd.testing.assert_frame_equal(got, expected, check_exact=exact, rtol=1e-12)
    np.testing.assert_array_equal(got["temps_median_min"], expected["temps_median_min"])


@pytest.fixture(scope="module")
def region_result(communes, registry):
    return compute_coverage(
        commune_demand(communes),
        registry,
        {"voiture": 20, "marche": 30, "velo": 15},
        territory="Hauts-de-France",
    )


@pytest.mark.parametrize("by", ["code_epci", None])
def test_summary_equals_per_group_loop_on_region(region_result, by):
    got = region_result.summary(by=by)
    _assert_same_summary(got, _reference_summary(region_result, by), exact=True)
    assert len(got) == (region_result.units[by].nunique() if by else 1) * len(
        region_result.categories
    ) * len(region_result.modes)


def test_summary_by_commune_equals_per_group_loop(region_result):
    # Two real EPCI (the largest one has 119 communes) keep the reference loop short.
    keep = region_result.units["code_epci"].isin(["245901160", "200071181"]).to_numpy()
    units = region_result.units[keep]
    sub = CoverageResult(
        units, region_result.services, region_result.thresholds, region_result.categories, {}
    )
    got = sub.summary(by="code_insee")
    _assert_same_summary(got, _reference_summary(sub, "code_insee"), exact=True)
    assert list(got["code_insee"].unique()) == sorted(units["code_insee"])
    assert list(got.columns) == [
        "code_insee",
        "categorie",
        "mode",
        "seuil_min",
        "population",
        "population_couverte",
        "part_couverte",
        "temps_median_min",
        "population_zone_blanche",
        "unites_zone_blanche",
    ]
    assert got["unites_zone_blanche"].dtype == np.int64


# Synthetic tables below (not real places): weights with zeros, NaN and negatives, times with
# ties and ``inf``, missing group keys.
WEIGHTS = st.one_of(
    st.sampled_from([0.0, np.nan, -1.0, 1.0, 2.0, 3.0, 0.5, 1e6]),
    st.floats(1e-3, 1e4, allow_nan=False),
)
TIMES = st.one_of(st.sampled_from([0.0, 1.0, 5.0, 20.0, np.inf]), st.floats(0, 120))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), TIMES, WEIGHTS), min_size=1, max_size=200))
def test_grouped_weighted_median_is_weighted_median_per_group(rows):
    group = np.array([r[0] for r in rows])
    values = np.array([r[1] for r in rows])
    weights = np.array([r[2] for r in rows])
    got = grouped_weighted_median(values, weights, group, 6)
    expected = [
        weighted_median(values[group == g], weights[group == g]) if (group == g).any() else np.nan
        for g in range(6)
    ]
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=65, max_size=150), st.integers(0, 2**32 - 1))
def test_grouped_cumsum_is_bitwise_cumsum(sizes, seed):
    # 65 to 150 groups: all advance together while more than 64 run, then the longest get
    # their own np.cumsum. Weights spread over nine orders of magnitude so rounding shows.
    rng = np.random.default_rng(seed)
    sizes = np.array(sizes)
    w = rng.random(sizes.sum()) * 10.0 ** rng.integers(-3, 6, sizes.sum())
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    expected = np.concatenate([np.cumsum(part) for part in np.split(w, starts[1:])])
    np.testing.assert_array_equal(_grouped_cumsum(w, starts, sizes), expected)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C", None]),
            st.sampled_from(["E1", "E2"]),
            WEIGHTS,
            TIMES,
            TIMES,
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from([None, "code_insee", "code_epci"]),
)
def test_summary_equals_per_group_loop_on_synthetic_tables(rows, by):
    assume(by != "code_insee" or any(r[0] is not None for r in rows))
    units = pd.DataFrame(
        {
            "unit_id": [f"u{i}" for i in range(len(rows))],
            "code_insee": [r[0] for r in rows],
            "code_epci": [r[1] for r in rows],
            "nom_epci": [f"EPCI {r[1]}" for r in rows],
            "population": [r[2] for r in rows],
        }
    )
    thresholds = {"voiture": 20.0, "marche": 30.0}
    for cat, col in (("garage_solidaire", 3), ("atelier_velo", 4)):
        for mode, shift in (("voiture", 0.0), ("marche", 10.0)):
            t = np.array([r[col] for r in rows]) + shift
            units[time_col(cat, mode)] = t
            units[service_col(cat, mode)] = "S"
            units[blank_col(cat, mode)] = ~(t <= thresholds[mode])
    result = CoverageResult(
        units, units.iloc[:0], thresholds, ["garage_solidaire", "atelier_velo"], {}, "Synthétique"
    )
    _assert_same_summary(result.summary(by=by), _reference_summary(result, by), exact=False)


def _reference_long(result: CoverageResult) -> pd.DataFrame:
    """The former ``CoverageResult.long``: one frame per indicator, then a concat."""
    keys = [
        c for c in ("unit_id", "code_insee", "nom", "code_epci", "population") if c in result.units
    ]
    frames = []
    for cat in result.categories:
        for mode in result.modes:
            f = pd.DataFrame(result.units[keys])
            f["categorie"] = cat
            f["mode"] = mode
            f["seuil_min"] = result.thresholds[mode]
            f["temps_min"] = result.units[time_col(cat, mode)].to_numpy()
            f["service_id"] = result.units[service_col(cat, mode)].to_numpy()
            f["zone_blanche"] = result.units[blank_col(cat, mode)].to_numpy()
            frames.append(f)
    return pd.concat(frames, ignore_index=True)


def test_long_form_equals_per_indicator_concat(vm_result, region_result):
    for result in (vm_result, region_result):
        pd.testing.assert_frame_equal(result.long(), _reference_long(result), check_exact=True)


def test_identical_indicators_named_with_their_cause(vm_result):
    # Valenciennes with the example registry: the social driving school, the bike workshop and
    # the mobility platform are nearest at the same commune point, so their figures are equal.
    from zonesblanches.maps.findings import identical_groups

    trio = ("auto_ecole_sociale", "atelier_velo", "plateforme_mobilite")
    groups = {tuple(g): why for g, why in identical_groups(vm_result)}
    assert groups[trio].startswith("pour chaque commune, leurs services les plus proches")
    assert "à Valenciennes" in groups[trio]
    # Only the services used: the trio's services stand at the same points.
    units = vm_result.units
    used = set()
    for cat in vm_result.categories:
        for mode in vm_result.modes:
            used |= set(units[service_col(cat, mode)].dropna().astype(str))
    svc = vm_result.services
    kept = svc[svc["service_id"].astype(str).isin(used).to_numpy()]
    only_used = CoverageResult(**{**vm_result.__dict__, "services": kept})
    groups = {tuple(g): why for g, why in identical_groups(only_used)}
    assert groups[trio].startswith("leurs services sont aux mêmes points")
    # One of them moved by about 1 m: no longer the same points.
    moved = kept.copy()
    row = moved.index[(moved["categorie"] == "atelier_velo").to_numpy()][0]
    p = moved.geometry[row]
    moved.loc[row, "geometry"] = type(p)(p.x + 1e-5, p.y)
    shifted = CoverageResult(**{**vm_result.__dict__, "services": moved})
    groups = {tuple(g): why for g, why in identical_groups(shifted)}
    assert groups[trio].startswith("pour chaque commune")
