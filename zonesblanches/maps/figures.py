"""Static maps (PNG) for Word or PDF reports: one map per indicator (:func:`static_map`).

What the maps of one result share is made once by
:func:`~zonesblanches.maps.static_base.figure_base`; the bar charts are in
:mod:`zonesblanches.maps.charts`. Drawn with matplotlib's object API (no pyplot, no window), in Lambert-93 so that shapes are
right, with the same classes and colours as the interactive map. PNG files carry no software
version or date in their metadata, so the same inputs give the same bytes (with the same
matplotlib and fonts).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from zonesblanches._text import fr_g, fr_int
from zonesblanches.columns import blank_col, time_col
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.crs import LAMBERT93
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.categories import category_label
from zonesblanches.maps import style
from zonesblanches.maps._geometry import (
    coverage_union,
)
from zonesblanches.maps._png import CM
from zonesblanches.maps._png import save_figure as _save
from zonesblanches.maps._repeated_text import add_repeated_text
from zonesblanches.maps.static_base import FigureBase, add_lines, add_polygons, figure_base
from zonesblanches.modes import ALL_MODES, mode_code

PNG_METADATA = {"Software": None}
"""No "Software: matplotlib x.y" chunk: the bytes depend on the data, not on who drew them."""

A4_LANDSCAPE_CM = (27.7, 19.0)
"""A4 landscape (29.7 × 21 cm) within 1 cm margins."""

GLYPHS_UP_TO = 2000
"""Up to this many services of the category in a static map, each is a disc with its glyph;
beyond, a small dot each, drawn as one collection, and the legend says so (a text artist per
service made six figures take 38 minutes at 100,000 services, issue 16 item 9)."""


LEGEND_CHARS = 34
"""Characters per line of a static map's legend labels (8 pt, a column of about 7 cm)."""

SOURCE_CHARS = 190
"""Characters per line of a static map's source and method line (7 pt, the page's width)."""


def _wrap(text: str, width: int) -> str:
    """``text`` wrapped at ``width`` characters, its own line breaks kept (matplotlib's
    ``wrap=True`` left the method line running past the page's right edge)."""
    return "\n".join(textwrap.fill(line, width) or line for line in text.split("\n"))


