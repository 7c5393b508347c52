"""The map of a multi-département run: EPCI for all of France, communes on demand (issue 18).

A national run has 34,746 communes: the regional map (:mod:`zonesblanches.maps.carto`), one
feature per commune with its services, would weigh about 60 MB and take a browser tens of
seconds to open. This page shows instead:

- first, the **EPCI** (about 1,232) coloured by the share of their inhabitants *without
  access* for the chosen indicator (category × mode; the principal one at opening), with the
  départements and régions outlined and the territory's figure in the title box;
- the **communes of a département** when the reader clicks « Voir les communes » in an EPCI's
  popup, picks the département in the list, or zooms in (level 8 and beyond): each
  département's communes are embedded in the page as a separate JSON text, parsed only when
  first shown (the page opens on the EPCI alone), coloured by time class as on the regional
  map.

Geometries are the bundled reference contours simplified as a **coverage** (GEOS
``coverage_simplify``, topology kept: no gap or overlap opens between neighbours) in
Lambert-93, with the tolerances of :data:`TOLERANCES_M` (communes 300 m: about one pixel at
zoom 9, where a département fills the screen; EPCI 1 km, under a pixel at the opening zoom:
at 500 m the page took twice as long to be ready, 6.2 s against 2.7 s for France under load,
for 0.2 MB), then written as *encoded polylines*
(Google's algorithm, 1e-4 degree steps, about 10 m), which takes about four characters per
point instead of about twenty in GeoJSON. France fits in about 6 MB (budget: 15 MB).

The same inputs give the same bytes; every text from data travels as JSON and is inserted as
text. Leaflet is inlined (:mod:`zonesblanches.maps.assets`): the page opens offline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from zonesblanches._text import fr_count, fr_g
from zonesblanches.columns import blank_col, time_col
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.crs import WGS84
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.categories import category_label
from zonesblanches.maps import style
from zonesblanches.maps._geometry import simplify_coverage
from zonesblanches.maps.assets import leaflet_css, leaflet_js
from zonesblanches.maps.tables import NO_EPCI_LABEL
from zonesblanches.modes import ALL_MODES

TOLERANCES_M = {"communes": 300.0, "epci": 1000.0, "departements": 800.0, "regions": 1200.0}
"""Simplification tolerance (metres, GEOS coverage simplification in Lambert-93) per level."""

SCALE = 1e4
"""Coordinates are written in steps of 1e-4 degree (about 11 m north-south, 7 m east-west)."""

SHARE_BOUNDS = (10.0, 25.0, 50.0, 75.0)
"""Upper bounds (%) of the classes of the share of inhabitants without access (EPCI layer);
a class of its own for « aucun habitant » (0 %)."""

MAX_BYTES = 15 * 2**20
"""Size budget of the national map (issue 18)."""


# --------------------------------------------------------------------------- encoding


def _polyline_chars(values: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Google's encoded-polyline characters of integer ``values`` (already delta-coded), all
    at once: the concatenated bytes and the end offset of each value in them."""
    v = np.asarray(values, dtype=np.int64)
    z = np.where(v < 0, ~(v << 1), v << 1)  # zig-zag: sign in the lowest bit
    chunks = np.stack([(z >> (5 * k)) & 31 for k in range(8)], axis=1)
    n = np.maximum(1, np.ceil(np.log2(z + 1) / 5).astype(np.int64))
    n = np.where(z >> (5 * n) > 0, n + 1, n)  # guard against float rounding of log2
    k = np.arange(8)[None, :]
    more = k < (n[:, None] - 1)
    chars = (chunks | np.where(more, 0x20, 0)) + 63
    keep = k < n[:, None]
    return chars[keep].astype(np.uint8).tobytes(), np.cumsum(n)


