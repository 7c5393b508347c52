"""The fast paths of the static figures (issue 16 item 9) give the pixels and bytes of the
former code: each is checked against what matplotlib or the former function does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from real_coverage import point_units

from zonesblanches.coverage.analysis import commune_demand, compute_coverage
from zonesblanches.geodata import reference
from zonesblanches.maps import charts, figures, static_base
from zonesblanches.maps.report import _screen_png

VM = "245901160"

WORDS = st.text(
    alphabet=st.sampled_from("aàbcdeéèfghijklmnopqrstuvwxyzWM0123456789×;:,.()'« »-/"),
    min_size=1,
    max_size=40,
)


def _figure_text(text: str, wrap: bool):
    fig = Figure(figsize=(figures.A4_LANDSCAPE_CM[0] * figures.CM, 3))
    FigureCanvasAgg(fig)
    artist = fig.text(0.01, 0.012, text, fontsize=7, va="bottom", wrap=wrap)
    return fig, artist


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(WORDS, min_size=1, max_size=50), min_size=1, max_size=3))
def test_wrap_left_off_only_where_matplotlib_would_not_wrap(lines):
    """Where :func:`figures._wrap_if_too_wide` leaves wrapping off, matplotlib's own wrapping
    (the former ``wrap=True``) keeps the text as it is; where it turns it on, the text is
    matplotlib's to wrap, as before."""
    text = figures._wrap("\n".join(" ".join(words) for words in lines), figures.SOURCE_CHARS)
    fig, artist = _figure_text(text, wrap=False)
    turned_on = figures._wrap_if_too_wide(artist)
    assert artist.get_wrap() is turned_on
    _, former = _figure_text(text, wrap=True)
    former._renderer = former.get_figure().canvas.get_renderer()  # as Text.draw sets it
    if not turned_on:
        assert former._get_wrapped_text() == text


def test_wrap_left_off_draws_the_same_pixels():
    """The method line of a figure, and one too long for the page: same pixels as with
    ``wrap=True``."""
    method = figures._wrap(
        "Sources : contours IGN, Etalab (Licence Ouverte 2.0) ; services : sources citées dans "
        "le rapport ; réalisation : zonesblanches.\nTemps estimés à vol d'oiseau (en voiture) : "
        "distance en ligne droite × 1,3 (détour) à 50 km/h, sans réseau routier.",
        figures.SOURCE_CHARS,
    )
    too_long = "MWMWMWMW " * 40
    for text, expect_on in ((method, False), (too_long, True)):
        pixels = []
        for former in (True, False):
            fig, artist = _figure_text(text, wrap=former)
            if not former:
                assert figures._wrap_if_too_wide(artist) is expect_on
            fig.canvas.draw()
            pixels.append(np.asarray(fig.canvas.buffer_rgba()).copy())
        assert np.array_equal(pixels[0], pixels[1])


@pytest.fixture(scope="module")
def vm():
    communes = reference.load_communes()
    communes = communes[communes["code_epci"] == VM].reset_index(drop=True)
    result = compute_coverage(
        commune_demand(communes),
        reference.load_registry(),
        {"voiture": 20, "marche": 30},
        categories=["garage_solidaire", "atelier_velo"],
        territory="CA Valenciennes Métropole",
    )
    return result, communes


@pytest.fixture(scope="module")
def points(vm):
    """Point units (as grid cells are), every commune point placed in one commune."""
    _, communes = vm
    result = point_units(communes)
    return result, communes


@pytest.mark.parametrize("which", ["vm", "points"])
def test_shared_figure_base_gives_the_same_bytes(which, request, tmp_path):
    """Maps drawn from one :func:`static_base.figure_base` (as the report draws its ten) are the
    bytes of maps drawn alone; the pixels handed back are those of the file written."""
    from PIL import Image

    result, communes = request.getfixturevalue(which)
    epci = reference.load_epci()
    base = static_base.figure_base(result, communes, epci)
    for cat, mode in [(c, m) for c in result.categories for m in result.modes][:3]:
        alone = figures.static_map(result, communes, cat, mode, tmp_path / "a.png", epci=epci)
        pixels: list = []
        shared = figures.static_map(
            result, communes, cat, mode, tmp_path / "b.png", epci=epci, base=base, pixels=pixels
        )
        assert alone.read_bytes() == shared.read_bytes(), (cat, mode)
        with Image.open(shared) as image:
            assert np.array_equal(np.asarray(image.convert("RGB")), pixels[0])