def static_map(
    result: CoverageResult,
    communes: gpd.GeoDataFrame,
    categorie: str,
    mode: str,
    path: str | Path,
    *,
    epci: gpd.GeoDataFrame | None = None,
    thresholds_classes: Sequence[float] | None = None,
    title: str | None = None,
    dpi: int = 150,
    width_cm: float = A4_LANDSCAPE_CM[0],
    height_cm: float = A4_LANDSCAPE_CM[1],
    names: int = 10,
    base: FigureBase | None = None,
    pixels: list | None = None,
) -> Path:
    """PNG map of one indicator, ready for a Word page: communes by time class, zones blanches
    hatched, services, the names of the largest communes, a scale bar, a north arrow, the
    legend and the source line.

    Parameters
    ----------
    result : CoverageResult
        The analysis (commune units).
    communes : geopandas.GeoDataFrame
        Commune polygons with ``code_insee``.
    categorie, mode : str
        The indicator drawn.
    path : str or Path
        Where to write the PNG.
    epci : geopandas.GeoDataFrame, optional
        EPCI polygons; their boundaries are drawn.
    thresholds_classes : sequence of float, optional
        Upper bounds of the time classes (minutes).
    title : str, optional
        Default « <catégorie>, <mode> : temps d'accès au service le plus proche ».
    dpi : int
        Resolution; 150 suits the screen and most Word documents, 300 a printed report.
    width_cm, height_cm : float
        Size of the figure; default an A4 landscape page within 1 cm margins (27.7 × 19 cm).
    names : int
        How many of the most populated communes are named (fewer where names would collide).
    base : FigureBase, optional
        :func:`figure_base` of these ``result``, ``communes`` and ``epci``, when several
        figures are drawn from them (the report's ten): what every figure shares is then
        projected once. Default: computed here.
    pixels : list, optional
        The figure's pixels as written (RGB array) are appended to it.

    Returns
    -------
    Path
    """
    mode = mode_code(mode, allow_transit=True)
    if categorie not in result.categories or mode not in result.modes:
        raise ParameterError(
            f"Indicateur absent du résultat : {categorie} × {mode} (catégories : "
            + ", ".join(result.categories)
            + " ; modes : "
            + ", ".join(result.modes)
            + ")."
        )
    bounds = style.check_classes(thresholds_classes)
    colors = style.class_colors(len(bounds) + 1)
    labels = style.class_labels(bounds)
    if base is None:
        base = figure_base(result, communes, epci)
    point_units, frame, pts = base.point_units, base.frame, base.points
    if point_units:
        minutes = pts[time_col(categorie, mode)].to_numpy(dtype=float)
        blank = pts[blank_col(categorie, mode)].to_numpy(dtype=bool)
    else:
        minutes = base.units.loc[base.codes, time_col(categorie, mode)].to_numpy(dtype=float)
        blank = base.units.loc[base.codes, blank_col(categorie, mode)].to_numpy(dtype=bool)
    classes = style.class_index(minutes, bounds)
    fill = np.where(classes < 0, style.UNREACHABLE_COLOR, np.array(colors, dtype=object)[classes])

    x0, y0, x1, y1 = (pts if point_units else frame).total_bounds
    x0, y0, x1, y1 = _with_outside_services(result, categorie, (x0, y0, x1, y1))
    fig = Figure(figsize=(width_cm * CM, height_cm * CM))
    FigureCanvasAgg(fig)  # a renderer, to measure the commune names
    ax = fig.add_axes((0.01, 0.07, 0.72, 0.84))
    ax.set_axis_off()
    ax.set_aspect("equal")
    geoms, paths, rows = frame.geometry.to_numpy(), base.frame_paths, base.frame_rows
    if point_units:
        add_polygons(
            ax,
            geoms,
            paths,
            rows,
            facecolor=style.NO_DATA_COLOR,
            edgecolor="#9a9a9a",
            linewidth=0.2,
            autolim=False,
        )
        ax.scatter(
            pts.geometry.x,
            pts.geometry.y,
            s=6,
            c=list(fill),
            edgecolors=np.where(blank, "#111111", "none"),
            linewidths=0.4,
            zorder=3,
        )
    else:
        add_polygons(
            ax,
            geoms,
            paths,
            rows,
            facecolor=list(fill),
            edgecolor="#6f6f6f",
            linewidth=0.15,
            autolim=False,
        )
    if blank.any() and not point_units:
        # One hatched outline over the blank communes (hatching each one is slow to draw).
        merged = coverage_union(geoms, base.clean_frame, blank)
        add_polygons(
            ax,
            [merged],
            facecolor="none",
            edgecolor="#222222",
            linewidth=0.5,
            hatch="////",
            autolim=False,
        )
    if base.epci is not None:
        e = base.epci
        e = e.iloc[e.sindex.query(shapely.box(x0, y0, x1, y1), predicate="intersects")]
        add_lines(ax, e.boundary.to_numpy(), color=style.EPCI_OUTLINE, linewidth=0.9)
    services = result.services
    handles_services = []
    if len(services):
        own = (services["categorie"] == categorie).to_numpy()
        xs, ys = base.service_x[own], base.service_y[own]
        inside = (
            (xs >= x0 - (x1 - x0) * 0.05)
            & (xs <= x1 + (x1 - x0) * 0.05)
            & (ys >= y0 - (y1 - y0) * 0.05)
            & (ys <= y1 + (y1 - y0) * 0.05)
        )
        drawn = services[(services["categorie"] == categorie).to_numpy()][inside]
        outside = result.services_outside
        far = (
            drawn["service_id"].astype(str).isin(set(outside["service_id"].astype(str))).to_numpy()
            if outside is not None and len(outside) and "service_id" in drawn
            else None
        )
        handles_services += _draw_services(ax, xs[inside], ys[inside], categorie, far)
    ax.set_xlim(x0 - (x1 - x0) * 0.02, x1 + (x1 - x0) * 0.02)
    ax.set_ylim(y0 - (y1 - y0) * 0.02, y1 + (y1 - y0) * 0.02)
    ax.apply_aspect()
    named = frame.assign(_blank=blank) if not point_units else base.communes
    _commune_names(ax, named, names)
    _scale_bar(ax)
    _north_arrow(ax)

    handles = [
        Patch(facecolor=c, edgecolor="#777", label=lab)
        for c, lab in zip(colors, labels, strict=True)
    ]
    handles.append(
        Patch(
            facecolor=style.UNREACHABLE_COLOR, edgecolor="#777", label=style.unreachable_label(mode)
        )
    )
    handles.append(
        Patch(
            facecolor="white",
            edgecolor="#222",
            hatch="////",
            label=f"zone blanche (> {fr_g(result.thresholds[mode])} min)",
        )
    )
    if base.epci is not None:
        handles.append(
            Line2D([], [], color=style.EPCI_OUTLINE, linewidth=1.2, label="limite d'EPCI")
        )
    handles += handles_services
    for handle in handles:  # the legend's column is about 7 cm wide: long labels wrap
        handle.set_label(_wrap(handle.get_label(), LEGEND_CHARS))
    fig.legend(
        handles=handles,
        loc="center left",
        bbox_to_anchor=(0.74, 0.5),
        fontsize=8,
        title=_wrap(f"Temps d'accès ({ALL_MODES[mode].label})", LEGEND_CHARS - 4),
        title_fontsize=9,
        frameon=False,
    )
    if title is None:
        title = (
            f"{category_label(categorie)}, {ALL_MODES[mode].label} : temps d'accès au plus proche"
        )
    fig.suptitle(title, fontsize=13, x=0.01, ha="left", y=0.975)
    if result.territory:
        fig.text(0.01, 0.925, result.territory, fontsize=10, color="#444")
    method = result.models[mode].description
    source = fig.text(
        0.01,
        0.012,
        _wrap(
            "Sources : contours IGN, Etalab (Licence Ouverte 2.0) ; services : sources citées "
            "dans le rapport ; réalisation : zonesblanches.\n" + method,
            SOURCE_CHARS,
        ),
        fontsize=7,
        color="#444",
        va="bottom",
    )
    _wrap_if_too_wide(source)
    return _save(fig, path, dpi, pixels)


