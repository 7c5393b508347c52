"""The JavaScript and CSS of the coverage map (our own code, inlined in every map).

The map data arrive as one JSON document (``<script type="application/json">``); the script
below builds the layers, the legends (each tied to its layer), the layer control, the commune
search, the full-screen and print buttons and the method box. Every text that comes from data
is inserted with ``textContent`` or through :js:func:`esc`, never as raw HTML.
"""

from zonesblanches.maps._countjs import COUNT_JS

MAP_CSS = """
.zb-map-root { font-family: %(font)s; }
.leaflet-container { background: #f4f1ea; font-family: %(font)s; }
.zb-box { background: rgba(255,255,255,0.94); border-radius: 6px; padding: 6px 9px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.35); font-size: 12px; line-height: 1.35; color: #1a1a1a; }
.zb-title { font-size: 15px; font-weight: 600; max-width: 42vw; }
.zb-title small { display: block; font-weight: 400; font-size: 12px; color: #444; }
.zb-legend { min-width: 170px; max-width: 300px; padding-top: 4px; }
.zb-legend-body { overflow-y: auto; max-height: 40vh; }
.zb-fold { display: flex; width: 100%; align-items: center; justify-content: space-between;
  gap: 8px; background: none; border: none; padding: 2px 0 4px 0; margin: 0; cursor: pointer;
  font: 600 12px system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif;
  color: #1a1a1a; text-align: left; }
.zb-fold:after { content: "▾"; font-size: 13px; }
.zb-fold[aria-expanded="false"]:after { content: "▸"; }
.leaflet-control-layers .zb-fold { padding: 0 0 4px 0; }
.zb-folded .leaflet-control-layers-list, .zb-legend.zb-folded .zb-legend-body { display: none; }
.leaflet-control-layers-list { overflow-y: auto; }
.leaflet-control-layers-scrollbar { overflow-y: auto; }
.zb-legend h4 { margin: 6px 0 3px 0; font-size: 12px; }
.zb-legend h4:first-child { margin-top: 0; }
.zb-legend .zb-row { display: flex; align-items: center; gap: 6px; margin: 1px 0; }
.zb-swatch { width: 18px; height: 12px; border: 1px solid #777; flex: none; }
.zb-swatch.zb-line { height: 0; border: none; border-top: 3px solid #333; }
.zb-swatch.zb-hatch-sw { background: repeating-linear-gradient(45deg, #111 0 1.5px,
  transparent 1.5px 5px); border: 2px solid #111; }
.zb-method { max-width: 360px; max-height: 32vh; overflow-y: auto; }
.zb-method summary { cursor: pointer; font-weight: 600; }
.zb-method ul { margin: 4px 0; padding-left: 16px; }
.zb-search input { width: 210px; padding: 4px 6px; font-size: 13px; border: 1px solid #888;
  border-radius: 4px; }
.zb-buttons a { display: block; width: 30px; height: 30px; }
.zb-icon svg { display: block; }
.zb-icon { background: transparent; border: none; }
.zb-label { background: transparent; border: none; box-shadow: none; padding: 0;
  font-weight: 700; font-size: 11px; color: #fff; }
.zb-label:before { display: none; }
.zb-town { background: transparent; border: none; }
.zb-town span { display: inline-block; transform: translate(-50%%, -50%%); white-space: nowrap;
  font-size: 12px; font-weight: 600; color: #222; text-shadow: 0 0 3px #fff, 0 0 3px #fff,
  0 0 2px #fff; }
.zb-town.zb-hidden, .zb-town.zb-clutter { display: none; }
.zb-cluster div { width: 30px; height: 30px; margin: 0; border-radius: 50%; color: #fff;
  display: flex; align-items: center; justify-content: center; font: 700 11px Arial, sans-serif;
  border: 2px solid #fff; box-shadow: 0 0 0 1px #222; }
.zb-count div { margin: 0; border-radius: 50%%; color: #fff; display: flex;
  align-items: center; justify-content: center; font: 700 11px Arial, sans-serif;
  border: 2px solid #fff; box-shadow: 0 0 0 1px #222; box-sizing: border-box; }
.zb-count { background: transparent; border: none; }
.zb-popup b { font-size: 13px; }
.zb-popup table { border-collapse: collapse; margin-top: 4px; }
.zb-popup td { padding: 1px 6px 1px 0; vertical-align: top; }
.zb-popup td:first-child { color: #555; }
.leaflet-control-layers-base label, .leaflet-control-layers-overlays label { font-size: 12px; }
@media print {
  .leaflet-control-layers, .zb-search, .zb-buttons, .leaflet-control-zoom { display: none; }
  .zb-method { max-height: none; }
  .zb-box { box-shadow: none; border: 1px solid #999; }
}
""".replace("%(font)s", "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif").replace(
    "%%", "%"
)

