"""French wording of map and summary lines (issue 15 §6): counts agreed, no « (s) », and no
« Problèmes signalés : 0 » read as reassurance under the example registry.

Inputs: the bundled communes of CA Valenciennes Métropole and the bundled example registry.
"""

from __future__ import annotations

import re

import pytest

from zonesblanches.coverage.analysis import commune_demand, compute_coverage
from zonesblanches.errors import ParameterError
from zonesblanches.geodata import reference
from zonesblanches.maps import coverage_map, render_map
from zonesblanches.maps._geometry import check_frame
from zonesblanches.summaries import format_problems

VM = "245901160"


@pytest.fixture(scope="module")
def vm():
    communes = reference.load_communes()
    communes = communes[communes["code_epci"] == VM].reset_index(drop=True)
    result = compute_coverage(commune_demand(communes), reference.load_registry(), {"voiture": 20})
    return result, communes


def test_problems_line_under_the_example_registry(vm):
    result, _ = vm
    assert format_problems(0, result) == "Problèmes signalés : 0"
    result.services_caveat = "Registre d'exemple : 19 services, non exhaustif"
    try:
        line = format_problems(0, result)
    finally:
        result.services_caveat = ""
    assert line.startswith("Problèmes signalés dans les fichiers lus : 0 — ")
    assert "le registre d'exemple n'est pas vérifié" in line
    assert format_problems(3) == "Problèmes signalés : 3"


def test_map_sources_count_services_in_words(vm):
    result, communes = vm
    page = render_map(coverage_map(result, communes, tiles=False))
    assert f"Services : {len(result.services)} services ;" in page
    data = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    assert "(s)" not in data.group(1)  # no « service(s) » in any text the page shows


def test_missing_columns_agree():
    import geopandas as gpd

    frame = gpd.GeoDataFrame({"a": [1]}, geometry=gpd.points_from_xy([0], [0]), crs=4326)
    with pytest.raises(ParameterError, match="^Colonne manquante dans « x » : b"):
        check_frame(frame, "x", ("b",))
    with pytest.raises(ParameterError, match="^Colonnes manquantes dans « x » : b, c"):
        check_frame(frame, "x", ("b", "c"))


def test_zones_of_some_indicators_only_are_said(vm):
    """Above a thousand units the workflow dissolves zones for one category only: the map
    says so instead of looking as if the other indicators had no zone."""
    from zonesblanches.api import zones_by_indicator

    result, communes = vm
    pairs = [(result.categories[0], m) for m in result.modes]
    some = zones_by_indicator(result, communes, pairs=pairs)
    data = re.search(
        r'<script type="application/json" id="[^"]+">(.*?)</script>',
        render_map(coverage_map(result, communes, zones=some, tiles=False)),
        re.S,
    ).group(1)
    assert "Périmètres des zones blanches contiguës calculés seulement pour : " in data
    every = zones_by_indicator(result, communes)
    page = render_map(coverage_map(result, communes, zones=every, tiles=False))
    assert "calculés seulement pour" not in page


def test_no_parenthesised_plural_left_in_user_text():
    """No « ligne(s) », « service(s) »… in any French string of the package: counts agree."""
    import ast
    import re
    from pathlib import Path

    import zonesblanches

    pattern = re.compile(r"[a-zéèàù]\((s|x|es|aux)\)")
    hits = []
    for path in sorted(Path(zonesblanches.__file__).parent.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and "function" not in node.value  # the map's JavaScript, not French text
                and pattern.search(node.value)
            ):
                hits.append(f"{path.name}:{node.lineno} {node.value[:60]!r}")
    assert not hits, "parenthesised plurals: " + "; ".join(hits)


def test_reliability_box_does_not_give_the_services_used_as_the_registry_size(vm):
    """The map's headline gives the registry's size (« 19 services »); the report's
    reliability box counts the services used here, and says so."""
    from zonesblanches.maps.findings import reliability

    result, _ = vm
    first = reliability(result, example_registry=True)[0]
    n = len(result.services)
    assert first.startswith(f"Services : registre d'exemple embarqué, dont {n} services pris en")


def test_static_map_text_wraps_within_the_page():
    # Legend labels and the source line of the Word figures wrap (the transit labels and the
    # GTFS method line ran past the page's right edge), keeping their own line breaks.
    from zonesblanches.maps.figures import LEGEND_CHARS, _wrap
    from zonesblanches.maps.style import unreachable_label

    label = _wrap(unreachable_label("transport"), LEGEND_CHARS)
    assert label == "aucun trajet en transports en\ncommun dans la fenêtre"
    assert _wrap("dont 1 hors du territoire,\npris en compte (creux)", LEGEND_CHARS) == (
        "dont 1 hors du territoire,\npris en compte (creux)"
    )
    long = "Temps en transports en commun " * 12
    assert all(len(line) <= 190 for line in _wrap("Sources.\n" + long, 190).split("\n"))