WRAP_MARGIN = 0.97
"""A pre-wrapped text narrower than this share of the room left of it keeps matplotlib's
wrapping off (see :func:`_wrap_if_too_wide`)."""


def _wrap_if_too_wide(text) -> bool:
    """Turn matplotlib's ``wrap`` on for ``text`` (a figure text aligned left) only when one of
    its lines does not fit between its position and the figure's right edge; return whether
    it was turned on.

    matplotlib keeps a line that fits as it is, but finds that out by measuring every prefix of
    every line at each drawing (a 190-character method line: ~40 text layouts per figure, a
    fifth of a figure's time, issue 16 item 9). One measure of the whole text at the figure's
    resolution tells the same for the lines well within the page, the usual case; a line within
    3 % of the edge, or beyond, is left to matplotlib as before: same pixels either way."""
    fig = text.get_figure()
    renderer = fig.canvas.get_renderer()
    room = fig.bbox.width * (1.0 - text.get_position()[0])
    if text.get_window_extent(renderer).width <= room * WRAP_MARGIN:
        return False
    text.set_wrap(True)
    return True


def _with_outside_services(result: CoverageResult, categorie: str, box) -> tuple:
    """The map's extent (Lambert-93) widened to the services of ``categorie`` used outside the
    territory that are the nearest of some unit: the figure shows where people go (issue 12
    §3), not only the territory."""
    table = result.services_outside
    if table is None or not len(table):
        return tuple(box)
    used = table[(table["categorie"].astype(str) == categorie) & (table["unites_servies"] > 0)]
    if not len(used):
        return tuple(box)
    x0, y0, x1, y1 = gpd.GeoSeries(used.geometry, crs=table.crs).to_crs(LAMBERT93).total_bounds
    return (min(box[0], x0), min(box[1], y0), max(box[2], x1), max(box[3], y1))


