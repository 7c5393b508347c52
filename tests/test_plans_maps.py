"""Maps of the site suggestion and of the scenarios (:mod:`zonesblanches.maps.plans`).

Inputs: the bundled reference data and services registry. One service gets an attack string as
its name (every other field copied from the real registry row HDF-002).
"""

from __future__ import annotations

import pandas as pd
import pytest

from zonesblanches.coverage.scenarios import scenario_for_territory
from zonesblanches.coverage.sites import suggest_for_territory
from zonesblanches.geodata import reference
from zonesblanches.geodata.territory import select_territory
from zonesblanches.maps import render_map, save_map, scenario_map, suggestion_map

ATTACK = "<img src=x onerror=alert(1)>"
ESCAPED = "\\u003cimg src=x onerror=alert(1)\\u003e"


@pytest.fixture(scope="module")
def epci():
    return reference.load_epci()


@pytest.fixture(scope="module")
def scenario():
    """Lens → Wingles (HDF-002 moved), region-wide, with HDF-002 renamed to an attack."""
    services = reference.load_registry().copy()
    services.loc[services["service_id"] == "HDF-002", "nom"] = ATTACK
    res = scenario_for_territory(None, deplacer="HDF-002:62895", services=services)
    return res, select_territory(None).communes


@pytest.fixture(scope="module")
def suggestion():
    s = suggest_for_territory("valenciennes", "atelier_velo", "marche", 2, progress=False)
    return s, select_territory("valenciennes").communes


def test_scenario_map_shows_wingles_lens_and_gain_loss_legend(scenario, epci, tmp_path):
    res, communes = scenario
    html = render_map(scenario_map(res, communes, epci=epci, mode="voiture"))
    assert "Wingles" in html and "Lens" in html
    for words in ("gagne l'accès", "perd l'accès", "Qui gagne, qui perd", "Services changés"):
        assert words in html
    # The moved service appears in the changes layer with its position before and after.
    assert "Avant : " in html and "Après : " in html
    # Every unit that gains or loses in the result is coloured so on the map.
    diff = res.diff_layer("garage_solidaire", "voiture")
    assert (diff["evolution"] == "gagne").any() and (diff["evolution"] == "perd").any()
    assert html.count('"ev":"gagne"') == int((diff["evolution"] == "gagne").sum())
    assert html.count('"ev":"perd"') == int((diff["evolution"] == "perd").sum())


def test_scenario_map_escapes_service_names(scenario, epci):
    res, communes = scenario
    html = render_map(scenario_map(res, communes, epci=epci, mode="voiture"))
    assert ATTACK not in html
    assert ESCAPED in html


def test_scenario_map_is_deterministic(scenario, tmp_path):
    res, communes = scenario
    a = save_map(scenario_map(res, communes, mode="voiture", tiles=False), tmp_path / "a.html")
    b = save_map(scenario_map(res, communes, mode="voiture", tiles=False), tmp_path / "b.html")
    assert a.read_bytes() == b.read_bytes()


def test_suggestion_map_contains_picked_sites(suggestion, epci, tmp_path):
    s, communes = suggestion
    assert len(s.table) == 2
    m = suggestion_map(s, communes, epci=epci)
    html = render_map(m)
    for row in s.table.itertuples(index=False):
        assert f"Site suggéré n° {row.rang} : {row.libelle}" in html
        assert f'"id":"{row.candidate_id}"' in html
    assert "Habitants nouvellement couverts" in html
    assert html.count('"site":"n° ') == len(s.catchments)
    a = save_map(m, tmp_path / "a.html")
    b = save_map(suggestion_map(s, communes, epci=epci), tmp_path / "b.html")
    assert a.read_bytes() == b.read_bytes()


def test_suggestion_map_escapes_existing_service_names(suggestion):
    s, communes = suggestion
    services = s.coverage.services
    # A real atelier vélo of the registry, renamed to an attack string.
    row = services[services["categorie"] == "atelier_velo"].head(1).copy()
    assert len(row)
    row["service_id"] = "TEST-XSS"
    row["nom"] = ATTACK
    s.coverage.services = pd.concat([services, row], ignore_index=True)
    try:
        html = render_map(suggestion_map(s, communes))
    finally:
        s.coverage.services = services
    assert ATTACK not in html
    assert ESCAPED in html