def test_report_embeds_the_figure_from_its_pixels(vm, tmp_path):
    """The report's reduced copy made from the pixels handed back is the one made from the
    PNG file, at 150 and 300 dpi (halved)."""
    result, _ = vm
    for dpi in (150, 300):
        pixels: list = []
        path = charts.coverage_chart(result, tmp_path / f"c{dpi}.png", dpi=dpi, pixels=pixels)
        assert _screen_png(pixels[0]) == _screen_png(path)


def test_services_table_built_once_while_writing(vm):
    """Within ``reused_tables`` the services table is built once; each caller gets a copy
    equal to the table built afresh."""
    import pandas as pd

    from zonesblanches.maps import export

    result, _ = vm
    fresh = export.services_table(result)
    calls = []
    real = export._services_table
    export._services_table = lambda r: calls.append(1) or real(r)
    try:
        with result.reused_tables():
            first = export.services_table(result)
            first["statut"] = "changé"  # as the report relabels it
            pd.testing.assert_frame_equal(export.services_table(result), fresh)
    finally:
        export._services_table = real
    assert calls == [1]


def _pixels_of(draw, limits) -> np.ndarray:
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_aspect("equal")
    draw(ax)
    ax.set_xlim(limits[0], limits[2])
    ax.set_ylim(limits[1], limits[3])
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def test_polygons_and_lines_draw_geopandas_pixels():
    """The maps' own polygon and line layers (paths built once, no redraw after each layer)
    give GeoPandas' ``plot`` pixels: real communes of the Nord (multipolygons; and holes
    in their union), a colour per commune, a hatched union, EPCI outlines."""
    import geopandas as gpd
    import shapely

    communes = reference.load_communes(None)
    nord = communes[communes["code_departement"] == "59"].to_crs(figures.LAMBERT93)
    geoms = nord.geometry.to_numpy()
    assert (shapely.get_type_id(geoms) == 6).any(), "the fixture should hold multipolygons"
    limits = nord.total_bounds
    colours = np.array(["#fee5d9", "#fcae91", "#fb6a4a", "#cb181d"])[np.arange(len(geoms)) % 4]
    blank = np.arange(len(geoms)) % 3 == 0
    merged = shapely.union_all(geoms[blank], grid_size=1.0)
    holes = shapely.get_num_interior_rings(shapely.get_parts(merged))
    assert (holes > 0).any(), "the union should hold holes (communes left out)"
    epci = reference.load_epci(None)
    outlines = epci[epci.intersects(shapely.box(*nord.to_crs(4326).total_bounds))]
    outlines = outlines.to_crs(figures.LAMBERT93).boundary

    def former(ax):
        gpd.GeoSeries(geoms).plot(ax=ax, color=list(colours), edgecolor="#6f6f6f", linewidth=0.15)
        gpd.GeoSeries([merged]).plot(
            ax=ax, facecolor="none", edgecolor="#222222", linewidth=0.5, hatch="////"
        )
        outlines.plot(ax=ax, color="#555555", linewidth=0.9)

    paths, rows = static_base.polygon_paths(geoms)

    def new(ax):
        static_base.add_polygons(
            ax, geoms, paths, rows, facecolor=list(colours), edgecolor="#6f6f6f", linewidth=0.15
        )
        static_base.add_polygons(
            ax, [merged], facecolor="none", edgecolor="#222222", linewidth=0.5, hatch="////"
        )
        static_base.add_lines(ax, outlines.to_numpy(), color="#555555", linewidth=0.9)

    assert np.array_equal(_pixels_of(former, limits), _pixels_of(new, limits))
    # An empty geometry is skipped, and its colour with it.
    with_empty = np.concatenate([[shapely.Polygon()], geoms[:50]])
    cols = ["#000000", *colours[:50]]
    assert np.array_equal(
        _pixels_of(
            lambda ax: gpd.GeoSeries(with_empty).plot(ax=ax, color=cols, linewidth=0.2), limits
        ),
        _pixels_of(
            lambda ax: static_base.add_polygons(ax, with_empty, facecolor=cols, linewidth=0.2),
            limits,
        ),
    )
