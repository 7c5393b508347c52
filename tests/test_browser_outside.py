"""Issue 12 §3 in a real browser (headless Chromium, file://, offline): the service used outside
the territory is drawn hollow on the map, its popup says « hors du territoire, pris en compte »
and the legend counts it. Real inputs: CA Valenciennes Métropole and the bundled registry, whose
Denain garage (HDF-007) lies 2.7 km outside the EPCI. Skipped, with the reason, where Chromium
or websocket-client is missing, as tests/test_browser.py."""

from __future__ import annotations

from test_browser import Browser  # the same skips (Chromium, websocket-client) apply

from zonesblanches.cli import main

VM = "245901160"

MARKERS = """(function () {
  var out = {};
  document.querySelectorAll(".leaflet-marker-icon.zb-icon").forEach(function (m) {
    var disc = m.querySelector("circle");
    out[m.title] = {fill: disc.getAttribute("fill"), stroke: disc.getAttribute("stroke")};
    if (m.title.indexOf("Denain") >= 0) {
      m.dispatchEvent(new MouseEvent("click", {bubbles: true}));
      var all = document.querySelectorAll(".leaflet-popup-content");
      out.popup = all.length ? all[all.length - 1].textContent : null;
    }
  });
  out.legend = document.querySelector(".zb-legend").textContent;
  return out;
})()"""


def test_services_outside_are_hollow_and_say_so(tmp_path):
    assert main(["analyse", "--territoire", VM, "--mode", "voiture:20",
                 "--sortie", str(tmp_path)]) == 0  # fmt: skip
    with Browser(width=1400, height=900) as browser:
        report = browser.open(tmp_path / "carte.html")
        assert report.ready and report.console_errors == [], report.console_errors
        assert report.external_requests == []
        state = browser.evaluate(MARKERS)
    denain = state.pop("Garage Solidaire du Hainaut - Denain")
    anzin = state.pop("Garage Solidaire du Hainaut - Anzin")
    assert denain["fill"] == "#fff" and denain["stroke"] == anzin["fill"] != "#fff"
    assert "Situationhors du territoire, pris en compte (à 2,7 km de sa limite)" in state["popup"]
    # Issue 12 §1: the popup shows the service's identifier (data·inclusion's id for its rows)
    # beside its source, date and location precision.
    assert "IdentifiantHDF-007" in state["popup"]
    assert (
        "Date de la source2015" in state["popup"]
        and "Précision de la localisation" in state["popup"]
    )
    assert "Garage solidaire (2)" in state["legend"]
    assert "dont 1 hors du territoire, pris en compte (symbole creux)" in state["legend"]