def _draw_services(ax, xs, ys, categorie: str, hollow=None) -> list[Line2D]:
    """Draw the services of ``categorie`` at ``xs``, ``ys`` (Lambert-93) and return their legend
    handles: a disc with the category's glyph each, or beyond :data:`GLYPHS_UP_TO` a small dot
    each in one collection, the legend saying so. Where ``hollow`` (a boolean mask) is true, the
    service lies outside the territory and was used: drawn hollow (white disc, ring and glyph
    in the category's colour), with a legend line of its own."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    hollow = np.zeros(len(xs), dtype=bool) if hollow is None else np.asarray(hollow, dtype=bool)
    pts_n = len(xs)
    st = style.category_style(categorie)
    dense = pts_n > GLYPHS_UP_TO
    for far in (False, True):
        sel = hollow == far
        if not sel.any():
            continue
        # Beyond GLYPHS_UP_TO, one small dot each in one collection and no glyph text:
        # 100,000 glyphs took minutes per figure.
        ax.scatter(
            xs[sel],
            ys[sel],
            s=8 if dense else 60,
            c="white" if far else st.color,
            edgecolors=st.color if far else "white",
            linewidths=(0.8 if dense else 1.8) if far else (0.2 if dense else 1.2),
            zorder=5,
        )
        if not dense:  # one artist for all the glyphs: shaped once, same pixels
            add_repeated_text(
                ax,
                xs[sel],
                ys[sel],
                st.glyph,
                ha="center",
                va="center",
                fontsize=5.5,
                color=st.color if far else "white",
                fontweight="bold",
                zorder=6,
            )
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markersize=4 if dense else 7,
            markerfacecolor=st.color,
            markeredgecolor="white",
            label=f"{category_label(categorie)} ({pts_n})"
            + (f"\n(plus de {fr_int(GLYPHS_UP_TO)} : sans pictogramme)" if dense else ""),
        )
    ]
    if hollow.any():
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markersize=4 if dense else 7,
                markerfacecolor="white",
                markeredgecolor=st.color,
                markeredgewidth=1.8,
                label=f"dont {int(hollow.sum())} hors du territoire,\npris en compte (creux)",
            )
        )
    return handles


def _commune_names(ax, communes: gpd.GeoDataFrame, n: int) -> list[str]:
    """Name the ``n`` most populated communes drawn, those in zone blanche (``_blank``) first,
    skipping a name that would overlap one already placed (measured with the renderer)."""
    if n <= 0 or "nom" not in communes or "population" not in communes or not len(communes):
        return []
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    if "_blank" not in communes:
        communes = communes.assign(_blank=False)
    frame = communes.sort_values(
        ["_blank", "population", "code_insee"], ascending=[False, False, True]
    )
    renderer = ax.figure.canvas.get_renderer()
    placed, shown = [], []
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    # A point inside each commune, as ``representative_point()``, made only for the communes
    # tried (tens, not the region's 3,782 at each map).
    for name, geom in zip(frame["nom"].astype(str), frame.geometry.to_numpy(), strict=True):
        if len(placed) >= n:
            break
        pt = shapely.point_on_surface(geom)
        if not (x0 <= pt.x <= x1 and y0 <= pt.y <= y1):
            continue
        text = ax.text(
            pt.x,
            pt.y,
            name,
            fontsize=8,
            fontweight="bold",
            color="#111",
            ha="center",
            va="center",
            zorder=7,
            path_effects=halo,
        )
        box = text.get_window_extent(renderer).expanded(1.08, 1.2)
        if any(box.overlaps(b) for b in placed):
            text.remove()
            continue
        placed.append(box)
        shown.append(name)
    return shown


def _scale_bar(ax) -> None:
    """A scale bar of a round length (about a fifth of the map's width), bottom right, in
    kilometres (the axes are in Lambert-93 metres)."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    target = (x1 - x0) / 5
    steps = [s * 10**e for e in range(0, 7) for s in (1, 2, 5)]
    length = max([s for s in steps if s <= target] or [steps[0]])
    bx, by = x1 - (x1 - x0) * 0.03 - length, y0 + (y1 - y0) * 0.03
    ax.plot([bx, bx + length], [by, by], color="#111", linewidth=3, solid_capstyle="butt", zorder=8)
    ax.plot(
        [bx, bx + length / 2],
        [by, by],
        color="white",
        linewidth=1.2,
        solid_capstyle="butt",
        zorder=9,
    )
    label = f"{fr_g(length / 1000)} km"
    ax.text(
        bx + length / 2,
        by + (y1 - y0) * 0.015,
        label,
        ha="center",
        va="bottom",
        fontsize=8,
        zorder=8,
        path_effects=[patheffects.withStroke(linewidth=2, foreground="white")],
    )


def _north_arrow(ax) -> None:
    """A north arrow, top right (Lambert-93 grid north; it differs from true north by less
    than 3° over metropolitan France)."""
    ax.annotate(
        "N",
        xy=(0.96, 0.97),
        xytext=(0.96, 0.87),
        xycoords="axes fraction",
        textcoords="axes fraction",
        ha="center",
        va="center",
        fontsize=11,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "#111", "linewidth": 1.5},
        zorder=8,
    )