MAP_JS = r"""
(function (map, dataId) {
  "use strict";
  var P = JSON.parse(document.getElementById(dataId).textContent);
  // Services arrive as compact records: text fields are indices into one string table.
  // Beyond tens of thousands they arrive counted per place instead (records kept: the
  // services nearest to a unit, named in its popup).
  var counted = P.services.counts || null;
  P.services = (function (S) {
    var nf = S.fields.length;
    return S.records.map(function (r) {
      var o = {};
      for (var j = 0; j < nf; j++) { o[S.fields[j]] = S.strings[r[j]]; }
      o.a_verifier = r[nf] === 1; o.lat = r[nf + 1]; o.lon = r[nf + 2];
      return o;
    });
  })(P.services);

  function esc(s) {
    return String(s === null || s === undefined ? "" : s)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }
  function el(tag, cls, text, parent) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  // Times beyond the indicator's cap are said in words (« plus de 60 min »), unreachable
  // ones as « aucun service connu à moins de … »; near the threshold a decimal is kept so the
  // text never contradicts the zone-blanche flag (20,4 min is beyond 20 min).
  function fmtTime(t, spec) {
    if (t === null || t === undefined) { return spec.none_text; }
    if (t > spec.cap) { return spec.cap_text; }
    var r = Math.round(t);
    if ((r > spec.t) !== (t > spec.t)) { return t.toFixed(1).replace(".", ",") + " min"; }
    return String(r) + " min";
  }
  function fmtInt(n) {
    return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
  }
  function row(table, key, value) {
    if (value === null || value === undefined || value === "") { return; }
    var tr = el("tr", null, null, table);
    el("td", null, key, tr);
    el("td", null, value, tr);
  }

  var NS = "http://www.w3.org/2000/svg";
  var ICON_FULLSCREEN = '<svg xmlns="' + NS + '" width="18" height="18" viewBox="0 0 18 18" ' +
    'style="margin:6px" fill="none" stroke="#222" stroke-width="2"><path d="M2 7V2h5M11 2h5v5' +
    'M16 11v5h-5M7 16H2v-5"/></svg>';
  var ICON_PRINT = '<svg xmlns="' + NS + '" width="18" height="18" viewBox="0 0 18 18" ' +
    'style="margin:6px" fill="none" stroke="#222" stroke-width="1.8"><path d="M5 7V2h8v5"/>' +
    '<rect x="2" y="7" width="14" height="6" rx="1"/><path d="M5 11h8v5H5z" fill="#fff"/></svg>';

  // Thousands of polygons: a canvas renderer draws them much faster than SVG.
  var canvas = L.canvas({ padding: 0.3 });
  // Zones blanches are drawn as hatches over the class colour (one canvas pattern per colour).
  var hatches = {};
  function hatched(color) {
    if (!hatches[color]) {
      var c = document.createElement("canvas");
      c.width = 8; c.height = 8;
      var g = c.getContext("2d");
      g.fillStyle = color; g.fillRect(0, 0, 8, 8);
      g.strokeStyle = "rgba(17,17,17,0.75)"; g.lineWidth = 1.2;
      g.beginPath(); g.moveTo(0, 8); g.lineTo(8, 0);
      g.moveTo(-2, 2); g.lineTo(2, -2); g.moveTo(6, 10); g.lineTo(10, 6); g.stroke();
      hatches[color] = g.createPattern(c, "repeat");
    }
    return hatches[color];
  }
  var HATCH = hatched("rgba(255,255,255,0)");
  // Clusters need a maximum zoom (no tile layer sets it: the background is ours).
  if (map.options.maxZoom === undefined) { map.options.maxZoom = 19; }
  // Heavy layers are added once the view is final (each view change reprojects them).
  var deferred = [];

  map.attributionControl.setPrefix("Leaflet");
  P.attribution.forEach(function (a) { map.attributionControl.addAttribution(esc(a)); });

  var legendOf = [];           // [layer, function(container)] in display order
  var baseLayers = {}, overlays = {};
  var current = P.layers.length ? Math.min(P.principal || 0, P.layers.length - 1) : -1;

  // ---- demand units (communes) coloured by time class of the current indicator ----
  var showBlank = true;
  function unitStyle(f) {
    var p = f.properties;
    if (current < 0 || !p.k) {
      return { color: "#9a9a9a", weight: 0.4, fillColor: P.style.no_data, fillOpacity: 0.5 };
    }
    var k = p.k[current];
    var fill = k < 0 ? P.classes.unreachable_color : P.classes.colors[k];
    if (showBlank && p.z[current] === "1") {
      return { color: pointUnits ? P.style.blank_outline : "#3a3a3a", weight: 0.6, opacity: 1,
               fillOpacity: 0.8, fillColor: pointUnits ? fill : hatched(fill) };
    }
    return { color: "#6f6f6f", weight: 0.4, opacity: 1, fillColor: fill, fillOpacity: 0.72 };
  }
  function unitPopup(layer) {
    var p = layer.feature.properties;
    var box = el("div", "zb-popup");
    el("b", null, p.n, box);
    var t = el("table", null, null, box);
    row(t, P.text.code, p.c);
    row(t, "EPCI", p.e);
    if (p.p !== undefined) { row(t, P.text.population, fmtInt(p.p) + " hab."); }
    if (p.k && current >= 0) {
      var L0 = P.layers[current];
      row(t, P.text.indicator, L0.name);
      // a trip leaving the road network beyond the model's limit (walked in a straight line):
      // said here as in the report's tables, next to the time it makes long
      var w = p.w ? p.w[current] : -1;
      row(t, P.text.time, fmtTime(p.t[current], L0) + (w >= 0 ? " \u26a0" : ""));
      if (w >= 0) { row(t, P.text.off_network, "\u26a0 " + P.off_network[w]); }
      var s = p.s[current];
      if (s >= 0) {
        var sv = P.services[s];
        row(t, P.text.nearest, sv.nom + (sv.commune ? " (" + sv.commune + ")" : ""));
      }
      row(t, P.text.blank, p.z[current] === "1" ?
          P.text.yes + " (" + P.text.over + " " + L0.threshold + " min)" : P.text.no);
    } else if (!p.k) {
      el("div", null, P.text.context, box);
    }
    return box;
  }
  var unitsLayer = null, pointUnits = P.unit_geometry === "point";
  if (P.background) {
    deferred.push(L.geoJSON(P.background, {
      renderer: canvas, interactive: false,
      style: function () {
        return { color: "#9a9a9a", weight: 0.5, fillColor: P.style.no_data, fillOpacity: 0.45 };
      }
    }));
  }
  if (P.units) {
    unitsLayer = L.geoJSON(P.units, {
      renderer: canvas,
      style: unitStyle,
      pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 5, renderer: canvas }); },
      onEachFeature: function (f, layer) { layer.bindPopup(unitPopup, { maxWidth: 320 }); }
    });
    deferred.push(unitsLayer);
  }

  // ---- zones blanches of the current indicator: a switch restyling the units ----
  var blankLayer = L.layerGroup();
  function restyle() {
    showBlank = map.hasLayer(blankLayer);
    if (unitsLayer) { unitsLayer.setStyle(unitStyle); }
  }

  function legendTimes(box) {
    if (current < 0) { return; }
    var L0 = P.layers[current];
    el("h4", null, P.text.legend_title, box);
    el("div", null, L0.name, box);
    P.classes.labels.forEach(function (label, i) {
      var r = el("div", "zb-row", null, box);
      el("span", "zb-swatch", null, r).style.background = P.classes.colors[i];
      el("span", null, label, r);
    });
    var r2 = el("div", "zb-row", null, box);
    el("span", "zb-swatch", null, r2).style.background = P.classes.unreachable_color;
    el("span", null, L0.unreachable_label || P.classes.unreachable_label, r2);
  }
  function legendBlank(box) {
    if (current < 0) { return; }
    var r = el("div", "zb-row", null, box);
    var sw = el("span", "zb-swatch zb-hatch-sw", null, r);
    if (pointUnits) {
      sw.className = "zb-swatch"; sw.style.borderRadius = "50%"; sw.style.width = "12px";
      sw.style.border = "2px solid " + P.style.blank_outline;
    }
    el("span", null, P.text.blank_legend + " " + P.layers[current].threshold + " min", r);
  }

  // Indicators are base layers: one is shown at a time, with its legend, its hatch, its
  // zone outlines, its isochrones and the services of its category.
  var indicatorLayers = [];
  P.layers.forEach(function (spec, i) {
    var lg = L.layerGroup();
    lg._zbIndex = i;
    indicatorLayers.push(lg);
    baseLayers[esc(spec.name)] = lg;
    legendOf.push([lg, legendTimes]);
  });
  var noIndicator = L.layerGroup();
  noIndicator._zbIndex = -1;
  if (P.layers.length) { baseLayers[esc(P.text.no_indicator)] = noIndicator; }
  if (current >= 0) { indicatorLayers[current].addTo(map); }
  if (P.layers.length) {
    overlays[esc(P.text.blank_layer)] = blankLayer;
    blankLayer.addTo(map);
    legendOf.push([blankLayer, legendBlank]);
  }

  // Layers that follow the indicator shown are not in the layer control themselves: one
  // switch per kind ("group") shows those of the current indicator.
  var followers = [];          // {layer, want: function () -> bool}
  function syncFollowers() {
    followers.forEach(function (f) {
      var on = f.want();
      if (on && !map.hasLayer(f.layer)) { f.layer.addTo(map); }
      if (!on && map.hasLayer(f.layer)) { map.removeLayer(f.layer); }
    });
  }
  var groupSwitch = {};
  function groupLayer(key) {
    if (!groupSwitch[key]) {
      var g = P.groups[key];
      groupSwitch[key] = L.layerGroup();
      overlays[esc(g.name)] = groupSwitch[key];
      if (g.show) { groupSwitch[key].addTo(map); }
      groupSwitch[key].on("add remove", function () { syncFollowers(); refreshLegend(); });
    }
    return groupSwitch[key];
  }

  // ---- extra polygon layers: zones, isochrones, QPV, plans ----
  function polygonPopup(spec) {
    return function (layer) {
      var p = layer.feature.properties, box = el("div", "zb-popup");
      el("b", null, p[spec.title_field] !== undefined ? p[spec.title_field] : spec.name, box);
      var t = el("table", null, null, box);
      spec.fields.forEach(function (fd) { row(t, fd[1], p[fd[0]]); });
      return box;
    };
  }
  // Optional per spec: "palette" (value -> colour) read from "color_field", a list of
  // "legend_rows" ([colour, label]), "radius" for point features, "label_field" for a label,
  // "group" and "indicator" to follow the indicator shown.
  var extras = [];
  (P.extra || []).forEach(function (spec) {
    var layer = L.geoJSON(spec.data, {
      renderer: canvas,
      style: function (f) {
        var c = spec.palette && f ? spec.palette[f.properties[spec.color_field]] : null;
        return { color: (spec.palette_outline && c) || spec.color, weight: spec.weight,
                 fillColor: spec.hatch ? HATCH : (c || spec.fill || spec.color),
                 fillOpacity: spec.fill_opacity, dashArray: spec.dash || null };
      },
      pointToLayer: function (f, ll) {
        return L.circleMarker(ll, { radius: spec.radius || 6, renderer: canvas });
      },
      onEachFeature: function (f, l) {
        l.bindPopup(polygonPopup(spec), { maxWidth: 320 });
        var lab = spec.label_field ? f.properties[spec.label_field] : null;
        if (lab !== null && lab !== undefined) {
          l.bindTooltip(esc(lab), { permanent: true, direction: "center",
                                    className: "zb-label" });
        }
      }
    });
    extras.push({ spec: spec, layer: layer });
    if (spec.group && P.groups && P.groups[spec.group]) {
      var sw = groupLayer(spec.group);
      followers.push({ layer: layer, want: function () {
        return map.hasLayer(sw) && spec.indicator === current;
      } });
    } else {
      if (spec.show) { deferred.push(layer); }
      overlays[esc(spec.name)] = layer;
    }
    legendOf.push([layer, function (box) {
      if (spec.legend_rows) {
        el("h4", null, spec.legend, box);
        spec.legend_rows.forEach(function (lr) {
          var rr = el("div", "zb-row", null, box);
          var s2 = el("span", "zb-swatch", null, rr);
          s2.style.background = lr[0];
          if (spec.radius) { s2.style.borderRadius = "50%"; }
          el("span", null, lr[1], rr);
        });
        return;
      }
      var r = el("div", "zb-row", null, box);
      var sw2 = el("span", spec.hatch ? "zb-swatch zb-hatch-sw" : "zb-swatch", null, r);
      if (!spec.hatch) {
        sw2.style.background = spec.fill_opacity > 0 ? (spec.fill || spec.color) : "transparent";
        sw2.style.borderColor = spec.color; sw2.style.borderWidth = "2px";
      }
      el("span", null, spec.legend, r);
    }]);
  });

  // ---- EPCI outlines ----
  if (P.epci) {
    var epci = L.geoJSON(P.epci, {
      interactive: false,
      renderer: canvas,
      style: function () {
        return { color: P.style.epci, weight: 2.2, fill: false, opacity: 0.9 };
      }
    });
    deferred.push(epci);
    overlays[esc(P.text.epci_layer)] = epci;
    legendOf.push([epci, function (box) {
      var r = el("div", "zb-row", null, box);
      var sw = el("span", "zb-swatch zb-line", null, r);
      sw.style.borderTopColor = P.style.epci;
      el("span", null, P.text.epci_legend, r);
    }]);
  }

  // ---- services: those of the indicator's category, the others on demand ----
  var icons = {};
  // A service used outside the territory (hollow = true) is drawn hollow: white disc, ring
  // and glyph in the category's colour, grey outline.
  function serviceIcon(cat, dashed, hollow) {
    var key = cat + (dashed ? "|d" : "") + (hollow ? "|h" : "");
    if (icons[key]) { return icons[key]; }
    var st = P.categories[cat];
    var ink = hollow ? esc(st.color) : "#fff";
    var svg = '<svg xmlns="' + NS + '" width="24" height="24" viewBox="0 0 24 24">' +
      '<circle cx="12" cy="12" r="' + (hollow ? '9.6' : '10') + '" fill="' +
      (hollow ? '#fff' : esc(st.color)) + '" stroke="' + ink + '" ' +
      'stroke-width="' + (hollow ? '1.8' : '2.5') + '"' +
      (dashed ? ' stroke-dasharray="3 2"' : '') + '/>' +
      '<circle cx="12" cy="12" r="11.3" fill="none" stroke="' + (hollow ? '#777' : '#222') +
      '" stroke-width="1"/>' +
      '<text x="12" y="' + (hollow ? '15.8' : '16.2') + '" text-anchor="middle" font-size="' +
      (hollow ? '11' : '12') + '" font-weight="700" ' +
      'font-family="Arial, sans-serif" fill="' + ink + '">' + esc(st.glyph) + '</text></svg>';
    icons[key] = L.divIcon({ html: svg, className: "zb-icon", iconSize: [24, 24],
                             iconAnchor: [12, 12], popupAnchor: [0, -10] });
    return icons[key];
  }
  function servicePopup(s) {
    var box = el("div", "zb-popup");
    el("b", null, s.nom, box);
    var t = el("table", null, null, box);
    row(t, P.text.outside, s.hors_territoire);
    row(t, P.text.category, P.categories[s.categorie] ? P.categories[s.categorie].label
                                                        : s.categorie);
    row(t, P.text.commune, s.commune);
    row(t, P.text.address, s.adresse);
    row(t, P.text.status, s.statut);
    row(t, P.text.source, s.source);
    row(t, P.text.date, s.date_source);
    row(t, P.text.precision, s.precision);
    row(t, P.text.quality, s.score_qualite);
    row(t, P.text.link, s.lien_source);
    row(t, P.text.ident, s.id);
    row(t, P.text.notes, s.notes);
    return box;
  }
  // Beyond P.cluster_from services, markers are grouped (Leaflet.markercluster, inlined).
  var clustered = P.services.length > P.cluster_from && typeof L.markerClusterGroup === "function";
  function clusterIcon(cat) {
    return function (cluster) {
      var d = document.createElement("div");
      d.textContent = fmtInt(cluster.getChildCount());
      d.style.background = P.categories[cat].color;
      return L.divIcon({ html: d, className: "zb-cluster", iconSize: [34, 34] });
    };
  }
  var svcLayers = {};
  var svcCats = counted ? counted.categories.filter(function (c, j) {
    return counted.totals[j] > 0 && P.categories[c];
  }) : Object.keys(P.service_layers);
  /*COUNT_JS*/
  svcCats.forEach(function (cat) {
    if (counted) { countLayer(cat); return; }
    var grp = clustered ?
      L.markerClusterGroup({ chunkedLoading: true, showCoverageOnHover: false,
                             maxClusterRadius: 40, iconCreateFunction: clusterIcon(cat) }) :
      L.layerGroup();
    var markers = P.service_layers[cat].map(function (i) {
      var s = P.services[i];
      return L.marker([s.lat, s.lon], { icon: serviceIcon(cat, s.a_verifier, !!s.hors_territoire),
                                        title: s.nom,
                                        alt: s.nom, keyboard: !clustered })
        .bindPopup(function () { return servicePopup(s); }, { maxWidth: 340 });
    });
    if (clustered) { grp.addLayers(markers); }
    else { markers.forEach(function (mk) { grp.addLayer(mk); }); }
    svcLayers[cat] = grp;
    var st = P.categories[cat];
    legendOf.push([grp, function (box) {
      var r = el("div", "zb-row", null, box);
      var sw = el("span", null, null, r);
      sw.innerHTML = serviceIcon(cat, false).options.html;
      el("span", null, st.label + " (" + fmtInt(P.service_layers[cat].length) + ")", r);
      var far = P.service_layers[cat].filter(function (i) {
        return !!P.services[i].hors_territoire;
      }).length;
      if (far) {
        var r2 = el("div", "zb-row", null, box);
        el("span", null, null, r2).innerHTML = serviceIcon(cat, false, true).options.html;
        el("span", null, P.text.outside_prefix + " " + fmtInt(far) + " " + P.text.outside_legend,
           r2);
      }
    }]);
  });
  if (svcCats.length) {
    var svcShown = L.layerGroup(), svcOthers = L.layerGroup();
    overlays[esc(P.text.services_shown)] = svcShown;
    svcShown.addTo(map);
    var others = svcCats.length > 1 || (current >= 0 && P.layers[current].categorie !== svcCats[0]);
    if (others) { overlays[esc(P.text.services_others)] = svcOthers; }
    [svcShown, svcOthers].forEach(function (g) {
      g.on("add remove", function () { syncFollowers(); refreshLegend(); });
    });
    svcCats.forEach(function (cat) {
      followers.push({ layer: svcLayers[cat], want: function () {
        var mine = current < 0 || P.layers[current].categorie === cat;
        return mine ? map.hasLayer(svcShown) : map.hasLayer(svcOthers);
      } });
    });
  }
  syncFollowers();

  // ---- main town names, decluttered: a label overlapping a larger town's is hidden ----
  var towns = L.layerGroup();
  var townMarkers = [];
  P.towns.forEach(function (tw) {
    var span = document.createElement("span");
    span.textContent = tw[2];
    var icon = L.divIcon({ html: span, className: "zb-town", iconSize: [0, 0] });
    var m = L.marker([tw[0], tw[1]], { icon: icon, interactive: false, keyboard: false });
    m._zbZoomOffset = tw[3];
    m._zbCode = tw[4];
    m._zbRank = townMarkers.length;
    townMarkers.push(m);           // most populated first
    m.addTo(towns);
  });
  var zoom0 = 0;
  var unitProps = {};
  if (P.units) {
    P.units.features.forEach(function (f) { unitProps[f.properties.c] = f.properties; });
  }
  // Names of the communes in zone blanche for the indicator shown come first (answering
  // « which? » at first sight), then the most populated.
  function inBlank(m) {
    var p = unitProps[m._zbCode];
    return current >= 0 && showBlank && p && p.z && p.z[current] === "1";
  }
  function townVisibility() {
    var z = map.getZoom();
    townMarkers.sort(function (a, b) {
      return (inBlank(b) - inBlank(a)) || (a._zbRank - b._zbRank);
    });
    // The controls and the count discs are obstacles too: a label half hidden under a box
    // or a number is not shown.
    var placed = Array.prototype.map.call(
      map.getContainer().querySelectorAll(".leaflet-control, .zb-count div"),
      function (c) { return c.getBoundingClientRect(); });
    townMarkers.forEach(function (m) {
      var e = m.getElement();
      if (!e) { return; }
      e.classList.remove("zb-clutter");
      var hidden = z < zoom0 + (inBlank(m) ? 0 : m._zbZoomOffset);
      e.classList.toggle("zb-hidden", hidden);
      if (hidden) { return; }
      var r = e.firstChild.getBoundingClientRect();
      var clash = placed.some(function (q) {
        return r.left < q.right + 3 && q.left < r.right + 3 &&
               r.top < q.bottom + 2 && q.top < r.bottom + 2;
      });
      if (clash) { e.classList.add("zb-clutter"); } else { placed.push(r); }
    });
  }
  if (P.towns.length) {
    towns.addTo(map);
    overlays[esc(P.text.towns_layer)] = towns;
    map.on("zoomend", townVisibility);
    towns.on("add", townVisibility);
  }

  // ---- optional tile backgrounds (need internet; none is loaded unless chosen) ----
  P.tiles.forEach(function (tl) {
    var layer = L.tileLayer(tl.url, { attribution: tl.attribution, maxZoom: tl.max_zoom,
                                      opacity: 0.9 });
    overlays[esc(tl.name)] = layer;
  });

  // ---- controls ----
  // A button that folds a control's body (the layer list, the legend).
  function foldButton(label, body, folded, parent) {
    var b = el("button", "zb-fold", label);
    b.type = "button";
    parent.insertBefore(b, parent.firstChild);
    function set(f) {
      b.setAttribute("aria-expanded", f ? "false" : "true");
      body.classList.toggle("zb-folded", f);
      fitControls();
    }
    L.DomEvent.on(b, "click", function (e) {
      L.DomEvent.stop(e);
      set(b.getAttribute("aria-expanded") === "true");
    });
    set(folded);
    return b;
  }
  var small = map.getSize().x < 700 || map.getSize().y < 450;
  var layersCtl = L.control.layers(baseLayers, overlays, { collapsed: false, position: "topright" });
  // Leaflet sizes the list itself on each change; fitControls does it (keeping the legend
  // below free).
  layersCtl._expandIfNotCollapsed = function () { fitControls(); return this; };
  layersCtl.addTo(map);
  var layersBox = layersCtl.getContainer();
  layersCtl._section.style.height = "";
  L.DomUtil.removeClass(layersCtl._section, "leaflet-control-layers-scrollbar");
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);

  var Box = L.Control.extend({
    onAdd: function () { return this.options.build(); }
  });
  if (P.title) {
    new Box({ position: "topleft", build: function () {
      var d = el("div", "zb-box zb-title");
      d.appendChild(document.createTextNode(P.title));
      if (P.subtitle) { el("small", null, P.subtitle, d); }
      return d;
    } }).addTo(map);
  }

  // Commune search (no geocoder, no request: names from the map data).
  if (P.units && !pointUnits) {
    new Box({ position: "topleft", build: function () {
      var d = el("div", "zb-search leaflet-bar");
      var input = el("input", null, null, d);
      input.type = "search";
      input.placeholder = P.text.search;
      input.setAttribute("aria-label", P.text.search);
      var list = el("datalist", null, null, d);
      list.id = dataId + "-communes";
      input.setAttribute("list", list.id);
      var byName = {};
      unitsLayer.eachLayer(function (l) {
        var p = l.feature.properties, key = p.n + " (" + p.c + ")";
        byName[key.toLowerCase()] = l;
        el("option", null, null, list).value = key;
      });
      function go() {
        var key = input.value.trim().toLowerCase(), hit = byName[key];
        if (!hit) {
          Object.keys(byName).some(function (k) {
            if (key && k.indexOf(key) === 0) { hit = byName[k]; return true; }
            return false;
          });
        }
        if (hit) { map.fitBounds(hit.getBounds(), { maxZoom: 12 }); hit.openPopup(); }
      }
      input.addEventListener("change", go);
      input.addEventListener("keydown", function (e) { if (e.key === "Enter") { go(); } });
      L.DomEvent.disableClickPropagation(d);
      L.DomEvent.disableScrollPropagation(d);
      return d;
    } }).addTo(map);
  }

  // Full screen and print buttons.
  new Box({ position: "topleft", build: function () {
    var d = el("div", "zb-buttons leaflet-bar");
    var fs = el("a", null, null, d);
    fs.innerHTML = ICON_FULLSCREEN;
    fs.href = "#"; fs.title = P.text.fullscreen; fs.setAttribute("role", "button");
    fs.setAttribute("aria-label", P.text.fullscreen);
    L.DomEvent.on(fs, "click", function (e) {
      L.DomEvent.preventDefault(e);
      var root = map.getContainer();
      if (document.fullscreenElement) { document.exitFullscreen(); }
      else if (root.requestFullscreen) { root.requestFullscreen(); }
    });
    var pr = el("a", null, null, d);
    pr.innerHTML = ICON_PRINT;
    pr.href = "#"; pr.title = P.text.print; pr.setAttribute("role", "button");
    pr.setAttribute("aria-label", P.text.print);
    L.DomEvent.on(pr, "click", function (e) { L.DomEvent.preventDefault(e); window.print(); });
    L.DomEvent.disableClickPropagation(d);
    return d;
  } }).addTo(map);
  document.addEventListener("fullscreenchange", function () { map.invalidateSize(); });

  // Legend: one block per layer shown, hidden with its layer.
  var legendBox = null, legendBody = null, ready = false;
  function refreshLegend() {
    if (!legendBox) { return; }
    legendBody.textContent = "";
    legendOf.forEach(function (item) {
      var layer = item[0];
      if (map.hasLayer(layer)) { item[1](legendBody); }
    });
    legendBox.style.display = legendBody.childNodes.length ? "" : "none";
    fitControls();
  }
  // The layer list (top right) and the legend (bottom right) share the right edge: the
  // legend takes at most 40 % of the map's height, the list the room left above it.
  function fitControls() {
    if (!ready) { return; }
    var H = map.getSize().y;
    legendBody.style.maxHeight = Math.max(60, Math.floor(H * 0.4) - 30) + "px";
    var sec = layersCtl._section;
    if (layersBox.classList.contains("zb-folded")) { return; }
    var bottom = legendBox.style.display === "none" ?
      map.getContainer().getBoundingClientRect().bottom - 30 :
      legendBox.getBoundingClientRect().top;
    var avail = Math.floor(bottom - sec.getBoundingClientRect().top - 18);
    sec.style.maxHeight = Math.max(24, avail) + "px";
  }
  new Box({ position: "bottomright", build: function () {
    legendBox = el("div", "zb-box zb-legend");
    legendBox.setAttribute("role", "region");
    legendBox.setAttribute("aria-label", P.text.legend);
    legendBody = el("div", "zb-legend-body", null, legendBox);
    L.DomEvent.disableScrollPropagation(legendBox);
    L.DomEvent.disableClickPropagation(legendBox);
    return legendBox;
  } }).addTo(map);
  map.on("overlayadd overlayremove", function (e) {
    if (e.layer === blankLayer) { restyle(); }
    refreshLegend();
  });
  map.on("baselayerchange", function (e) {
    if (e.layer._zbIndex === undefined) { return; }
    current = e.layer._zbIndex;
    restyle();
    syncFollowers();
    refreshLegend();
    if (map.hasLayer(towns)) { townVisibility(); }
  });
  map.on("resize", fitControls);

  // Method and sources.
  new Box({ position: "bottomleft", build: function () {
    var d = el("div", "zb-box zb-method");
    var det = el("details", null, null, d);
    det.open = false;  // one question per view: the method is one click away
    window.addEventListener("beforeprint", function () { det.open = true; });
    el("summary", null, P.text.method, det);
    var ul = el("ul", null, null, det);
    P.notes.forEach(function (n) { el("li", null, n, ul); });
    el("b", null, P.text.sources, det);
    var ul2 = el("ul", null, null, det);
    P.sources.forEach(function (n) { el("li", null, n, ul2); });
    L.DomEvent.disableScrollPropagation(d);
    L.DomEvent.disableClickPropagation(d);
    return d;
  } }).addTo(map);

  ready = true;
  foldButton(P.text.layers, layersBox, small, layersBox);
  foldButton(P.text.legend, legendBox, false, legendBox);
  refreshLegend();
  // Fit the territory in the room the controls leave (the layer list on the right, the
  // title on the top left), by quarter zoom steps.
  map.options.zoomSnap = 0.25;
  var right = Math.max(layersBox.offsetWidth, legendBox.offsetWidth) + 20;
  if (right > map.getSize().x * 0.45) { right = 20; }
  var corner = map.getContainer().querySelector(".leaflet-top.leaflet-left");
  var title = map.getContainer().querySelector(".zb-title");
  var top0 = map.getContainer().getBoundingClientRect().top;
  var below = title ? title.getBoundingClientRect().bottom - top0 + 10 : 20;
  var choices = [[corner.offsetWidth + 10, 20], [20, below]];
  var fits = choices.map(function (tl) {
    return map.getBoundsZoom(P.bounds, false, L.point(tl[0] + right, tl[1] + 20));
  });
  map.fitBounds(P.bounds, { animate: false, paddingTopLeft: choices[fits[0] >= fits[1] ? 0 : 1],
                            paddingBottomRight: [right, 20] });
  if (counted) { showCountLevel(); map.on("zoomend", showCountLevel); }
  deferred.forEach(function (layer) { layer.addTo(map); });
  refreshLegend();
  zoom0 = map.getZoom();
  townVisibility();
  // For the browser tests and for anyone scripting the page.
  window.zbMaps = (window.zbMaps || []).concat([{
    map: map, units: unitsLayer, towns: townMarkers, services: svcLayers, extras: extras,
    current: function () { return current; }, layers: layersCtl,
    countLevel: function () { return counted ? counted.levels[countLevel].label : null; }
  }]);
  // Ready once the canvas has painted (two animation frames after the layers are added).
  window.requestAnimationFrame(function () {
    window.requestAnimationFrame(function () { fitControls(); window.zbMapReady = true; });
  });
})
"""
MAP_JS = MAP_JS.replace("  /*COUNT_JS*/\n", COUNT_JS)
