"""The speed-ups of the static maps for issue 17 (outputs of the region ≤ 5 s) draw the pixels
of the former code: each is checked against what the former code drew."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from real_coverage import coverage_of, nord, point_units

from zonesblanches.geodata import reference
from zonesblanches.maps import _geometry, figures, static_base
from zonesblanches.maps._repeated_text import RepeatedText, add_repeated_text

VM = "245901160"


def _pixels(draw, dpi=150) -> np.ndarray:
    fig = Figure(figsize=(5, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.05, 0.05, 0.9, 0.9))
    ax.set_axis_off()
    draw(ax)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 70)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


COORD = st.floats(-20, 120, allow_nan=False)
KWARGS = st.fixed_dictionaries(
    {
        "ha": st.sampled_from(["center", "left", "right"]),
        "va": st.sampled_from(["center", "baseline", "top", "bottom", "center_baseline"]),
        "fontsize": st.sampled_from([5.5, 8, 11.3]),
        "color": st.sampled_from(["white", "#0072B2", "#D55E00"]),
        "fontweight": st.sampled_from(["bold", "normal"]),
        "rotation": st.sampled_from([0, 0, 30]),
        "zorder": st.sampled_from([2, 6]),
    }
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(COORD, COORD), min_size=0, max_size=30),
    st.sampled_from(["G", "AÉ", "→", "é\nà", "$x^2$", "V", "L2"]),
    KWARGS,
    st.booleans(),
)
def test_repeated_text_draws_one_text_per_position(points, text, kwargs, halo):
    """One :class:`RepeatedText` gives the pixels of one ``ax.text`` per position (the
    former glyph drawing), over a filled background, for any alignment, size, rotation,
    several lines, mathtext, path effects, positions outside the axes."""
    from matplotlib import patheffects

    if halo:
        kwargs = {**kwargs, "path_effects": [patheffects.withStroke(linewidth=2, foreground="k")]}
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]

    def background(ax):
        ax.fill([0, 100, 100, 0], [0, 0, 70, 70], color="#3182bd", zorder=1)

    def former(ax):
        background(ax)
        for x, y in zip(xs, ys, strict=True):
            ax.text(x, y, text, **kwargs)

    def new(ax):
        background(ax)
        add_repeated_text(ax, xs, ys, text, **kwargs)

    assert np.array_equal(_pixels(former), _pixels(new))


def test_repeated_text_shapes_once_on_agg():
    """On the Agg canvas the glyphs are shaped once (the fast path is the one taken)."""
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    artist = add_repeated_text(ax, [0.2, 0.5], [0.2, 0.5], "G", fontsize=5.5)
    glyphs = artist._shaped(fig.canvas.get_renderer(), "G", False, artist)
    assert glyphs is not None and len(glyphs) == 1


def test_repeated_text_without_positions_adds_nothing():
    fig = Figure()
    ax = fig.add_subplot()
    assert add_repeated_text(ax, [], [], "G") is None
    assert not ax.texts
    with pytest.raises(ValueError):
        RepeatedText([1, 2], [1], "G")


@pytest.fixture(scope="module")
def vm():
    return coverage_of("code_epci", VM, "CA Valenciennes Métropole")


def _former_glyphs(ax, xs, ys, text, **kwargs):
    """The glyph drawing before issue 17: one ``ax.text`` per service."""
    for x, y in zip(xs, ys, strict=True):
        ax.text(x, y, text, **kwargs)


def test_static_maps_keep_their_bytes_with_one_glyph_artist(vm, tmp_path, monkeypatch):
    """Every static map of the registry on CA Valenciennes Métropole (services drawn with
    their glyph, some outside the territory drawn hollow) is the file the former one text
    per service wrote."""
    result, communes = vm
    epci = reference.load_epci()
    base = static_base.figure_base(result, communes, epci)
    specs = [(c, m) for c in result.categories for m in result.modes]
    new = [
        figures.static_map(result, communes, c, m, tmp_path / f"n_{c}_{m}.png", base=base)
        for c, m in specs
    ]
    monkeypatch.setattr(figures, "add_repeated_text", _former_glyphs)
    former = [
        figures.static_map(result, communes, c, m, tmp_path / f"f_{c}_{m}.png", base=base)
        for c, m in specs
    ]
    drawn = 0
    for (c, m), a, b in zip(specs, new, former, strict=True):
        assert a.read_bytes() == b.read_bytes(), (c, m)
        drawn += int((result.services["categorie"] == c).sum())
    assert drawn > 10, "the fixture should draw services"


@pytest.fixture(scope="module")
def nord_base():
    """The Nord's 648 communes drawn as the report draws them (simplified, Lambert-93), with
    the registry's real walking and car coverage."""
    result, communes = nord()
    return result, static_base.figure_base(result, communes)


