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
    return _vm_outputs(
        tmp_path_factory.mktemp("browser"),
        services,
        categories=["garage_solidaire", "plateforme_mobilite"],
    )


def _vm_outputs(folder, services, categories=None, with_zones=False):
    """Map, report and tables of CA Valenciennes Métropole, car 20 min and walk 30 min."""
    from zonesblanches.api import zones_by_indicator

    communes = reference.load_communes()
    communes = communes[communes["code_epci"] == VM].reset_index(drop=True)
    result = compute_coverage(
        commune_demand(communes),
        services,
        {"voiture": 20, "marche": 30},
        categories=categories,
        territory="CA Valenciennes Métropole",
    )
    return write_outputs(
        result,
        communes,
        folder,
        epci=reference.load_epci(),
        run_date="2026-01-15",
        zones=zones_by_indicator(result, communes) if with_zones else None,
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
          // the attack rows are plateformes de mobilité: show the others' services too
          document.querySelectorAll(".leaflet-control-layers-overlays label").forEach(
            function (l) {
              if (l.textContent.indexOf("autres catégories") >= 0) {
                l.querySelector("input").click();
              }
            });
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


# --------------------------------------------------------------------------- one question per view

SIZES = ((1366, 768), (1400, 900), (1920, 1080))


@pytest.fixture(scope="module")
def epci_files(tmp_path_factory):
    """CA Valenciennes Métropole, every category, car and walk, with the zones of every
    indicator: the busiest map of an EPCI run (10 indicators)."""
    return _vm_outputs(tmp_path_factory.mktemp("epci"), reference.load_registry(), with_zones=True)


def _resize(browser, width, height):
    browser.call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )


BOXES = """(function () {
  function box(sel) {
    var e = document.querySelector(sel);
    if (!e || e.offsetParent === null) { return null; }
    var r = e.getBoundingClientRect();
    return [r.left, r.top, r.right, r.bottom];
  }
  return JSON.stringify({layers: box(".leaflet-control-layers"), legend: box(".zb-legend"),
                         map: box(".leaflet-container"),
                         list: box(".leaflet-control-layers-list")});
})()"""


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("page", ["carte", "rapport"])
def test_legend_and_layer_control_never_overlap(epci_files, browser, page):
    ready = "window.zbMapReady === true"
    try:
        for width, height in SIZES:
            _resize(browser, width, height)
            report = browser.open(epci_files[page], ready=ready)
            assert report.ready and report.console_errors == [], report.console_errors
            boxes = json.loads(browser.evaluate(BOXES))
            print(page, width, height, boxes)
            assert boxes["layers"] and boxes["legend"], boxes
            assert not _overlap(boxes["layers"], boxes["legend"]), (width, height, boxes)
            # both wholly inside the map, the list not cut by the map's edge
            for name in ("layers", "legend"):
                b, m = boxes[name], boxes["map"]
                assert m[0] <= b[0] and b[2] <= m[2] and m[1] <= b[1] and b[3] <= m[3], name
            # both fold: the legend's body and the layer list disappear, and come back
            folded = browser.evaluate(
                """(function () {
                  var out = [];
                  document.querySelectorAll(".zb-fold").forEach(function (b) {
                    b.click();
                    out.push(b.getAttribute("aria-expanded"));
                  });
                  out.push(document.querySelector(".zb-legend-body").offsetParent === null);
                  out.push(document.querySelector(".leaflet-control-layers-list")
                           .offsetParent === null);
                  document.querySelectorAll(".zb-fold").forEach(function (b) { b.click(); });
                  return out;
                })()"""
            )
            assert folded == ["false", "false", True, True], folded
    finally:
        _resize(browser, 1280, 900)


def test_labels_are_human(epci_files, browser):
    browser.open(epci_files["carte"])
    text = browser.evaluate(
        """document.querySelector(".leaflet-control-layers").textContent + " " +
           document.querySelector(".zb-legend").textContent"""
    )
    assert "_" not in text, text
    assert "Garage solidaire, en voiture" in text
    # one hatch entry in the legend, for the indicator shown
    assert browser.evaluate('document.querySelectorAll(".zb-legend .zb-hatch-sw").length') == 1


