"""The part of the map script that draws services counted instead of drawn one by one (beyond
:data:`zonesblanches.maps._services.AGGREGATE_FROM`): one disc per département, EPCI or
commune, the level following the zoom (issue 15). Spliced into
:data:`zonesblanches.maps._mapjs.MAP_JS`, whose functions and variables it uses (``counted``,
``el``, ``row``, ``fmtInt``, ``canvas``, ``svcLayers``, ``svcCats``, ``legendOf``,
``refreshLegend``, ``townVisibility``, ``zoom0``).
"""

COUNT_JS = r"""  // Counted services: one disc per département, EPCI or commune, the finest level whose
  // discs are far enough apart at the current zoom (level.min_zoom), the coarsest below.
  function countPopup(pl, level) {
    var box = el("div", "zb-popup");
    el("b", null, pl[2] || P.text.count_square.replace("{km}", level.square_km), box);
    var t = el("table", null, null, box);
    counted.categories.forEach(function (c, j) {
      if (pl[3][j] > 0) { row(t, P.categories[c] ? P.categories[c].label : c, fmtInt(pl[3][j])); }
    });
    el("div", null, P.text.count_note, box);
    return box;
  }
  var countLevel = -1;
  function levelAt(z) {
    var k = 0;
    counted.levels.forEach(function (lv, i) { if (z >= lv.min_zoom) { k = i; } });
    return k;
  }
  function countDiscs(cat, level) {
    // Few places: a disc with its number; thousands: plain discs on the canvas.
    var j = counted.categories.indexOf(cat), grp = L.layerGroup(), color = P.categories[cat].color;
    var top = 1;
    level.places.forEach(function (pl) { top = Math.max(top, pl[3][j]); });
    var labelled = level.places.length <= 400;
    level.places.forEach(function (pl) {
      var n = pl[3][j];
      if (!n) { return; }
      var share = Math.sqrt(n / top), mk;
      if (labelled) {
        var d = document.createElement("div");
        d.textContent = fmtInt(n);
        // wide enough for its number (« 23 062 »)
        var size = Math.max(Math.round(22 + 18 * share), 7 * d.textContent.length + 4);
        d.style.background = color; d.style.width = d.style.height = size + "px";
        mk = L.marker([pl[0], pl[1]], { icon: L.divIcon({ html: d, className: "zb-count",
          iconSize: [size, size] }), title: (pl[2] ? pl[2] + " : " : "") + fmtInt(n),
          keyboard: false });
      } else {
        mk = L.circleMarker([pl[0], pl[1]], { renderer: canvas, radius: 3 + 9 * share,
          color: "#fff", weight: 1.5, fillColor: color, fillOpacity: 0.85 });
      }
      mk.bindPopup(function () { return countPopup(pl, level); }, { maxWidth: 340 }).addTo(grp);
    });
    return grp;
  }
  function countLayer(cat) {
    var j = counted.categories.indexOf(cat), holder = L.layerGroup(), built = {};
    holder._zbShow = function (k) {
      if (!built[k]) { built[k] = countDiscs(cat, counted.levels[k]); }
      holder.clearLayers();
      holder.addLayer(built[k]);
    };
    svcLayers[cat] = holder;
    legendOf.push([holder, function (box) {
      var r = el("div", "zb-row", null, box);
      var sw = el("span", "zb-swatch", null, r);
      sw.style.background = P.categories[cat].color;
      sw.style.borderRadius = "50%"; sw.style.width = "12px";
      var lv = counted.levels, k = Math.max(countLevel, 0);
      var text = P.categories[cat].label + " (" + fmtInt(counted.totals[j]) + " " +
        P.text.count_legend + " " + lv[k].label;
      if (k < lv.length - 1) { text += P.text.count_zoom + " " + lv[lv.length - 1].label; }
      el("span", null, text + ")", r);
    }]);
  }
  function showCountLevel() {
    var k = levelAt(map.getZoom());
    if (k === countLevel) { return; }
    countLevel = k;
    svcCats.forEach(function (cat) { svcLayers[cat]._zbShow(k); });
    refreshLegend();
    if (zoom0) { townVisibility(); }
  }
"""