def _blank_masks(result, base):
    from zonesblanches.columns import blank_col

    masks = [
        base.units.loc[base.codes, blank_col(c, m)].to_numpy(dtype=bool)
        for c in result.categories
        for m in result.modes
    ]
    rng = np.random.default_rng(17)
    masks += [rng.random(len(base.frame)) < p for p in (0.1, 0.5, 0.9)]
    return [m for m in masks if m.any()]


def test_blank_outline_is_the_union_of_the_clean_coverage(nord_base):
    """The hatched outline (union by shared edges) is the union of the clean coverage's
    polygons computed by a full overlay, for the real blank sets and random ones."""
    import shapely

    result, base = nord_base
    geoms = base.frame.geometry.to_numpy()
    clean = base.clean_frame
    assert clean is not None and shapely.coverage_is_valid(clean)
    for mask in _blank_masks(result, base):
        fast = _geometry.coverage_union(geoms, clean, mask)
        assert fast.equals(shapely.union_all(clean[mask])), mask.sum()


def test_blank_outline_differs_from_the_former_by_slivers_only(nord_base):
    """Against the former union of the raw outlines (1 m grid): what one has and the other
    has not is made of slivers thinner than 60 m (the overlaps of neighbouring simplified
    outlines; a pixel of the region's map is about 280 m); every hole of the new outline holds
    a commune not in zone blanche (no dark ring left where outlines overlapped)."""
    import shapely

    result, base = nord_base
    geoms = base.frame.geometry.to_numpy()
    points = shapely.point_on_surface(geoms)
    for mask in _blank_masks(result, base):
        new = _geometry.coverage_union(geoms, base.clean_frame, mask)
        former = shapely.union_all(geoms[mask], grid_size=1.0)
        for diff in (new.difference(former), former.difference(new)):
            parts = shapely.get_parts(diff)
            assert shapely.is_empty(shapely.buffer(parts, -30.0)).all()
        for part in shapely.get_parts(new):
            for ring in part.interiors:
                hole = shapely.Polygon(ring)
                assert shapely.contains(hole, points[~mask]).any()


def test_blank_outline_falls_back_to_the_overlay():
    """Polygons GEOS cannot clean (or anything but polygons): the former overlay on a 1 m
    grid, unchanged."""
    import shapely

    geoms = np.array([shapely.box(0, 0, 10, 10), shapely.Point(3, 3).buffer(1)], dtype=object)
    assert _geometry.clean_coverage(np.array([shapely.Point(0, 0)], dtype=object)) is None
    assert _geometry.clean_coverage(np.array([shapely.Polygon()], dtype=object)) is None
    mask = np.array([True, True])
    assert _geometry.coverage_union(geoms, None, mask).equals_exact(
        shapely.union_all(geoms, grid_size=1.0), 0
    )


def test_static_maps_keep_their_bytes_without_collection_limits(vm, tmp_path, monkeypatch):
    """The static maps' polygon layers added without computing their extent (the map sets
    its limits itself) give the bytes of the former layers added with it; commune units and
    point units (every commune point placed in one commune, as grid cells are)."""
    result, communes = vm
    points = point_units(communes)
    real = figures.add_polygons

    def former(*args, **kwargs):
        kwargs.pop("autolim", None)
        return real(*args, **kwargs)

    epci = reference.load_epci()
    for res in (result, points):
        specs = [(res.categories[0], m) for m in res.modes]
        new = [
            figures.static_map(res, communes, c, m, tmp_path / f"n{c}{m}.png", epci=epci)
            for c, m in specs
        ]
        with monkeypatch.context() as patch:
            patch.setattr(figures, "add_polygons", former)
            old = [
                figures.static_map(res, communes, c, m, tmp_path / f"f{c}{m}.png", epci=epci)
                for c, m in specs
            ]
        for a, b in zip(new, old, strict=True):
            assert a.read_bytes() == b.read_bytes(), a.name