HATCH_CHECK = """(function () {
  var zb = window.zbMaps[window.zbMaps.length - 1];
  var labels = document.querySelectorAll(".leaflet-control-layers-base label");
  var out = [];
  Array.prototype.forEach.call(labels, function (label) {
    label.querySelector("input").click();
    var cur = zb.current();
    if (cur < 0) { return; }
    var spec = null, bad = [], n = 0, hatched = 0, sampled = 0;
    zb.units.eachLayer(function (l) {
      var p = l.feature.properties;
      if (!p.k) { return; }
      n += 1;
      var isHatched = typeof l.options.fillColor !== "string";
      var t = p.t[cur];
      var beyond = t === null || t > zbThreshold(label);
      if (isHatched) { hatched += 1; }
      if (isHatched !== beyond) { bad.push(p.n + " " + t); }
      // the popup says the same (a sample: one in three)
      if (n % 3 === 0) {
        l.openPopup();
        var text = l.getPopup().getElement().querySelector(".leaflet-popup-content")
                    .textContent;
        var says = text.indexOf("Zone blancheoui") >= 0;
        if (says !== beyond) { bad.push("popup " + p.n + " " + text); }
        sampled += 1;
        l.closePopup();
      }
    });
    // zone outlines and isochrones of other indicators are never on the map
    var strays = zb.extras.filter(function (e) {
      return e.spec.group && zb.map.hasLayer(e.layer) && e.spec.indicator !== cur;
    }).map(function (e) { return e.spec.name; });
    out.push({indicator: label.textContent.trim(), units: n, hatched: hatched,
              sampled: sampled, bad: bad, strays: strays});
  });
  return JSON.stringify(out);
})()"""


def test_hatch_follows_the_indicator_and_the_times(epci_files, browser):
    """Every indicator, every unit: hatched exactly when its time is beyond the threshold (or
    no service is reachable), popups agree; zone outlines switched on show the indicator's
    zones only."""
    browser.open(epci_files["carte"])
    browser.evaluate(
        """window.zbThreshold = function (label) {
             var zb = window.zbMaps[window.zbMaps.length - 1];
             return JSON.parse(document.querySelector("script[type='application/json']")
                               .textContent).layers[zb.current()].t;
           }; true"""
    )
    # switch the zone outlines on: they must follow the indicator
    browser.evaluate(
        """(function () {
          var labels = document.querySelectorAll(".leaflet-control-layers-overlays label");
          Array.prototype.forEach.call(labels, function (l) {
            if (l.textContent.indexOf("Périmètres des zones blanches") >= 0) {
              l.querySelector("input").click();
            }
          });
          return true;
        })()"""
    )
    results = json.loads(browser.evaluate(HATCH_CHECK.replace("zbThreshold", "window.zbThreshold")))
    assert len(results) == 10
    for r in results:
        assert r["units"] == 35 and r["sampled"] >= 11, r
        assert r["bad"] == [] and r["strays"] == [], r
    by_name = {r["indicator"]: r for r in results}
    # the default view the issue asked for: by car, only Condé-sur-l'Escaut and Saint-Aybert
    assert by_name["Garage solidaire, en voiture"]["hatched"] == 2
    assert any(r["hatched"] > 2 for r in results)


def test_map_opens_on_the_principal_indicator(tmp_path, browser):
    communes = reference.load_communes()
    communes = communes[communes["code_epci"] == VM].reset_index(drop=True)
    result = compute_coverage(
        commune_demand(communes),
        reference.load_registry(),
        {"voiture": 20, "marche": 30},
        categories=["atelier_velo", "garage_solidaire"],
        territory="CA Valenciennes Métropole",
    )
    from zonesblanches.maps import coverage_map, save_map

    path = save_map(
        coverage_map(result, communes, principal="garage_solidaire:marche"), tmp_path / "c.html"
    )
    browser.open(path)
    state = json.loads(
        browser.evaluate(
            """JSON.stringify({
              checked: document.querySelector(".leaflet-control-layers-base input:checked")
                       .parentNode.textContent.trim(),
              legend: document.querySelector(".zb-legend").textContent})"""
        )
    )
    assert state["checked"] == "Garage solidaire, à pied"
    assert "Garage solidaire, à pied" in state["legend"]
    assert "au-delà de 30 min" in state["legend"]
    assert "Atelier vélo" not in state["legend"]  # only the shown category's services


