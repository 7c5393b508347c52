"""The national map and report of a multi-département run (issue 18).

Inputs: the bundled reference communes and the bundled example registry, straight-line model,
on three départements (Côtes-d'Armor, Finistère, Vendée: they hold the four island communes
outside any EPCI) — fast; the whole of France is measured by ``scripts/bench_france.py``.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import shapely

from zonesblanches import api
from zonesblanches.geodata import reference
from zonesblanches.maps.national import (
    MAX_BYTES,
    decode_polyline,
    encode_geometries,
    national_page,
    write_national_map,
    write_region_maps,
)
from zonesblanches.maps.national_report import write_national_report
from zonesblanches.maps.tables import NO_EPCI_LABEL, synthesis_table
from zonesblanches.partitioned import select_territories

ISLANDS = {"85113", "22016", "29083", "29155"}  # the communes outside any EPCI
N_FRANCE = 34_746


@pytest.fixture(scope="module")
def run():
    territory = select_territories("22,29,85")
    return api.diagnostic(territory, {"voiture": 20, "marche": 30})


def _blocks(page: str) -> dict[str, dict]:
    found = re.findall(r'<script type="application/json" id="zb-d-(\w+)">(.*?)</script>', page)
    return {code: json.loads(text) for code, text in found}


def test_encoded_rings_decode_to_the_rounded_contours():
    communes = reference.load_communes(None)
    some = communes.loc[communes["code_insee"].isin(["29083", "59350", "2A004"])]
    encoded = encode_geometries(some.geometry.values)
    for geom, text in zip(some.geometry.values, encoded, strict=True):
        polys = text.split(",")
        parts = shapely.get_parts(geom)
        assert len(polys) == len(parts)
        for poly, part in zip(polys, parts, strict=True):
            rings = poly.split(" ")
            assert len(rings) == 1 + shapely.get_num_interior_rings(part)
            expected = np.asarray(part.exterior.coords)[:-1, ::-1]
            got = np.asarray(decode_polyline(rings[0]))
            np.testing.assert_allclose(got, np.round(expected, 4), atol=1e-9)
    assert encode_geometries([shapely.Polygon()]) == [""]


def test_the_page_holds_every_commune_once_with_its_times(run):
    page = national_page(run)
    blocks = _blocks(page)
    assert sorted(blocks) == ["22", "29", "85"]
    codes = [c for b in blocks.values() for c in b["c"]]
    assert sorted(codes) == sorted(run.units["code_insee"])
    main = json.loads(re.search(r'id="zb-main">(.*?)</script>', page).group(1))
    assert len(main["indicators"]) == len(run.categories) * len(run.modes)
    # the island communes form one group, named, in the EPCI layer
    alone = [e for e in main["epci"] if e["c"] == ""]
    assert len(alone) == 1 and alone[0]["n"] == NO_EPCI_LABEL
    pop = run.units.loc[run.units["code_insee"].isin(ISLANDS), "population"].sum()
    assert alone[0]["p"] == round(pop)
    # times in tenths of a minute agree with the zone-blanche flags
    first = blocks["29"]
    units = run.units.set_index("code_insee").loc[first["c"]]
    cat, mode = run.categories[0], run.modes[0]
    blank = units[f"zone_blanche_{cat}_{mode}"].to_numpy(bool)
    tenths = np.asarray(first["t"][0])
    assert ((tenths < 0) | (tenths > 10 * run.thresholds[mode]) == blank).all()
    assert page == national_page(run)  # same inputs, same bytes


def test_the_size_budget_holds_for_france_by_extrapolation(run, tmp_path):
    """What grows with the territory (EPCI, départements, communes: everything but Leaflet and
    the page's own script and style), per commune on three départements, times 34,746, stays
    under 15 MB (France itself: measured by scripts/bench_france.py --carte)."""
    from zonesblanches.maps.assets import leaflet_css, leaflet_js
    from zonesblanches.maps.national import PAGE_CSS, PAGE_JS

    path = write_national_map(run, tmp_path / "carte.html")
    size = path.stat().st_size
    fixed = sum(len(t.encode("utf-8")) for t in (leaflet_js(), leaflet_css(), PAGE_JS, PAGE_CSS))
    assert size < MAX_BYTES
    assert fixed + (size - fixed) * N_FRANCE / len(run.units) < MAX_BYTES


def test_island_communes_form_a_named_group_in_the_epci_synthesis():
    communes = reference.load_communes(None)
    communes = communes.loc[communes["code_departement"].isin(["22", "29", "85"])]
    result = api.diagnostic(select_territories("22,29,85"), {"voiture": 20})
    table = synthesis_table(result)
    alone = table.loc[table["code_epci"] == ""]
    assert set(alone["nom_epci"]) == {NO_EPCI_LABEL}
    pop = communes.loc[communes["code_insee"].isin(ISLANDS), "population"].sum()
    assert (alone["population"] == pop).all()
    assert table["code_epci"].nunique() == communes["code_epci"].nunique()


def test_report_and_region_maps(run, tmp_path):
    report = write_national_report(run, tmp_path, run_date="2026-11-30")
    text = report.read_text(encoding="utf-8")
    assert "Par département" in text and "Par région" in text
    for name in ("Finistère", "Vendée", "Bretagne", "Pays de la Loire"):
        assert name in text
    assert len(re.findall(r"<img src=\"data:image/png;base64,", text)) == 3
    assert sorted(p.name for p in (tmp_path / "figures").glob("*.png")) == [
        "carte_departements_garage_solidaire_voiture.png",
        "part_couverte.png",
        "regions_garage_solidaire_voiture.png",
    ]
    maps = write_region_maps(run, tmp_path / "cartes_regions")
    assert [p.name for p in maps] == ["carte_52_pays-de-la-loire.html", "carte_53_bretagne.html"]
    assert sorted(_blocks(maps[1].read_text(encoding="utf-8"))) == ["22", "29"]


def test_the_map_opens_offline_and_drills_into_a_departement(run, tmp_path):
    pytest.importorskip("websocket", reason="websocket-client absent (extra « test »)")
    from zonesblanches.maps._browser import Browser, find_chromium

    if find_chromium() is None:
        pytest.skip("Chromium absent : installez-le (apt-get install chromium) pour ce test")
    path = write_national_map(run, tmp_path / "carte.html")
    with Browser(width=1400, height=900) as browser:
        report = browser.open(path, timeout=60)
        assert report.ready, report.console_errors
        assert report.console_errors == [] and report.external_requests == []
        assert report.dialogs == []
        legends = "document.querySelectorAll('.zb-legend h4').length"
        assert browser.evaluate(legends) == 1  # EPCI only at first
        key = browser.evaluate("document.querySelector('.zb-key').textContent")
        assert "habitants sur" in key and "à plus de 20 min" in key
        browser.evaluate("window.zbDrill('29')")
        assert browser.evaluate(legends) == 2  # the communes' time classes added
        assert browser.evaluate("window.zbMap.getZoom()") >= 8


def test_national_figures_are_the_pixels_savefig_drew(run, tmp_path, monkeypatch):
    """The département map and the régions chart are written as the report's other figures
    (maps/_png.py: RGB, no software chunk, faster compression): the same pixels as the
    former ``savefig`` files, decoded."""
    from PIL import Image

    from zonesblanches.maps import national_report
    from zonesblanches.maps.figures import PNG_METADATA

    def former(fig, path, dpi):
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, metadata=PNG_METADATA, facecolor="white")
        return path

    new = national_report.write_national_report(run, tmp_path / "new", run_date="2026-11-30")
    monkeypatch.setattr(national_report, "save_figure", former)
    old = national_report.write_national_report(run, tmp_path / "old", run_date="2026-11-30")
    names = sorted(p.name for p in (new.parent / "figures").glob("*.png"))
    assert len(names) == 3
    for name in names:
        with (
            Image.open(new.parent / "figures" / name) as a,
            Image.open(old.parent / "figures" / name) as b,
        ):
            assert a.size == b.size
            assert np.array_equal(np.asarray(a.convert("RGBA")), np.asarray(b.convert("RGBA")))
