"""The coverage map: escaping, determinism, layers, French legends, self-containedness.

Inputs are the bundled reference data (real communes, EPCI and services of Hauts-de-France).
The escaping tests add two services whose *name* is an attack string; every other field of
those rows is copied from a real registry row, so they sit where a real service sits.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from zonesblanches.api import zones_by_indicator
from zonesblanches.coverage.analysis import commune_demand, compute_coverage
from zonesblanches.coverage.zones import zones_blanches
from zonesblanches.errors import ParameterError
from zonesblanches.geodata import reference
from zonesblanches.maps import coverage_map, render_map, save_map, style
from zonesblanches.maps._services import decode_services

DATA = Path(__file__).parent / "data" / "maps"
VM = "245901160"  # CA Valenciennes Métropole, 35 communes
SCRIPT_ATTACK = "<script>alert(1)</script>"
IMG_ATTACK = "<img src=x onerror=alert(1)>"


def _attack_services(registry: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    real = registry[registry["commune"] == "Valenciennes"].iloc[[0]]
    rows = []
    for i, name in enumerate((SCRIPT_ATTACK, IMG_ATTACK), start=1):
        row = real.copy()
        row["service_id"] = f"TEST-XSS-{i}"
        row["nom"] = name
        row["notes"] = name
        rows.append(row)
    return pd.concat([registry, *rows], ignore_index=True)


@pytest.fixture(scope="module")
def vm_communes():
    communes = reference.load_communes()
    return communes[communes["code_epci"] == VM].reset_index(drop=True)


@pytest.fixture(scope="module")
def vm_result(vm_communes):
    services = _attack_services(reference.load_registry())
    return compute_coverage(
        commune_demand(vm_communes),
        services,
        {"voiture": 20, "marche": 30},
        territory="CA Valenciennes Métropole",
    )


@pytest.fixture(scope="module")
def epci():
    return reference.load_epci()


@pytest.fixture(scope="module")
def vm_html(vm_result, vm_communes, epci):
    return render_map(coverage_map(vm_result, vm_communes, epci=epci))


def payload(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    assert match, "no map data in the page"
    return json.loads(match.group(1))


def test_attack_names_only_appear_escaped(vm_html):
    assert SCRIPT_ATTACK not in vm_html
    assert IMG_ATTACK not in vm_html
    assert "alert(1)</script>" not in vm_html
    assert "onerror=alert(1)>" not in vm_html
    # The names are in the data, as text (JSON with <, > escaped), ready to be shown.
    names = {s["nom"] for s in decode_services(payload(vm_html)["services"])}
    assert {SCRIPT_ATTACK, IMG_ATTACK} <= names
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in vm_html


def test_title_and_territory_are_escaped(vm_result, vm_communes):
    page = render_map(coverage_map(vm_result, vm_communes, title="Carte <b>test</b> & co"))
    assert "<b>test</b>" not in page
    assert "<title>Carte &lt;b&gt;test&lt;/b&gt; &amp; co</title>" in page
    assert payload(page)["title"] == "Carte <b>test</b> & co"


def test_same_inputs_same_bytes(vm_result, vm_communes, epci, tmp_path):
    a = save_map(coverage_map(vm_result, vm_communes, epci=epci), tmp_path / "a.html")
    b = save_map(coverage_map(vm_result, vm_communes, epci=epci), tmp_path / "b.html")
    assert a.read_bytes() == b.read_bytes()
    # folium's random 32-hex-digit ids are gone
    assert not re.search(r"_[0-9a-f]{32}\b", a.read_text(encoding="utf-8"))


def test_no_external_script_or_stylesheet(vm_html):
    assert not re.search(r"<script[^>]+src=", vm_html)
    assert not re.search(r"<link[^>]+href=", vm_html)
    assert "cdn.jsdelivr" not in vm_html and "bootstrapcdn" not in vm_html
    assert "L.map(" in vm_html  # Leaflet is inlined and used


def test_layers_legends_and_method(vm_html, vm_result):
    data = payload(vm_html)
    names = [layer["name"] for layer in data["layers"]]
    assert len(names) == len(vm_result.categories) * len(vm_result.modes)
    assert names[0] == "Garage solidaire, en voiture"
    assert "Atelier vélo, à pied" in names
    assert set(data["service_layers"]) == set(vm_result.categories)
    assert data["epci"]["features"], "EPCI boundaries drawn"
    assert data["towns"], "town names drawn"
    assert {t["name"] for t in data["tiles"]} == {
        "Fond OpenStreetMap (internet)",
        "Fond IGN Plan (internet)",
    }
    # French legend and method
    assert data["text"]["legend_title"] == "Temps d'accès au service le plus proche"
    assert data["classes"]["labels"] == [
        "moins de 10 min",
        "10 à 20 min",
        "20 à 30 min",
        "30 à 45 min",
        "45 à 60 min",
        "plus de 60 min",
    ]
    assert data["classes"]["unreachable_label"] == "aucun service connu accessible"
    assert any("vol d'oiseau" in note for note in data["notes"])
    assert any("Licence Ouverte" in s for s in data["sources"])


def test_units_carry_the_result_values(vm_html, vm_result):
    """Each commune of the map carries the time, class and flag the analysis computed."""
    data = payload(vm_html)
    feats = {f["properties"]["c"]: f["properties"] for f in data["units"]["features"]}
    units = vm_result.units.set_index("code_insee")
    assert set(feats) == set(units.index)
    for i, spec in enumerate(data["layers"]):
        col = f"temps_{spec['categorie']}_{spec['mode']}"
        blank = f"zone_blanche_{spec['categorie']}_{spec['mode']}"
        for code, props in feats.items():
            assert props["t"][i] == pytest.approx(units.at[code, col], abs=0.051)
            assert props["z"][i] == ("1" if units.at[code, blank] else "0")
            expected = style.class_index(np.array([units.at[code, col]]), style.TIME_CLASSES)[0]
            assert props["k"][i] == expected


def test_filter_by_category_and_mode(vm_result, vm_communes):
    page = render_map(coverage_map(vm_result, vm_communes, categorie="atelier_velo", mode="walk"))
    data = payload(page)
    assert [layer["name"] for layer in data["layers"]] == ["Atelier vélo, à pied"]
    assert list(data["service_layers"]) == ["atelier_velo"]
    assert data["epci"] is None


def test_bad_parameters_raise_french_errors(vm_result, vm_communes):
    with pytest.raises(ParameterError, match="Catégorie absente"):
        coverage_map(vm_result, vm_communes, categorie="transport_solidaire")
    with pytest.raises(ParameterError, match="Mode absent"):
        coverage_map(vm_result, vm_communes, mode="velo")
    with pytest.raises(ParameterError, match="croissantes"):
        coverage_map(vm_result, vm_communes, thresholds_classes=[20, 10])
    with pytest.raises(ParameterError, match="code_insee"):
        coverage_map(vm_result, vm_communes[["nom", "geometry"]])
    other = reference.load_communes().query("code_departement == '80'")
    with pytest.raises(ParameterError, match="Aucune commune du résultat"):
        coverage_map(vm_result, other)


def test_custom_classes(vm_result, vm_communes):
    data = payload(render_map(coverage_map(vm_result, vm_communes, thresholds_classes=[15, 30])))
    assert data["classes"]["labels"] == ["moins de 15 min", "15 à 30 min", "plus de 30 min"]
    assert len(data["classes"]["colors"]) == 3


def test_class_index_edges():
    idx = style.class_index(np.array([0.0, 10.0, 10.01, 60.0, 61.0, np.inf]), style.TIME_CLASSES)
    assert idx.tolist() == [0, 0, 1, 4, 5, -1]


def test_extra_layers(vm_result, vm_communes, epci):
    """Isochrones, zones and QPV are drawn when given, one isochrone layer per threshold.

    The isochrones here are SYNTHETIC discs (buffers of 1 and 2 km around the real services):
    they test the drawing, not any travel time. The zones are those of
    :func:`zones_blanches` on the result; the QPV outlines are real (Occitanie, see tests/data/maps/SOURCE.md).
    """
    services = vm_result.services[vm_result.services["categorie"] == "garage_solidaire"]
    metric = services.to_crs("EPSG:2154")
    discs = []
    for seuil, radius in ((10, 1000), (20, 2000)):
        discs.append(
            gpd.GeoDataFrame(
                {
                    "service_id": services["service_id"].to_numpy(),
                    "categorie": "garage_solidaire",
                    "mode": "marche",
                    "seuil_min": seuil,
                },
                geometry=metric.buffer(radius).to_crs("EPSG:4326").to_numpy(),
                crs="EPSG:4326",
            )
        )
    iso = pd.concat(discs, ignore_index=True)
    cols = ["code_insee", "temps_garage_solidaire_marche", "zone_blanche_garage_solidaire_marche"]
    polygons = vm_communes.merge(pd.DataFrame(vm_result.units[cols]), on="code_insee")
    zones = zones_blanches(
        polygons,
        uncovered_col="zone_blanche_garage_solidaire_marche",
        time_col="temps_garage_solidaire_marche",
        communes=vm_communes,
    )
    qpv = gpd.read_file(DATA / "qpv_extrait.geojson")
    page = render_map(
        coverage_map(
            vm_result,
            vm_communes,
            epci=epci,
            isochrones=iso,
            zones={"garage_solidaire_marche": zones},
            qpv=qpv,
        )
    )
    data = payload(page)
    extra = {layer["name"]: layer for layer in data["extra"]}
    assert "Isochrone 10 min à pied — Garage solidaire" in extra
    assert "Isochrone 20 min à pied — Garage solidaire" in extra
    # only the services the map draws (in its extent or nearest to a unit), not the region's
    drawn = {
        s["nom"] for s in decode_services(data["services"]) if s["categorie"] == "garage_solidaire"
    }
    features = extra["Isochrone 10 min à pied — Garage solidaire"]["data"]["features"]
    assert {f["properties"]["service"] for f in features} == drawn
    assert len(features) == len(drawn) < len(services)
    # Isochrones follow their indicator (one switch per kind in the layer control), hidden at
    # first.
    walk = [
        i for i, spec in enumerate(data["layers"]) if spec["name"] == "Garage solidaire, à pied"
    ]
    iso10 = extra["Isochrone 10 min à pied — Garage solidaire"]
    assert iso10["indicator"] == walk[0] and iso10["group"] == "isochrones" and not iso10["show"]
    # One zone holding every uncovered commune is « quasi continue »: not drawn as a zone
    # (the hatch of the indicator says it already).
    assert len(zones) == 1
    assert not any(name.startswith("Zones blanches contiguës") for name in extra)
    qpv_layer = extra["Quartiers prioritaires (QPV)"]
    assert {f["properties"]["code_qp"] for f in qpv_layer["data"]["features"]} == set(
        qpv["code_qp"]
    )


def test_region_map_size(communes, registry, epci, tmp_path):
    """The whole-region map (3,782 communes, 10 indicators) stays well under 8 MB."""
    res = compute_coverage(
        commune_demand(communes), registry, {"voiture": 20, "marche": 30}, territory="HdF"
    )
    path = save_map(coverage_map(res, communes, epci=epci), tmp_path / "carte.html")
    size = path.stat().st_size
    print(f"taille de la carte régionale : {size / 1e6:.2f} Mo")
    assert size < 8_000_000
    data = payload(path.read_text(encoding="utf-8"))
    assert len(data["units"]["features"]) == len(communes)


def test_point_units_are_drawn_as_points(vm_communes, registry):
    """Units that are not communes (e.g. grid cells) are drawn as coloured points; here the
    real commune points stand in for such units (``unit_kind="carreau"`` only switches the
    drawing), the commune outlines staying as background."""
    demand = commune_demand(vm_communes)
    demand["unit_id"] = [f"u{i}" for i in range(len(demand))]
    demand["code_insee"] = "59606"  # every unit in one commune, as grid cells often are
    res = compute_coverage(demand, registry, {"voiture": 20}, unit_kind="carreau", territory="VM")
    data = payload(render_map(coverage_map(res, vm_communes)))
    assert data["unit_geometry"] == "point"
    assert {f["geometry"]["type"] for f in data["units"]["features"]} == {"Point"}
    assert len(data["units"]["features"]) == len(demand)
    times = dict(
        zip(res.units["unit_id"], res.units["temps_garage_solidaire_voiture"], strict=True)
    )
    for f in data["units"]["features"]:
        assert f["properties"]["t"][0] == pytest.approx(times[f["properties"]["c"]], abs=0.051)
    assert data["towns"], "town names from the commune outlines"
    assert len(data["background"]["features"]) == len(vm_communes)


def test_missing_leaflet_package_gives_a_french_message(monkeypatch):
    from zonesblanches.errors import ZonesBlanchesError
    from zonesblanches.maps import assets

    for fn in (assets.leaflet_js, assets.leaflet_css, assets.leaflet_version):
        fn.cache_clear()
    import sys

    import xstatic.pkg

    # As if XStatic-Leaflet were not installed: the import of xstatic.pkg.leaflet fails.
    monkeypatch.setitem(sys.modules, "xstatic.pkg.leaflet", None)
    monkeypatch.delattr(xstatic.pkg, "leaflet", raising=False)
    try:
        with pytest.raises(ZonesBlanchesError, match="XStatic-Leaflet"):
            assets.check_assets()
    finally:
        monkeypatch.undo()
        for fn in (assets.leaflet_js, assets.leaflet_css, assets.leaflet_version):
            fn.cache_clear()
    assets.check_assets()  # back to normal


def test_map_of_grid_cells_speaks_of_carreaux(grid_result):
    """With grid cells as units (``--carreaux``), the subtitle, the method note, the popups'
    identifier row and the zones' popups say « carreau(x) », never « unités »."""
    result, communes = grid_result
    zones = zones_by_indicator(result, communes)
    assert any(len(z) for z in zones.values()), "the test grid has uncovered cells"
    data = payload(render_map(coverage_map(result, communes, zones=zones)))
    n = len(result.units)
    assert n >= 2
    assert data["subtitle"].startswith(f"{n} carreaux, ")
    assert "unité" not in data["subtitle"]
    method = [note for note in data["notes"] if note.startswith("Zone blanche : ")]
    assert method == [
        "Zone blanche : carreau dont le service le plus proche de la catégorie est au-delà du "
        "seuil (à pied 30 min)."
    ]
    assert not any("unité (point)" in note for note in data["notes"])
    # The popups' identifier row is the cell id (idcar), labelled « Carreau », not « Code INSEE ».
    assert data["text"]["code"] == "Carreau"
    assert {f["properties"]["c"] for f in data["units"]["features"]} == set(result.units["idcar"])
    zone_layers = [layer for layer in data["extra"] if layer["name"].startswith("Zones blanches")]
    assert zone_layers
    for layer in zone_layers:
        assert ("n_unites", "Nombre de carreaux") in [tuple(f) for f in layer["fields"]]