def test_popup_times_are_capped_in_words(epci_files, browser):
    """Walking to a location solidaire in Valenciennes takes hours in a straight line: the
    popup says « plus de 60 min », never a number of hundreds of minutes."""
    browser.open(epci_files["carte"])
    texts = json.loads(
        browser.evaluate(
            """(function () {
              var zb = window.zbMaps[window.zbMaps.length - 1], out = [];
              document.querySelectorAll(".leaflet-control-layers-base label").forEach(
                function (label) {
                  label.querySelector("input").click();
                  if (zb.current() < 0) { return; }
                  zb.units.eachLayer(function (l) {
                    l.openPopup();
                    out.push(l.getPopup().getElement().textContent);
                    l.closePopup();
                  });
                });
              return JSON.stringify(out);
            })()"""
        )
    )
    import re

    minutes = [int(m) for t in texts for m in re.findall(r"plus procheÀ?(\d+) min", t)]
    assert minutes and max(minutes) <= 60, max(minutes)
    assert any("plus de 60 min" in t for t in texts)


def _visible_label_boxes(browser):
    return json.loads(
        browser.evaluate(
            """JSON.stringify(Array.prototype.map.call(
                 document.querySelectorAll(".zb-town:not(.zb-hidden):not(.zb-clutter) span"),
                 function (s) { var r = s.getBoundingClientRect();
                                return [r.left, r.top, r.right, r.bottom, s.textContent]; }))"""
        )
    )


def test_town_labels_never_overlap(epci_files, tmp_path, browser):
    """On the region map (Lille, Roubaix, Villeneuve-d'Ascq, Tourcoing side by side) and the
    EPCI map (Vieux-Condé, Condé-sur-l'Escaut), no two labels shown overlap, nor a control."""
    from zonesblanches.maps import coverage_map, save_map

    communes = reference.load_communes()
    result = compute_coverage(
        commune_demand(communes),
        reference.load_registry(),
        {"voiture": 20},
        categories=["garage_solidaire"],
        territory="Hauts-de-France",
    )
    region = save_map(coverage_map(result, communes, tiles=False), tmp_path / "region.html")
    for path in (region, epci_files["carte"]):
        for width, height in SIZES:
            _resize(browser, width, height)
            browser.open(path)
            boxes = _visible_label_boxes(browser)
            assert len(boxes) >= 5, boxes
            if path != region:
                # the communes in zone blanche for the indicator shown are named first
                names = {b[4] for b in boxes}
                assert {"Condé-sur-l'Escaut", "Saint-Aybert"} <= names, names
            for i, a in enumerate(boxes):
                for b in boxes[i + 1 :]:
                    assert not _overlap(a, b), (width, a, b)
    _resize(browser, 1280, 900)


def test_many_services_are_clustered(tmp_path, browser):
    """12,000 services (a LOAD TEST of the drawing: copies of a real registry row placed at
    the real points of the region's communes, not real services) on the region map open as
    clusters: few markers in the page, the page ready, the file within the region budget."""
    import geopandas as gpd

    from zonesblanches.maps import coverage_map, save_map
    from zonesblanches.maps._services import CLUSTER_FROM

    communes = reference.load_communes()
    registry = reference.load_registry()
    real = registry[registry["categorie"] == "garage_solidaire"].iloc[[0]]
    points = communes.representative_point().to_crs(registry.crs)
    n = 12_000
    rows = real.loc[real.index.repeat(n)].reset_index(drop=True)
    rows["service_id"] = [f"CHARGE-{i:05d}" for i in range(n)]
    rows["nom"] = [f"Service de charge {i}" for i in range(n)]
    rows["commune"] = [communes["nom"].iloc[i % len(communes)] for i in range(n)]
    rows = gpd.GeoDataFrame(
        rows.drop(columns="geometry"),
        geometry=[points.iloc[i % len(points)] for i in range(n)],
        crs=registry.crs,
    )
    assert n > CLUSTER_FROM
    result = compute_coverage(
        commune_demand(communes), rows, {"voiture": 20}, categories=["garage_solidaire"]
    )
    path = save_map(coverage_map(result, communes, tiles=False), tmp_path / "charge.html")
    size = path.stat().st_size
    print(f"carte de {n} services : {size / 1e6:.2f} Mo")
    assert size < 8_000_000
    report = browser.open(path, timeout=60)
    print(f"prête en {report.ready_seconds:.2f} s")
    assert report.ready and report.console_errors == [], report.console_errors
    state = json.loads(
        browser.evaluate(
            """JSON.stringify({
                 markers: document.querySelectorAll(".leaflet-marker-icon").length,
                 clusters: document.querySelectorAll(".zb-cluster").length,
                 legend: document.querySelector(".zb-legend").textContent})"""
        )
    )
    assert state["clusters"] > 0 and state["markers"] < 1000, state
    assert "Garage solidaire (12\u202f000)" in state["legend"]


