"""The map and the report in a real browser (headless Chromium, from file://, offline).

Skipped, with the reason, where Debian's ``chromium`` or the ``websocket-client`` package is
missing (``.ci/run`` installs chromium). Inputs: the bundled reference data; two services get
attack strings as names (every other field copied from a real registry row).
"""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from zonesblanches.coverage.analysis import commune_demand, compute_coverage
from zonesblanches.geodata import reference
from zonesblanches.maps._browser import find_chromium
from zonesblanches.maps.report import write_outputs

pytest.importorskip("websocket", reason="websocket-client absent (extra « test »)")
if find_chromium() is None:
    pytest.skip(
        "Chromium absent : installez-le (apt-get install chromium) pour ce test",
        allow_module_level=True,
    )

from zonesblanches.maps._browser import Browser  # noqa: E402

VM = "245901160"
ATTACKS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>")
BACKGROUND = (0xF4, 0xF1, 0xEA)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    communes = reference.load_communes()
    communes = communes[communes["code_epci"] == VM].reset_index(drop=True)
    registry = reference.load_registry()
    # HDF-005: the plateforme de mobilité in Valenciennes (a category drawn on this map)
    real = registry[registry["service_id"] == "HDF-005"]
    rows = []
    for i, name in enumerate(ATTACKS):
        row = real.copy()
        row["service_id"] = f"TEST-XSS-{i}"
        row["nom"] = name
        rows.append(row)
    services = pd.concat([registry, *rows], ignore_index=True)
    result = compute_coverage(
        commune_demand(communes),
        services,
        {"voiture": 20, "marche": 30},
        categories=["garage_solidaire", "plateforme_mobilite"],
        territory="CA Valenciennes Métropole",
    )
    return write_outputs(
        result,
        communes,
        tmp_path_factory.mktemp("browser"),
        epci=reference.load_epci(),
        run_date="2026-01-15",
        static_maps=[],
    )


@pytest.fixture(scope="module")
def browser():
    with Browser(width=1280, height=900) as b:
        yield b


def _not_blank(png: bytes) -> tuple[int, float]:
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB").resize((320, 225))
    pixels = list(img.get_flattened_data())
    colours = len(set(pixels))
    drawn = sum(
        1 for p in pixels if max(abs(a - b) for a, b in zip(p, BACKGROUND, strict=True)) > 12
    )
    return colours, drawn / len(pixels)


def test_map_opens_offline_and_draws(files, browser, tmp_path):
    report = browser.open(files["carte"])
    print(f"carte EPCI prête en {report.ready_seconds:.2f} s")
    assert report.ready, report.console_errors
    assert report.external_requests == []
    assert report.console_errors == []
    assert report.dialogs == []
    state = browser.evaluate(
        """({leaflet: typeof L === "object" && L.version,
             canvases: document.querySelectorAll(".leaflet-overlay-pane canvas").length,
             markers: document.querySelectorAll(".leaflet-marker-icon.zb-icon").length,
             towns: document.querySelectorAll(".zb-town:not(.zb-hidden)").length,
             legend: document.querySelector(".zb-legend").textContent,
             method: document.querySelector(".zb-method").textContent})"""
    )
    assert state["leaflet"] == "1.9.3"
    assert state["canvases"] >= 1
    assert state["markers"] > 0 and state["towns"] > 0
    assert "Temps d'accès au service le plus proche" in state["legend"]
    assert "Garage solidaire, en voiture" in state["legend"]
    assert "vol d'oiseau" in state["method"]
    png = browser.screenshot()
    (tmp_path / "carte.png").write_bytes(png)
    colours, drawn = _not_blank(png)
    assert colours > 30 and drawn > 0.2, (colours, drawn)


def test_attack_names_show_as_text_and_open_no_dialog(files, browser):
    browser.open(files["carte"])
    texts = browser.evaluate(
        """(function () {
          var out = [];
          document.querySelectorAll(".leaflet-marker-icon.zb-icon").forEach(function (m) {
            if (m.title.indexOf("alert(1)") >= 0) {
              m.dispatchEvent(new MouseEvent("click", {bubbles: true}));
              var all = document.querySelectorAll(".leaflet-popup-content");
              out.push(all.length ? all[all.length - 1].textContent : null);
            }
          });
          return out;
        })()"""
    )
    assert len(texts) == 2
    for attack in ATTACKS:
        assert any(t and attack in t for t in texts), (attack, texts)
    browser.wait_events(0.5)
    events = [e["method"] for e in browser.events]
    assert "Page.javascriptDialogOpening" not in events
    assert browser.evaluate('document.querySelectorAll("img[src=\\"x\\"]").length') == 0


def test_indicator_switch_changes_legend_and_search_finds_commune(files, browser):
    browser.open(files["carte"])
    legend = browser.evaluate(
        """(function () {
          var labels = document.querySelectorAll(".leaflet-control-layers-base label");
          var target = Array.prototype.find.call(labels, function (l) {
            return l.textContent.indexOf("Plateforme de mobilité, à pied") >= 0; });
          target.querySelector("input").click();
          return document.querySelector(".zb-legend").textContent;
        })()"""
    )
    assert "Plateforme de mobilité, à pied" in legend
    assert "au-delà de 30 min" in legend
    popup = browser.evaluate(
        """(function () {
          var input = document.querySelector(".zb-search input");
          input.value = "Anzin (59014)";
          input.dispatchEvent(new Event("change"));
          var c = document.querySelector(".leaflet-popup-content");
          return c ? c.textContent : "";
        })()"""
    )
    assert "Anzin" in popup and "59014" in popup


def test_report_opens_offline_sorts_and_escapes(files, browser, tmp_path):
    report = browser.open(
        files["rapport"], ready="window.zbMapReady === true && window.zbReportReady === true"
    )
    print(f"rapport EPCI prêt en {report.ready_seconds:.2f} s")
    assert report.ready, report.console_errors
    assert report.external_requests == []
    assert report.console_errors == []
    assert report.dialogs == []
    text = browser.evaluate("document.body.textContent")
    for attack in ATTACKS:
        assert attack in text  # shown as text in the services table
    assert browser.evaluate('document.querySelectorAll("img[src=\\"x\\"]").length') == 0
    order = browser.evaluate(
        """(function () {
          var table = document.querySelector("#epci table");
          var th = table.tHead.rows[0].cells[0];
          th.click();
          var first = Array.prototype.map.call(table.tBodies[0].rows,
                                                function (r) { return r.cells[0].textContent; });
          th.click();
          var second = Array.prototype.map.call(table.tBodies[0].rows,
                                                 function (r) { return r.cells[0].textContent; });
          return JSON.stringify([first, second, th.getAttribute("aria-sort")]);
        })()"""
    )
    first, second, sort = json.loads(order)
    assert first == sorted(first, key=str.lower)
    assert second == list(reversed(first)) or second[0] >= second[-1]
    assert sort == "descending"
    png = browser.screenshot()
    (tmp_path / "rapport.png").write_bytes(png)
    colours, _ = _not_blank(png)
    assert colours > 30