def encode_geometries(geoms: Sequence) -> list[str]:
    """One string per (multi)polygon: its rings as encoded polylines (lat, lon order, steps of
    :data:`SCALE`, the closing point dropped), rings separated by a space, polygons by a comma
    (the first ring of each polygon is its outline, the others its holes); ``""`` when empty."""
    geoms = np.asarray(geoms, dtype=object)
    polys, poly_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_poly = [], []
    ext = shapely.get_exterior_ring(polys)
    n_int = shapely.get_num_interior_rings(polys)
    for i, poly in enumerate(polys):
        rings.append(ext[i])
        ring_poly.append(i)
        for j in range(int(n_int[i])):
            rings.append(shapely.get_interior_ring(poly, j))
            ring_poly.append(i)
    if not rings:
        return [""] * len(geoms)
    coords, ring_of = shapely.get_coordinates(np.asarray(rings, dtype=object), return_index=True)
    if not len(coords):
        return [""] * len(geoms)
    # drop each ring's closing point (Leaflet closes polygons)
    last = np.r_[ring_of[1:] != ring_of[:-1], True]
    coords, ring_of = coords[~last], ring_of[~last]
    q = np.round(coords[:, ::-1] * SCALE).astype(np.int64)  # lat, lon
    first = np.r_[True, ring_of[1:] != ring_of[:-1]]
    delta = q.copy()
    delta[1:] -= q[:-1]
    delta[first] = q[first]
    data, ends = _polyline_chars(delta.ravel())
    text = data.decode("ascii")
    point_end = ends[1::2]
    starts = np.r_[0, point_end[:-1]]
    ring_first = np.flatnonzero(first)
    ring_last = np.r_[ring_first[1:], len(ring_of)] - 1
    ring_text = {
        int(ring_of[a]): text[starts[a] : point_end[b]]
        for a, b in zip(ring_first, ring_last, strict=True)
    }
    per_poly: dict[int, list[str]] = {}
    for r, p in enumerate(ring_poly):
        if r in ring_text:
            per_poly.setdefault(p, []).append(ring_text[r])
    per_geom: list[list[str]] = [[] for _ in range(len(geoms))]
    for p, owner in enumerate(poly_owner):
        if p in per_poly:
            per_geom[int(owner)].append(" ".join(per_poly[p]))
    return [",".join(parts) for parts in per_geom]


def decode_polyline(text: str) -> list[tuple[float, float]]:
    """(lat, lon) points of one encoded ring (the inverse of :func:`encode_geometries` for one
    ring, used by the tests; the page decodes in JavaScript)."""
    out, values, shift, acc = [], [], 0, 0
    for ch in text:
        b = ord(ch) - 63
        acc |= (b & 31) << shift
        shift += 5
        if b < 0x20:
            values.append(~(acc >> 1) if acc & 1 else acc >> 1)
            acc, shift = 0, 0
    lat = lon = 0
    for i in range(0, len(values), 2):
        lat += values[i]
        lon += values[i + 1]
        out.append((lat / SCALE, lon / SCALE))
    return out


# --------------------------------------------------------------------------- data


def _indicators(result: CoverageResult) -> list[dict]:
    out = []
    for cat in result.categories:
        for mode in result.modes:
            seuil = float(result.thresholds[mode])
            out.append(
                {
                    "cat": cat,
                    "mode": mode,
                    "label": f"{category_label(cat)} — {ALL_MODES[mode].label} {fr_g(seuil)} min",
                    "seuil": seuil,
                    "cap": style.time_cap(seuil),
                }
            )
    return out