def test_too_many_services_are_counted_per_commune(tmp_path, browser, monkeypatch):
    """Beyond AGGREGATE_FROM services (lowered here to 100: 350 copies of a real registry row
    at the real points of the 35 communes of CA Valenciennes Métropole, a LOAD TEST), the map
    draws one disc per commune, whose popup gives the count by category; zoomed out, one disc
    per EPCI or département, so the discs never cover the map (issue 15)."""
    import geopandas as gpd

    from zonesblanches.maps import _services, carto, coverage_map, save_map

    monkeypatch.setattr(_services, "AGGREGATE_FROM", 100)
    monkeypatch.setattr(carto, "AGGREGATE_FROM", 100)
    communes = reference.load_communes()
    communes = communes[communes["code_epci"] == VM].reset_index(drop=True)
    registry = reference.load_registry()
    real = registry[registry["categorie"] == "garage_solidaire"].iloc[[0]]
    points = communes.representative_point().to_crs(registry.crs)
    n = 10 * len(communes)
    rows = real.loc[real.index.repeat(n)].reset_index(drop=True)
    rows["service_id"] = [f"CHARGE-{i:05d}" for i in range(n)]
    rows = gpd.GeoDataFrame(
        rows.drop(columns="geometry"),
        geometry=[points.iloc[i % len(points)] for i in range(n)],
        crs=registry.crs,
    )
    result = compute_coverage(
        commune_demand(communes), rows, {"voiture": 20}, categories=["garage_solidaire"]
    )
    path = save_map(coverage_map(result, communes, tiles=False), tmp_path / "comptes.html")
    report = browser.open(path, timeout=60)
    assert report.ready and report.console_errors == [], report.console_errors
    state = json.loads(
        browser.evaluate(
            """(function () {
                 var zb = window.zbMaps[window.zbMaps.length - 1];
                 var level = zb.countLevel();
                 var discs = zb.services["garage_solidaire"].getLayers()[0].getLayers();
                 var valenciennes = discs.filter(function (d) {
                   d.openPopup();
                   var t = d.getPopup().getElement().textContent;
                   return t.indexOf("Valenciennes") === 0;
                 })[0];
                 valenciennes.openPopup();
                 zb.map.setZoom(zb.map.getZoom() - 3, { animate: false });
                 var wide = zb.services["garage_solidaire"].getLayers()[0].getLayers();
                 wide[0].openPopup();
                 var widePopup = wide[0].getPopup().getElement().textContent;
                 var wideLevel = zb.countLevel();
                 zb.map.setZoom(zb.map.getZoom() + 3, { animate: false });
                 valenciennes.openPopup();
                 return JSON.stringify({
                   level: level, wideLevel: wideLevel, wide: wide.length, widePopup: widePopup,
                   discs: discs.length,
                   onMap: zb.map.hasLayer(zb.services["garage_solidaire"]),
                   markers: document.querySelectorAll(".leaflet-marker-icon.zb-icon").length,
                   popup: valenciennes.getPopup().getElement().textContent,
                   legend: document.querySelector(".zb-legend").textContent});
               })()"""
        )
    )
    assert state["level"] == "commune" and state["wideLevel"] in ("EPCI", "département"), state
    assert state["wide"] == 1, state
    assert state["widePopup"].startswith(
        "CA Valenciennes MétropoleGarage solidaire350"
        if state["wideLevel"] == "EPCI"
        else "NordGarage solidaire350"
    ), state["widePopup"]
    assert state["discs"] == len(communes) and state["onMap"], state
    assert state["markers"] == 0, state
    assert state["popup"].startswith("ValenciennesGarage solidaire10"), state["popup"]
    assert "Trop de services pour les dessiner un par un" in state["popup"]
    assert f"Garage solidaire ({n} au total ; disque : nombre par commune)" in state["legend"]