def _former_polygon_paths(geoms):
    """The paths before issue 17: a path per ring, compounded per geometry."""
    from matplotlib.path import Path as MplPath

    geoms = shapely.normalize(np.asarray(geoms, dtype=object))
    rows = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    paths = []
    for geom in geoms[rows]:
        rings = []
        for part in [geom] if geom.geom_type == "Polygon" else geom.geoms:
            rings.append(MplPath(np.asarray(part.exterior.coords)[:, :2], closed=True))
            rings.extend(
                MplPath(np.asarray(ring.coords)[:, :2], closed=True) for ring in part.interiors
            )
        paths.append(MplPath.make_compound_path(*rings))
    return paths, rows


def test_polygon_paths_are_the_former_compound_paths(nord_base):
    """The paths built from every ring at once have the vertices and codes of the former
    compound path per geometry: the Nord's communes as drawn (multipolygons), their union
    (holes), an empty geometry and a missing one among them."""
    _, base = nord_base
    geoms = base.frame.geometry.to_numpy()
    union = shapely.union_all(geoms[::3], grid_size=1.0)
    assert (shapely.get_num_interior_rings(shapely.get_parts(union)) > 0).any()
    cases = [
        geoms,
        np.array([union], dtype=object),
        np.array([shapely.Polygon(), geoms[0], None, geoms[1]], dtype=object),
        np.array([], dtype=object),
    ]
    assert (shapely.get_type_id(geoms) == 6).any()
    for case in cases:
        paths, rows = static_base.polygon_paths(case)
        former, former_rows = _former_polygon_paths(case)
        assert rows.tolist() == former_rows.tolist()
        assert len(paths) == len(former)
        for a, b in zip(paths, former, strict=True):
            assert np.array_equal(a.vertices, b.vertices)
            assert np.array_equal(a.codes, b.codes)
            assert a.should_simplify == b.should_simplify


def test_a_shared_simplification_is_taken_and_nothing_is_kept_behind(monkeypatch):
    """The report's static maps take the simplification its interactive map hands them (a
    list the caller passes to both): the shared result for an identical input, the same
    polygons as a new simplification; a changed input (one vertex moved) or tolerance is
    simplified anew, and without the list every call simplifies (no hidden cache)."""
    from zonesblanches.crs import LAMBERT93

    communes = reference.load_communes()
    metric = np.asarray(
        communes[communes["code_epci"] == VM].geometry.to_crs(LAMBERT93).values, dtype=object
    )
    calls = []
    real = shapely.coverage_simplify
    monkeypatch.setattr(
        _geometry.shapely, "coverage_simplify", lambda g, t: calls.append(t) or real(g, t)
    )
    shared: list[_geometry.Simplification] = []
    first = _geometry.simplified_coverage(metric, 40.0, shared)
    again = _geometry.simplified_coverage(np.array(metric, dtype=object), 40.0, shared)
    assert calls == [40.0] and len(shared) == 1
    assert first is not again and shapely.equals_identical(first, again).all()
    assert shapely.equals_identical(first, real(metric, 40.0)).all()
    moved = metric.copy()
    moved[3] = shapely.transform(moved[3], lambda xy: xy + 0.5)
    _geometry.simplified_coverage(moved, 40.0, shared)
    _geometry.simplified_coverage(metric, 20.0, shared)
    assert calls == [40.0, 40.0, 20.0] and len(shared) == 3
    _geometry.simplified_coverage(metric, 40.0)
    _geometry.simplified_coverage(metric, 40.0)
    assert calls == [40.0, 40.0, 20.0, 40.0, 40.0]
