"""The report pages' style sheet and table-sorting script, written into every page by
:func:`zonesblanches.maps.report.write_page`: static text, kept apart from the code."""

REPORT_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif;
  color: #1a1a1a; margin: 0; background: #fafafa; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 20px 40px; background: #fff; }
header h1 { font-size: 1.6em; margin: 0.4em 0 0.1em; }
header p { color: #444; margin: 0.2em 0; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 6px 14px; }
nav a { color: #08519c; }
h2 { border-bottom: 2px solid #08519c; padding-bottom: 3px; margin-top: 1.8em; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 10px; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 10px 12px; background: #fdfdfd; }
.card .big { font-size: 1.5em; font-weight: 700; display: block; }
.card .what { color: #333; font-size: 0.92em; }
.zb-report-map { height: 75vh; min-height: 420px; border: 1px solid #bbb; position: relative; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #444; font-size: 0.9em; }
table.zb-table { border-collapse: collapse; width: 100%; font-size: 0.88em; margin: 0.5em 0; }
.zb-table th, .zb-table td { border: 1px solid #d0d0d0; padding: 3px 6px; text-align: left;
  vertical-align: top; }
.zb-table td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.zb-table th { background: #eef3f8; cursor: pointer; user-select: none; position: sticky; top: 0; }
.zb-table th[aria-sort="ascending"]::after { content: " ▲"; }
.zb-table th[aria-sort="descending"]::after { content: " ▼"; }
.scroll { max-height: 520px; overflow: auto; border: 1px solid #ddd; }
.note { color: #444; font-size: 0.9em; }
.lead { font-size: 1.25em; font-weight: 600; margin: 0.4em 0 0.2em; }
.answer h3 { margin-top: 0.6em; }
.answer { display: grid; grid-template-columns: minmax(0, 2fr) minmax(220px, 1fr); gap: 14px;
  align-items: start; }
@media (max-width: 800px) { .answer { grid-template-columns: 1fr; } }
.reliability { border: 1px solid #c9a227; background: #fffbea; border-radius: 6px;
  padding: 8px 12px; font-size: 0.9em; }
.reliability h3 { margin: 0 0 4px 0; font-size: 1em; }
.reliability ul { margin: 0; padding-left: 18px; }
.identical { border-left: 4px solid #08519c; padding: 4px 10px; background: #f2f7fc; }
dl.meta dt { font-weight: 600; margin-top: 0.5em; }
dl.meta dd { margin-left: 1.2em; }
@media print {
  body { background: #fff; }
  main { max-width: none; padding: 0; }
  nav, .noprint { display: none; }
  .scroll { max-height: none; overflow: visible; border: none; }
  .zb-report-map { height: 16cm; page-break-inside: avoid; }
  h2 { page-break-after: avoid; }
  figure { page-break-inside: avoid; }
}
"""

SORT_JS = r"""
(function () {
  "use strict";
  function key(cell) {
    var v = cell.getAttribute("data-v");
    return v === null ? cell.textContent.trim().toLowerCase() : parseFloat(v);
  }
  document.querySelectorAll("table.zb-table").forEach(function (table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, col) {
      th.setAttribute("tabindex", "0");
      th.setAttribute("title", "Trier");
      function sort() {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]), r;
          if (typeof x === "number" && typeof y === "number") {
            r = (isNaN(x) ? Infinity : x) - (isNaN(y) ? Infinity : y);
          } else { r = String(x).localeCompare(String(y), "fr"); }
          return asc ? r : -r;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
    });
  });
  window.zbReportReady = true;
})();
"""