def _group_figures(result: CoverageResult, by: str, order: Sequence[str]) -> dict[str, list]:
    """Per group code (in ``order``): per indicator ``[population sans accès, part en ‰,
    temps médian en dixièmes de minute (-1 : aucun)]``, flattened."""
    table = result.summary(by=by)
    pairs = [(c, m) for c in result.categories for m in result.modes]
    index = pd.MultiIndex.from_tuples(
        [(code, c, m) for code in order for c, m in pairs], names=[by, "categorie", "mode"]
    )
    table = table.set_index([by, "categorie", "mode"]).reindex(index)
    pop = table["population"].to_numpy(float)
    blank = np.nan_to_num(table["population_zone_blanche"].to_numpy(float))
    med = table["temps_median_min"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(pop > 0, np.round(1000 * blank / pop), 0)
    values = np.column_stack(
        [np.round(blank), share, np.where(np.isfinite(med), np.round(med * 10), -1)]
    ).astype(np.int64)
    values = values.reshape(len(order), -1).tolist()
    return dict(zip(order, values, strict=True))


def _times(result: CoverageResult, rows: np.ndarray) -> list[list[int]]:
    """Per indicator, the times of ``rows`` in tenths of a minute (-1: no service reachable);
    a time that rounding would put on the other side of the threshold is moved to the right
    side (20.04 min, a zone blanche at 20 min, is written 20.1)."""
    out = []
    units = result.units
    for cat in result.categories:
        for mode in result.modes:
            t = units[time_col(cat, mode)].to_numpy(float)[rows]
            blank = units[blank_col(cat, mode)].to_numpy(bool)[rows]
            seuil = float(result.thresholds[mode])
            tenths = np.where(np.isfinite(t), np.round(t * 10), -1)
            limit = round(seuil * 10)
            tenths = np.where(blank & (tenths >= 0) & (tenths <= limit), limit + 1, tenths)
            tenths = np.where(~blank & (tenths > limit), limit, tenths)
            out.append(tenths.astype(np.int64).tolist())
    return out


def _communes_geometry(codes: Sequence[str]) -> gpd.GeoDataFrame:
    from zonesblanches.geodata import reference

    communes = reference.load_communes(None)
    communes = communes.loc[communes["code_insee"].isin(set(codes))].reset_index(drop=True)
    return communes


def _dissolve(frame: gpd.GeoDataFrame, by: str) -> gpd.GeoDataFrame:
    """Union of the (already simplified) polygons of ``frame`` per ``by`` value."""
    parts = []
    for code, group in frame.groupby(by, sort=True):
        geom = shapely.union_all(shapely.make_valid(group.geometry.values))
        parts.append({by: code, "geometry": geom})
    return gpd.GeoDataFrame(parts, geometry="geometry", crs=WGS84)


def national_payload(
    result: CoverageResult, principal: tuple[str, str] | None = None, *, title: str | None = None
) -> tuple[dict, dict[str, dict]]:
    """The page's data: ``(main, communes by département)``.

    Raises a French :class:`ParameterError` for a run whose units are not communes.
    """
    from zonesblanches.geodata import reference

    units = result.units
    if result.unit_kind != "commune" or "code_departement" not in units:
        raise ParameterError(
            "La carte nationale se dessine pour une analyse par commune : les carreaux d'une "
            "analyse nationale sont dans les tableaux (communes.csv, synthèses)."
        )
    indicators = _indicators(result)
    pairs = [(i["cat"], i["mode"]) for i in indicators]
    first = 0 if principal is None else pairs.index(tuple(principal))
    codes = units["code_insee"].astype(str).to_numpy()
    communes = _communes_geometry(codes)
    communes["_g"] = simplify_coverage(communes.geometry, TOLERANCES_M["communes"], 4)
    communes = communes.set_geometry("_g")
    position = pd.Series(np.arange(len(units)), index=codes)
    communes["_row"] = position.reindex(communes["code_insee"]).to_numpy()

    # EPCI: whole EPCI contour when all its communes are in the run, else the union of those
    # that are; the communes outside any EPCI form one group (« Communes sans EPCI »).
    epci_code = units["code_epci"].fillna("").astype(str) if "code_epci" in units else None
    if epci_code is None:
        raise ParameterError("La carte nationale demande le code EPCI des communes (code_epci).")
    all_epci = reference.load_epci(None)
    complete = units.groupby(epci_code.to_numpy()).size()
    members = all_epci.set_index("code_epci")["n_communes"]
    whole = [c for c in complete.index if c and c in members and members[c] == complete[c]]
    e_whole = all_epci.loc[all_epci["code_epci"].isin(whole), ["code_epci", "geometry"]]
    e_whole = e_whole.reset_index(drop=True)
    e_whole["geometry"] = simplify_coverage(e_whole.geometry, TOLERANCES_M["epci"], 4)
    rest = communes.loc[~communes["code_epci"].isin(whole)]
    e_part = _dissolve(rest[["code_epci", "_g"]].rename_geometry("geometry"), "code_epci")
    epci = pd.concat([e_whole, e_part], ignore_index=True).sort_values("code_epci")
    names = (
        dict(zip(epci_code, units["nom_epci"].fillna("").astype(str), strict=True))
        if "nom_epci" in units
        else {}
    )
    e_codes = epci["code_epci"].tolist()
    relabelled = replace(result, units=units.assign(code_epci=epci_code.to_numpy()))
    figures = _group_figures(relabelled, "code_epci", e_codes)
    e_geom = encode_geometries(epci.geometry.values)
    e_pop = units.groupby(epci_code.to_numpy())["population"].sum()

    deps = reference.load_departements(None)
    dep_codes = sorted(set(units["code_departement"].astype(str)))
    deps = deps.loc[deps["code_departement"].isin(dep_codes)].sort_values("code_departement")
    deps = deps.reset_index(drop=True)
    deps["geometry"] = simplify_coverage(deps.geometry, TOLERANCES_M["departements"], 4)
    d_fig = _group_figures(result, "code_departement", deps["code_departement"].tolist())
    d_pop = units.groupby("code_departement")["population"].sum()
    regions = reference.load_regions()
    regions = regions.loc[regions["code_region"].isin(set(deps["code_region"]))]
    regions = regions.sort_values("code_region").reset_index(drop=True)
    regions["geometry"] = simplify_coverage(regions.geometry, TOLERANCES_M["regions"], 4)

    total = result.summary(by=None)
    national = []
    for cat, mode in pairs:
        r = total.loc[(total["categorie"] == cat) & (total["mode"] == mode)].iloc[0]
        national.append([int(round(r["population_zone_blanche"])), float(r["population"])])

    bounds = deps.total_bounds
    main = {
        "title": title or f"Accès aux services de mobilité inclusive — {result.territory}",
        "territory": result.territory or "territoire analysé",
        "indicators": indicators,
        "principal": first,
        "national": national,
        "bounds": [
            [round(bounds[1], 3), round(bounds[0], 3)],
            [round(bounds[3], 3), round(bounds[2], 3)],
        ],  # fmt: skip
        "share_bounds": list(SHARE_BOUNDS),
        "share_colors": style.class_colors(len(SHARE_BOUNDS) + 2),
        "time_bounds": list(style.TIME_CLASSES),
        "time_colors": style.class_colors(len(style.TIME_CLASSES) + 1),
        "time_labels": style.class_labels(style.TIME_CLASSES),
        "unreachable": style.UNREACHABLE_COLOR,
        "unreachable_label": style.UNREACHABLE_LABEL,
        "epci": [
            {
                "c": code,
                "n": names.get(code) or NO_EPCI_LABEL if code else NO_EPCI_LABEL,
                "p": int(round(float(e_pop.get(code, 0)))),
                "f": figures[code],
                "g": g,
            }
            for code, g in zip(e_codes, e_geom, strict=True)
        ],
        "deps": [
            {
                "c": code,
                "n": nom,
                "p": int(round(float(d_pop.get(code, 0)))),
                "f": d_fig[code],
                "g": g,
            }
            for code, nom, g in zip(
                deps["code_departement"],
                deps["nom"],
                encode_geometries(deps.geometry.values),
                strict=True,
            )
        ],
        "regions": encode_geometries(regions.geometry.values),
        "notes": list(result.notes),
        "sources": _source_lines(result),
    }
    by_dep: dict[str, dict] = {}
    communes["_enc"] = encode_geometries(communes.geometry.values)
    communes = communes.sort_values("code_insee")
    for dep, group in communes.groupby("code_departement", sort=True):
        rows = group["_row"].to_numpy(np.int64)
        by_dep[str(dep)] = {
            "c": group["code_insee"].tolist(),
            "n": group["nom"].tolist(),
            "e": [
                (e or NO_EPCI_LABEL) if c else NO_EPCI_LABEL
                for c, e in zip(
                    units["code_epci"].fillna("").to_numpy()[rows],
                    units["nom_epci"].fillna("").to_numpy()[rows]
                    if "nom_epci" in units
                    else [""] * len(rows),
                    strict=True,
                )
            ],
            "p": np.round(units["population"].to_numpy(float)[rows]).astype(np.int64).tolist(),
            "t": _times(result, rows),
            "g": group["_enc"].tolist(),
        }
    return main, by_dep


def _source_lines(result: CoverageResult) -> list[str]:
    from zonesblanches.geodata.reference import sources

    lines = [
        f"{label} : {e['source']} — {e['licence']}."
        for e in sources()
        for key, label in (("communes", "Communes"), ("epci", "EPCI"))
        if e["jeu"] == key
    ]
    tol = TOLERANCES_M
    lines.append(
        f"Contours simplifiés pour la carte (topologie conservée) : communes {fr_g(tol['communes'])}"
        f" m, EPCI {fr_g(tol['epci'])} m, départements {fr_g(tol['departements'])} m ; les "
        "chiffres viennent du calcul, pas des contours."
    )
    lines.append(
        f"Services : {fr_count(len(result.services), 'service')} ; leur liste est dans les "
        "tableaux (services_hors_territoire.csv, communes.csv : service le plus proche)."
    )
    lines.append("Carte réalisée avec zonesblanches et Leaflet.")
    return lines


# --------------------------------------------------------------------------- page


def _json(payload) -> str:
    from zonesblanches.maps.carto import _payload_json

    return _payload_json(payload)


def national_page(
    result: CoverageResult, principal: tuple[str, str] | None = None, *, title: str | None = None
) -> str:
    """The HTML of the national map (self-contained)."""
    main, by_dep = national_payload(result, principal, title=title)
    blocks = "".join(
        f'<script type="application/json" id="zb-d-{code}">{_json(data)}</script>\n'
        for code, data in by_dep.items()
    )
    title_text = main["title"]
    return (
        '<!DOCTYPE html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_html(title_text)}</title>\n"
        f"<style>{leaflet_css()}</style>\n<style>{PAGE_CSS}</style>\n</head>\n<body>\n"
        '<div id="zb-map" role="application" aria-label="Carte"></div>\n'
        f'<script type="application/json" id="zb-main">{_json(main)}</script>\n'
        f"{blocks}"
        f"<script>{leaflet_js()}</script>\n<script>{PAGE_JS}</script>\n</body>\n</html>\n"
    )


def _html(text: str) -> str:
    import html

    return html.escape(str(text), quote=True)


def write_national_map(
    result: CoverageResult,
    path: str | Path,
    principal: tuple[str, str] | None = None,
    *,
    title: str | None = None,
) -> Path:
    """Write the national map (``carte.html``) atomically; return its path."""
    from zonesblanches.writers import atomic_path

    page = national_page(result, principal, title=title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8", newline="\n")
    return path


def _slug(text: str) -> str:
    from zonesblanches._text import normalize

    return re.sub(r"[^a-z0-9]+", "-", normalize(text)).strip("-")


def write_region_maps(
    result: CoverageResult, folder: str | Path, principal: tuple[str, str] | None = None
) -> list[Path]:
    """One map per région of the run (``cartes_regions/carte_<code>_<nom>.html``), the same
    page restricted to the région's communes; return the paths."""
    from zonesblanches.geodata import reference

    folder = Path(folder)
    deps = reference.load_departements(None).set_index("code_departement")["code_region"]
    names = reference.load_regions().set_index("code_region")["nom"]
    region = result.units["code_departement"].astype(str).map(deps)
    written = []
    for code in sorted(set(region.dropna())):
        units = result.units.loc[(region == code).to_numpy()]
        sub = replace(result, units=units, territory=str(names[code]))
        path = folder / f"carte_{code}_{_slug(names[code])}.html"
        written.append(write_national_map(sub, path, principal))
    return written


PAGE_CSS = """
html, body { margin: 0; height: 100%; }
#zb-map { position: absolute; inset: 0; background: #f4f1ea;
  font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif; }
.zb-box { background: rgba(255,255,255,0.95); border-radius: 6px; padding: 7px 10px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.35); font-size: 12px; line-height: 1.4; color: #1a1a1a; }
.zb-title { max-width: 430px; }
.zb-title h1 { font-size: 15px; margin: 0 0 3px 0; }
.zb-title .zb-key { font-size: 13px; margin: 4px 0; }
.zb-title select { max-width: 410px; font-size: 12px; margin: 2px 0 4px 0; }
.zb-legend { min-width: 190px; }
.zb-legend h4 { margin: 0 0 4px 0; font-size: 12px; }
.zb-row { display: flex; align-items: center; gap: 6px; margin: 1px 0; }
.zb-swatch { width: 18px; height: 12px; border: 1px solid #777; flex: none; }
.zb-method { max-width: 380px; max-height: 30vh; overflow-y: auto; }
.zb-method summary { cursor: pointer; font-weight: 600; }
.zb-method ul { margin: 4px 0; padding-left: 16px; }
.zb-popup td { padding: 1px 6px 1px 0; vertical-align: top; }
.zb-popup td:first-child { color: #555; }
.zb-popup button, .zb-title button { margin-top: 5px; cursor: pointer; }
"""

PAGE_JS = r"""
(function () {
  "use strict";
  var M = JSON.parse(document.getElementById("zb-main").textContent);
  var IND = M.indicators, cur = M.principal;
  function esc(s) { var d = document.createElement("span"); d.textContent = String(s); return d.innerHTML; }
  function fmtInt(n) { return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f"); }
  function fmtDec(x, d) { return x.toFixed(d).replace(".", ","); }
  function decodeRing(s) {
    var pts = [], i = 0, lat = 0, lon = 0, n = s.length;
    while (i < n) {
      var vals = [0, 0];
      for (var k = 0; k < 2; k++) {
        var shift = 0, acc = 0, b;
        do { b = s.charCodeAt(i++) - 63; acc |= (b & 31) << shift; shift += 5; } while (b >= 32);
        vals[k] = (acc & 1) ? ~(acc >> 1) : (acc >> 1);
      }
      lat += vals[0]; lon += vals[1];
      pts.push([lat / 1e4, lon / 1e4]);
    }
    return pts;
  }
  function decode(g) {
    if (!g) return [];
    return g.split(",").map(function (p) { return p.split(" ").map(decodeRing); });
  }
  var map = L.map("zb-map", { preferCanvas: true, zoomSnap: 0.25, minZoom: 4 });
  map.fitBounds(M.bounds);
  var renderer = L.canvas({ padding: 0.3 });
  map.createPane("communes").style.zIndex = 410;
  map.createPane("lines").style.zIndex = 420;
  map.getPane("lines").style.pointerEvents = "none";
  var communeRenderer = L.canvas({ padding: 0.3, pane: "communes" });
  var lineRenderer = L.canvas({ padding: 0.3, pane: "lines" });

  function shareClass(permille) {
    var pct = permille / 10;
    if (permille <= 0) return 0;
    for (var i = 0; i < M.share_bounds.length; i++) { if (pct < M.share_bounds[i]) return i + 1; }
    return M.share_bounds.length + 1;
  }
  function shareLabels() {
    var b = M.share_bounds, out = ["aucun habitant (0 %)", "moins de " + b[0] + " %"];
    for (var i = 1; i < b.length; i++) out.push(b[i - 1] + " à " + b[i] + " %");
    out.push(b[b.length - 1] + " % ou plus");
    return out;
  }
  function timeClass(t) {
    if (t < 0) return -1;
    for (var i = 0; i < M.time_bounds.length; i++) { if (t <= M.time_bounds[i] * 10) return i; }
    return M.time_bounds.length;
  }
  function timeText(t, ind) {
    if (t < 0) return "aucun service connu à moins de " + fmtDec(ind.cap, 0) + " min";
    if (t > ind.cap * 10) return "plus de " + fmtDec(ind.cap, 0) + " min";
    var lim = ind.seuil * 10, r = Math.round(t / 10) * 10;
    if ((r > lim) !== (t > lim)) return fmtDec(t / 10, 1) + " min";
    return fmtDec(r / 10, 0) + " min";
  }
  function pctText(permille) { return fmtDec(permille / 10, 1) + " %"; }

  // -- EPCI ------------------------------------------------------------------------------
  var epciLayer = L.layerGroup().addTo(map);
  M.epci.forEach(function (e) {
    var poly = L.polygon(decode(e.g), { renderer: renderer, weight: 0.5, color: "#fff",
                                        opacity: 0.8, fillOpacity: 0.85 });
    poly.zb = e;
    poly.on("click", function (ev) { epciPopup(e, ev.latlng); });
    poly.addTo(epciLayer);
  });
  function styleEpci() {
    epciLayer.eachLayer(function (poly) {
      var f = poly.zb.f;
      poly.setStyle({ fillColor: M.share_colors[shareClass(f[3 * cur + 1])] });
    });
  }
  function depAt(latlng) {
    for (var i = 0; i < deps.length; i++) {
      if (deps[i].rings && inside(latlng, deps[i].rings)) return deps[i];
    }
    return null;
  }
  function inside(ll, polys) {
    var x = ll.lng, y = ll.lat, inPoly = false;
    polys.forEach(function (rings) {
      rings.forEach(function (ring) {
        for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
          var yi = ring[i][0], xi = ring[i][1], yj = ring[j][0], xj = ring[j][1];
          if (((yi > y) !== (yj > y)) && (x < (xj - xi) * (y - yi) / (yj - yi) + xi)) inPoly = !inPoly;
        }
      });
    });
    return inPoly;
  }
  function epciPopup(e, latlng) {
    var ind = IND[cur], f = e.f, dep = depAt(latlng);
    var html = "<div class='zb-popup'><b>" + esc(e.n) + "</b><table>" +
      (e.c ? "<tr><td>SIREN</td><td>" + esc(e.c) + "</td></tr>" : "") +
      "<tr><td>Population</td><td>" + fmtInt(e.p) + "</td></tr>" +
      "<tr><td>Sans accès à moins de " + fmtDec(ind.seuil, 0) + " min</td><td>" +
      fmtInt(f[3 * cur]) + " habitants (" + pctText(f[3 * cur + 1]) + ")</td></tr>" +
      "<tr><td>Temps médian</td><td>" + (f[3 * cur + 2] < 0 ? "—" : timeText(f[3 * cur + 2], ind)) +
      "</td></tr></table><small>" + esc(ind.label) + "</small>";
    if (dep) html += "<br><button type='button' data-dep='" + esc(dep.c) + "'>Voir les communes : " +
      esc(dep.n) + " (" + esc(dep.c) + ")</button>";
    html += "</div>";
    var pop = L.popup().setLatLng(latlng).setContent(html).openOn(map);
    var btn = pop.getElement().querySelector("button[data-dep]");
    if (btn) btn.addEventListener("click", function () { map.closePopup(); drill(btn.getAttribute("data-dep")); });
  }

  // -- départements and régions (outlines) -----------------------------------------------
  var deps = M.deps, byCode = {};
  deps.forEach(function (d) {
    d.rings = decode(d.g);
    byCode[d.c] = d;
    L.polygon(d.rings, { renderer: lineRenderer, weight: 1.2, color: "#222", fill: false,
                         interactive: false }).addTo(map);
    d.bounds = L.latLngBounds(d.rings.map(function (p) { return p[0]; }).reduce(function (a, b) { return a.concat(b); }, []));
  });
  M.regions.forEach(function (g) {
    L.polygon(decode(g), { renderer: lineRenderer, weight: 2.4, color: "#000", fill: false,
                           interactive: false }).addTo(map);
  });

  // -- communes of a département, parsed on first use -------------------------------------
  var shown = {};
  function communes(code) {
    if (shown[code]) return shown[code];
    var el = document.getElementById("zb-d-" + code);
    if (!el) return null;
    var D = JSON.parse(el.textContent), layer = L.layerGroup();
    D.c.forEach(function (c, i) {
      var poly = L.polygon(decode(D.g[i]), { renderer: communeRenderer, weight: 0.4, color: "#666",
                                             fillOpacity: 0.9, pane: "communes" });
      poly.zb = i;
      poly.on("click", function (ev) {
        var ind = IND[cur], t = D.t[cur][i];
        L.popup().setLatLng(ev.latlng).setContent(
          "<div class='zb-popup'><b>" + esc(D.n[i]) + "</b><table>" +
          "<tr><td>Code INSEE</td><td>" + esc(c) + "</td></tr>" +
          "<tr><td>EPCI</td><td>" + esc(D.e[i]) + "</td></tr>" +
          "<tr><td>Population</td><td>" + fmtInt(D.p[i]) + "</td></tr>" +
          "<tr><td>Temps jusqu'au plus proche</td><td>" + esc(timeText(t, ind)) + "</td></tr>" +
          "<tr><td>Zone blanche</td><td>" + (t < 0 || t > ind.seuil * 10 ? "oui" : "non") +
          "</td></tr></table><small>" + esc(ind.label) + "</small></div>").openOn(map);
      });
      poly.addTo(layer);
    });
    layer.zbData = D;
    shown[code] = layer;
    styleCommunes(layer);
    return layer;
  }
  function styleCommunes(layer) {
    var D = layer.zbData;
    layer.eachLayer(function (poly) {
      var k = timeClass(D.t[cur][poly.zb]);
      poly.setStyle({ fillColor: k < 0 ? M.unreachable : M.time_colors[k] });
    });
  }
  var active = {};
  function show(code) {
    var layer = communes(code);
    if (layer && !active[code]) { layer.addTo(map); active[code] = true; }
  }
  function hideAll() {
    Object.keys(active).forEach(function (c) { map.removeLayer(shown[c]); });
    active = {};
  }
  function drill(code) {
    var d = byCode[code];
    if (!d) return;
    show(code);
    map.fitBounds(d.bounds);
    select.value = code;
    legend();
  }
  map.on("moveend", function () {
    if (map.getZoom() < 8) { return; }
    var view = map.getBounds();
    deps.forEach(function (d) { if (view.intersects(d.bounds)) show(d.c); });
    legend();
  });

  // -- controls ---------------------------------------------------------------------------
  var box = L.control({ position: "topleft" });
  var select, indSelect, keyLine, legendBox;
  box.onAdd = function () {
    var div = L.DomUtil.create("div", "zb-box zb-title");
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    var h = document.createElement("h1"); h.textContent = M.title; div.appendChild(h);
    indSelect = document.createElement("select");
    indSelect.setAttribute("aria-label", "Indicateur");
    IND.forEach(function (ind, i) {
      var o = document.createElement("option"); o.value = i; o.textContent = ind.label;
      indSelect.appendChild(o);
    });
    indSelect.value = cur;
    indSelect.addEventListener("change", function () { cur = +indSelect.value; restyle(); });
    div.appendChild(indSelect);
    keyLine = document.createElement("div"); keyLine.className = "zb-key"; div.appendChild(keyLine);
    var row = document.createElement("div");
    select = document.createElement("select");
    select.setAttribute("aria-label", "Département");
    var o0 = document.createElement("option"); o0.value = ""; o0.textContent = "Voir les communes d'un département…";
    select.appendChild(o0);
    deps.forEach(function (d) {
      var o = document.createElement("option"); o.value = d.c; o.textContent = d.c + " " + d.n;
      select.appendChild(o);
    });
    select.addEventListener("change", function () { if (select.value) { hideAll(); drill(select.value); } });
    row.appendChild(select);
    var back = document.createElement("button"); back.type = "button"; back.textContent = "Vue d'ensemble";
    back.addEventListener("click", function () { hideAll(); select.value = ""; map.fitBounds(M.bounds); legend(); });
    row.appendChild(back);
    div.appendChild(row);
    var hint = document.createElement("div");
    hint.textContent = "Couleur : part des habitants de chaque EPCI sans accès. Cliquez sur un EPCI pour ses chiffres et les communes de son département ; en zoomant, les communes s'affichent.";
    div.appendChild(hint);
    return div;
  };
  box.addTo(map);
  var leg = L.control({ position: "bottomright" });
  leg.onAdd = function () { legendBox = L.DomUtil.create("div", "zb-box zb-legend"); return legendBox; };
  leg.addTo(map);
  function row(color, text) {
    return "<div class='zb-row'><span class='zb-swatch' style='background:" + color + "'></span>" + esc(text) + "</div>";
  }
  function legend() {
    var ind = IND[cur], html = "<h4>EPCI : habitants à plus de " + fmtDec(ind.seuil, 0) + " min</h4>";
    shareLabels().forEach(function (t, i) { html += row(M.share_colors[i], t); });
    if (Object.keys(active).length) {
      html += "<h4 style='margin-top:6px'>Communes : temps jusqu'au plus proche</h4>";
      M.time_labels.forEach(function (t, i) { html += row(M.time_colors[i], t); });
      html += row(M.unreachable, M.unreachable_label);
    }
    legendBox.innerHTML = html;
  }
  var method = L.control({ position: "bottomleft" });
  method.onAdd = function () {
    var div = L.DomUtil.create("div", "zb-box zb-method");
    L.DomEvent.disableClickPropagation(div);
    L.DomEvent.disableScrollPropagation(div);
    var det = document.createElement("details"), sum = document.createElement("summary");
    sum.textContent = "Méthode et sources"; det.appendChild(sum);
    var ul = document.createElement("ul");
    M.notes.concat(M.sources).forEach(function (t) { var li = document.createElement("li"); li.textContent = t; ul.appendChild(li); });
    det.appendChild(ul); div.appendChild(det);
    return div;
  };
  method.addTo(map);
  function restyle() {
    var ind = IND[cur], n = M.national[cur];
    keyLine.textContent = M.territory + " : " + fmtInt(n[0]) + " habitants sur " + fmtInt(n[1]) +
      " (" + fmtDec(n[1] > 0 ? 100 * n[0] / n[1] : 0, 1) + " %) à plus de " + fmtDec(ind.seuil, 0) +
      " min du plus proche service.";
    styleEpci();
    Object.keys(shown).forEach(function (c) { styleCommunes(shown[c]); });
    legend();
    map.closePopup();
  }
  restyle();
  window.zbMap = map;
  window.zbDrill = drill;
  window.requestAnimationFrame(function () { window.zbMapReady = true; });
})();
"""
