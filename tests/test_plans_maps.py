"""Maps of the site suggestion and of the scenarios (:mod:`zonesblanches.maps.plans`).

Inputs: the bundled reference data and services registry. One service gets an attack string as
its name (every other field copied from the real registry row HDF-002). The grid-cell scenario
uses the test grid of tests/data/carreaux (official Filosofi layout and real coordinates at
Valenciennes, synthetic populations: see SOURCE.md there).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from zonesblanches import api
from zonesblanches.geodata import reference
from zonesblanches.geodata.carreaux import carreaux_demand, load_carreaux
from zonesblanches.geodata.territory import select_territory
from zonesblanches.maps import render_map, save_map, scenario_map, suggestion_map
from zonesblanches.maps.plans import unit_words

ATTACK = "<img src=x onerror=alert(1)>"
ESCAPED = "\\u003cimg src=x onerror=alert(1)\\u003e"
GRID = Path(__file__).parent / "data" / "carreaux" / "carreaux_200m_test.csv"


def _payload(html: str) -> dict:
    """The map's data, as the page's script reads it."""
    match = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


def _diff_layers(payload: dict) -> list[dict]:
    return [x for x in payload["extra"] if x["name"].startswith("Qui gagne, qui perd")]


@pytest.fixture(scope="module")
def epci():
    return reference.load_epci()


@pytest.fixture(scope="module")
def scenario():
    """Lens → Wingles (HDF-002 moved), region-wide, with HDF-002 renamed to an attack."""
    services = reference.load_registry().copy()
    services.loc[services["service_id"] == "HDF-002", "nom"] = ATTACK
    res = api.scenario(None, move="HDF-002:62895", services=services)
    return res, select_territory(None).communes


@pytest.fixture(scope="module")
def grid_scenario():
    """A garage solidaire added in Valenciennes, for the test grid's cells there, on foot with a
    38 min threshold (so that some cells change and others do not)."""
    territory = select_territory("valenciennes")
    cells = load_carreaux(GRID, mask=territory.geometry, progress=False)
    res = api.scenario(
        territory,
        add="garage_solidaire:59606",
        thresholds={"marche": 38},
        categories=["garage_solidaire"],
        demand=carreaux_demand(cells, territory.communes),
    )
    return res, territory.communes


@pytest.fixture(scope="module")
def suggestion():
    s = api.suggest("valenciennes", "atelier_velo", "marche", 2, progress=False)
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


def test_scenario_diff_layers_draw_changed_units_only(scenario):
    """Each « Qui gagne, qui perd » layer holds exactly the units that gain or lose access,
    drawn with the very polygon of the commune in the base layer underneath."""
    res, communes = scenario
    payload = _payload(render_map(scenario_map(res, communes, tiles=False)))
    layers = _diff_layers(payload)
    specs = [(c, m) for c in res.after.categories for m in res.after.modes]
    assert len(layers) == len(specs)
    base = {f["properties"]["c"]: f["geometry"] for f in payload["units"]["features"]}
    for layer, (cat, mode) in zip(layers, specs, strict=True):
        diff = res.diff_layer(cat, mode)
        changed = diff[diff["evolution"].isin(["gagne", "perd"])]
        unchanged = set(diff.loc[diff["evolution"] == "inchange", "code_insee"].astype(str))
        assert len(changed) and unchanged
        features = layer["data"]["features"]
        drawn = [f["properties"]["code"] for f in features]
        # Every changed unit is drawn, once, with its evolution; no unchanged unit is.
        assert sorted(drawn) == sorted(changed["code_insee"].astype(str))
        assert not unchanged & set(drawn)
        expected = dict(zip(changed["code_insee"].astype(str), changed["evolution"], strict=True))
        for f in features:
            assert f["properties"]["ev"] == expected[f["properties"]["code"]]
            assert f["geometry"] == base[f["properties"]["code"]]
        # The legend still counts the unchanged units, and says they are not drawn.
        words = unit_words("commune")
        assert f"accès inchangé ({words.count(len(unchanged))}" in layer["legend_rows"][-1][1]
        assert "non dessinées" in layer["legend_rows"][-1][1]
    assert any("Seules les communes qui gagnent ou perdent" in n for n in payload["notes"])


def test_scenario_map_of_grid_cells(grid_scenario):
    """With grid cells, the diff layer draws the changed cells as points and its legend, popups
    and notes speak of « carreaux », not of communes."""
    res, communes = grid_scenario
    html = render_map(scenario_map(res, communes, tiles=False))
    payload = _payload(html)
    (layer,) = _diff_layers(payload)
    diff = res.diff_layer("garage_solidaire", "marche")
    changed = diff[diff["evolution"].isin(["gagne", "perd"])]
    assert len(changed) and (diff["evolution"] == "inchange").any()
    features = layer["data"]["features"]
    assert sorted(f["properties"]["code"] for f in features) == sorted(changed["unit_id"])
    assert {f["geometry"]["type"] for f in features} == {"Point"}
    assert ("code", "Carreau") in [tuple(x) for x in layer["fields"]]
    legend = " ".join(text for _, text in layer["legend_rows"])
    assert "carreau" in legend and "commune" not in legend
    assert "non dessinés" in legend
    assert any("Seuls les carreaux qui gagnent ou perdent" in n for n in payload["notes"])


def test_unit_words():
    assert unit_words("commune").title == "Communes"
    assert unit_words("carreau").title == "Carreaux"
    assert unit_words("carreau").agree("peuplé") == "peuplés"
    assert unit_words("commune").agree("peuplé") == "peuplées"
    assert unit_words("carreau").count(1) == "1 carreau"
    assert unit_words("commune").count(3782) == "3\u202f782 communes"
    assert unit_words("autre").plural == "unités"


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
    # placed at a commune of the map (the map draws the services of its territory only)
    row = row.set_geometry([communes.to_crs(row.crs).representative_point().iloc[0]], crs=row.crs)
    s.coverage.services = pd.concat([services, row], ignore_index=True)
    try:
        html = render_map(suggestion_map(s, communes))
    finally:
        s.coverage.services = services
    assert ATTACK not in html
    assert ESCAPED in html


def test_gain_curve_follows_the_greedy_order(suggestion, tmp_path):
    """k = 1…10 on CA Valenciennes Métropole (walking to a bike workshop): the curve is the
    greedy order, nested (its first two sites are the 2-site suggestion), its gains never grow
    (coverage is submodular) and add up to the people covered after the last site."""
    from PIL import Image

    from zonesblanches.maps import gain_curve, gain_curve_chart

    two, communes = suggestion
    ten = api.suggest("valenciennes", "atelier_velo", "marche", 10, progress=False)
    curve = gain_curve(ten)
    n = len(curve)
    assert 2 <= n <= 10 and curve["k"].tolist() == list(range(1, n + 1))
    assert curve["site"].head(2).tolist() == two.table["libelle"].tolist()
    gains = curve["population_gagnee"].to_numpy()
    assert (gains[1:] <= gains[:-1]).all() and gains[-1] > 0
    assert abs(ten.covered_before + gains.sum() - curve["population_couverte"].iloc[-1]) <= n
    assert curve["part_du_premier"].iloc[0] == 1.0
    assert curve["part_couverte"].is_monotonic_increasing

    page = _payload(render_map(suggestion_map(ten, communes)))
    note = next(x for x in page["notes"] if x.startswith("Habitants nouvellement couverts"))
    first = curve.iloc[0]
    assert f"1. {first['nom']} : +" in note and f"{n}. {curve['nom'].iloc[-1]} : +" in note

    png = gain_curve_chart(curve, tmp_path / "courbe.png", dpi=100)
    with Image.open(png) as im:
        assert im.size == (669, 354)  # 17 × 9 cm at 100 dpi
    again = gain_curve_chart(curve, tmp_path / "courbe2.png", dpi=100)
    assert png.read_bytes() == again.read_bytes()


def test_gain_curve_needs_the_greedy_selection():
    from types import SimpleNamespace

    from zonesblanches.errors import ParameterError
    from zonesblanches.maps import gain_curve

    with pytest.raises(ParameterError, match="sélection gloutonne"):
        gain_curve(SimpleNamespace(greedy_table=None))


def test_scenario_layers_follow_the_indicator_shown(scenario):
    """One « qui gagne, qui perd » switch in the layer control, not one per category × mode:
    each evolution layer is tied to its indicator and shown with it (issue 15)."""
    res, communes = scenario
    payload = _payload(render_map(scenario_map(res, communes, tiles=False)))
    layers = _diff_layers(payload)
    assert len(layers) == len(payload["layers"]) > 1
    assert payload["groups"]["evolution"]["show"] is True
    for layer in layers:
        assert layer["group"] == "evolution" and "follows" not in layer
        spec = payload["layers"][layer["indicator"]]
        assert layer["name"].startswith(f"Qui gagne, qui perd : {spec['name']} ")
    assert sorted(x["indicator"] for x in layers) == list(range(len(layers)))