def test_map_of_communes_keeps_its_words(vm_html, vm_result):
    """Commune units keep « communes » and « Code INSEE »; the count is grouped like the
    population (narrow no-break space)."""
    data = payload(vm_html)
    population = f"{vm_result.population:,.0f}".replace(",", "\u202f")
    assert data["subtitle"].startswith(f"{len(vm_result.units)} communes, {population} habitants")
    assert data["text"]["code"] == "Code INSEE"
    assert any(note.startswith("Zone blanche : commune dont ") for note in data["notes"])


def test_unit_words():
    """French words per unit kind: gender agreement, singular below 2, generic fallback."""
    commune, carreau = style.unit_words("commune"), style.unit_words("carreau")
    assert (commune.count(1), commune.count(0), commune.count(1234)) == (
        "1 commune",
        "0 commune",
        "1\u202f234 communes",
    )
    assert (carreau.count(1), carreau.count(2), carreau.title) == (
        "1 carreau",
        "2 carreaux",
        "Carreaux",
    )
    assert (commune.agree("peuplé"), carreau.agree("peuplé")) == ("peuplées", "peuplés")
    assert style.unit_words("iris").plural == "unités"
    # plans.py re-exports them, for the code that imported them from there.
    from zonesblanches.maps import plans

    assert plans.unit_words is style.unit_words and plans.UnitWords is style.UnitWords


def test_zones_of_grid_cells_follow_their_indicator(grid_result):
    """At grid-cell level zones are listed: each indicator's outlines follow it, not hatched."""
    result, communes = grid_result
    zones = zones_by_indicator(result, communes)
    data = payload(render_map(coverage_map(result, communes, zones=zones)))
    layers = [layer for layer in data["extra"] if layer.get("group") == "zones"]
    assert layers and all(not layer["show"] and not layer.get("hatch") for layer in layers)
    names = [spec["name"] for spec in data["layers"]]
    for layer in layers:
        assert layer["name"] == f"Zones blanches contiguës : {names[layer['indicator']]}"
