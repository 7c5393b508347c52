"""The gain curve of ``suggerer`` comes from the same greedy run as the suggested sites.

``suggest_sites`` runs the greedy selection once, to ``max(k, GAIN_CURVE_K)`` sites, and keeps
its first ``k`` as the suggestion (before, ``suggerer`` ran a second greedy selection of 10
sites just for the curve). The random instances are synthetic (random boolean reach matrices
and integer weights), labelled as such; the real instance is the Somme with the bundled
registry, straight-line times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from zonesblanches.coverage.analysis import commune_demand, compute_coverage, time_col
from zonesblanches.coverage.candidates import commune_candidates
from zonesblanches.coverage.maxcover import greedy_max_cover, greedy_prefix
from zonesblanches.coverage.reach import reach_matrix
from zonesblanches.coverage.sites import GAIN_CURVE_K, suggest_sites
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.territory import select_territory
from zonesblanches.maps import gain_curve


@st.composite
def instances(draw):
    """SYNTHETIC covering instance: random boolean reach matrix, integer weights (ties
    included, to check the tie-breaking), and a k on both sides of GAIN_CURVE_K."""
    n = draw(st.integers(1, 16))
    m = draw(st.integers(1, 24))
    density = draw(st.floats(0.02, 0.5))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    dense = rng.random((n, m)) < density
    w = rng.integers(0, draw(st.sampled_from([3, 60])), size=m).astype(float)
    return dense, w, draw(st.integers(1, 13))


@settings(max_examples=80, deadline=None)
@given(instances())
def test_the_prefix_of_a_longer_greedy_run_is_the_greedy_choice(instance):
    """Picks, gains, value and bound of the k first picks of a run to max(k, 10) are those of
    a greedy run to k, what ``suggest_sites`` returned before."""
    dense, w, k = instance
    m = sp.csr_matrix(dense)
    before = greedy_max_cover(m, w, k)
    run = greedy_max_cover(m, w, max(k, GAIN_CURVE_K))
    now = greedy_prefix(run, m, w, k)
    assert now.picks == before.picks
    assert now.gains == before.gains
    assert now.value == before.value
    assert now.upper_bound == before.upper_bound
    assert now.status == before.status == "glouton"


@pytest.fixture(scope="module")
def somme(registry):
    territory = select_territory("80")
    result = compute_coverage(
        commune_demand(territory.communes),
        registry,
        {"voiture": 20, "marche": 30},
        categories=["garage_solidaire"],
        territory=territory.label,
    )
    return result, commune_candidates(territory.communes)


def test_suggestion_and_curve_come_from_one_greedy_run(somme):
    """Real instance: the 3 picks are those a separate greedy run of 3 gives (same bound), the
    curve has 10 points and its first 3 rows are the 3 picks and their gains."""
    result, cands = somme
    s = suggest_sites(result, "garage_solidaire", "voiture", 3, candidates=cands, progress=False)

    # What suggest_sites did before: a greedy run of exactly k on the units not yet covered.
    units = result.units
    open_units = np.flatnonzero(
        (units[time_col("garage_solidaire", "voiture")].to_numpy(float) > 20)
        & (units["population"].to_numpy(float) > 0)
    )
    reach = reach_matrix(result.models["voiture"], cands, units.iloc[open_units], 20.0)
    before = greedy_max_cover(reach, units["population"].to_numpy(float)[open_units], 3)
    assert s.greedy.picks == before.picks
    assert s.greedy.upper_bound == before.upper_bound
    assert s.table["candidate_id"].tolist() == cands["candidate_id"].iloc[before.picks].tolist()

    assert len(s.gain_table) == GAIN_CURVE_K
    pd.testing.assert_frame_equal(s.gain_table.head(3), s.table)
    curve = gain_curve(s)
    assert curve["k"].tolist() == list(range(1, GAIN_CURVE_K + 1))
    assert curve["population_gagnee"].head(3).tolist() == [round(g) for g in before.gains]
    assert curve["site"].head(3).tolist() == s.table["libelle"].tolist()


def test_ten_or_more_sites_keep_their_own_curve(somme):
    result, cands = somme
    s = suggest_sites(result, "garage_solidaire", "voiture", 12, candidates=cands, progress=False)
    pd.testing.assert_frame_equal(s.gain_table, s.table)
    assert len(gain_curve(s)) == GAIN_CURVE_K  # the curve shows the first 10


def test_exact_alone_has_no_curve_and_says_why(somme):
    """Exact optima are not nested: no curve, a note instead; « both » keeps the greedy curve."""
    result, cands = somme
    few = cands.head(40)
    exact = suggest_sites(
        result, "garage_solidaire", "voiture", 2, candidates=few, method="exact", progress=False
    )
    assert exact.gain_table is None
    assert any(n.startswith("Pas de courbe de gain avec la méthode exacte") for n in exact.notes)
    with pytest.raises(ParameterError, match="sélection gloutonne"):
        gain_curve(exact)
    both = suggest_sites(
        result, "garage_solidaire", "voiture", 2, candidates=few, method="both", progress=False
    )
    pd.testing.assert_frame_equal(both.gain_table.head(2), both.greedy_table)
