"""The speed-ups of the report's text and files for issue 17 (outputs of the region ≤ 5 s):
each gives what the former code gave, checked against it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image
from real_coverage import nord, point_units

from zonesblanches.columns import blank_col, service_col, time_col
from zonesblanches.maps import charts, figures, findings, static_base, style


def _former_without_access(result, categorie, mode, n=10):
    """``findings.without_access`` before issue 17: every blank unit's row built, then sorted
    and cut."""
    units = result.units
    blank = units[blank_col(categorie, mode)].to_numpy(dtype=bool)
    frame = pd.DataFrame(
        {
            "nom": units["nom"].astype(str) if "nom" in units else units["unit_id"].astype(str),
            "code": (
                units["code_insee"]
                if "code_insee" in units and result.unit_kind == "commune"
                else units["unit_id"]
            ).astype(str),
            "population": units["population"].to_numpy(dtype=float),
            "temps_min": units[time_col(categorie, mode)].to_numpy(dtype=float),
            "service_id": units[service_col(categorie, mode)].astype(object),
        }
    )[blank]
    frame = frame.sort_values(
        ["population", "code"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
    if n is not None:
        frame = frame.head(n)
    frame["part"] = frame["population"] / (float(result.population) or np.nan)
    threshold = float(result.thresholds[mode])
    frame["temps"] = [style.time_text(t, threshold) for t in frame["temps_min"]]
    services = result.services.set_index(result.services["service_id"].astype(str))
    ids = frame["service_id"].astype(str)
    frame["service_proche"] = ids.map(services["nom"].astype(str)).fillna("")
    frame["commune_service"] = ids.map(services["commune"].astype(str)).fillna("")
    return frame.drop(columns="service_id")


@pytest.fixture(scope="module")
def nord_result():
    return nord()


def _with_ties(result):
    """``result`` with populations rounded to hundreds: many ties, broken by the code."""
    units = result.units.copy()
    units["population"] = (units["population"] // 100) * 100
    units.loc[units.index[::7], "population"] = np.nan  # unknown populations sort last
    return dataclasses.replace(result, units=units)


@pytest.mark.parametrize("variant", ["communes", "ties", "points"])
def test_without_access_is_the_former_list(nord_result, variant):
    """The list of the units without access, built for the rows returned only, is the former
    list (every blank unit built, then cut): same rows, order, columns and values, for every
    indicator, the 5 and 10 first and the whole list; commune units, populations with ties and
    unknown ones, point units."""
    result, communes = nord_result
    if variant == "ties":
        result = _with_ties(result)
    elif variant == "points":
        result = point_units(communes)
    for cat in result.categories:
        for mode in result.modes:
            for n in (5, 10, None):
                new = findings.without_access(result, cat, mode, n)
                former = _former_without_access(result, cat, mode, n)
                assert len(former) > 0 or not result.units[blank_col(cat, mode)].any()
                pd.testing.assert_frame_equal(new.reset_index(drop=True), former, check_dtype=False)


VM = "245901160"


def _former_save(fig, path, dpi, pixels=None):
    """``figures._save`` before issue 17: matplotlib's own RGBA PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi, metadata=figures.PNG_METADATA, facecolor="white")
    if pixels is not None:
        pixels.append(np.asarray(fig.canvas.buffer_rgba())[:, :, :3].copy())
    return path


def _decoded(path) -> tuple[str, np.ndarray, dict]:
    with Image.open(path) as image:
        image.load()
        return image.mode, np.asarray(image), dict(image.info)


@pytest.fixture(scope="module")
def vm():
    from real_coverage import coverage_of

    return coverage_of("code_epci", VM, "CA Valenciennes Métropole")


@pytest.mark.parametrize("dpi", [150, 300])
def test_figures_are_rgb_pngs_of_the_former_pixels(vm, tmp_path, monkeypatch, dpi):
    """Static maps and the coverage chart written as RGB PNG at level 3 hold the pixels of the
    former RGBA PNG written by matplotlib (whose alpha was 255 everywhere), with its
    resolution and no software or date chunk; the pixels handed to the report are the file's;
    written twice, the same bytes; the files are not much larger (at 150 dpi the maps are
    smaller; at 300 dpi, level 3 makes them about 6 % larger and the chart 14 %)."""
    from zonesblanches.geodata import reference

    result, communes = vm
    epci = reference.load_epci()
    base = static_base.figure_base(result, communes, epci)

    def draw(folder, pixels):
        out = [charts.coverage_chart(result, folder / "chart.png", dpi=dpi, pixels=pixels)]
        for mode in result.modes:
            out.append(
                figures.static_map(
                    result,
                    communes,
                    result.categories[0],
                    mode,
                    folder / f"map_{mode}.png",
                    dpi=dpi,
                    base=base,
                    pixels=pixels,
                )
            )
        return out

    new_pixels: list = []
    new = draw(tmp_path / "new", new_pixels)
    again = draw(tmp_path / "again", [])
    with monkeypatch.context() as patch:
        patch.setattr(figures, "_save", _former_save)
        patch.setattr(charts, "_save", _former_save)
        former_pixels: list = []
        former = draw(tmp_path / "former", former_pixels)
    for path, path2, old, rgb, old_rgb in zip(
        new, again, former, new_pixels, former_pixels, strict=True
    ):
        mode, pixels, info = _decoded(path)
        old_mode, old_pixels, old_info = _decoded(old)
        assert (mode, old_mode) == ("RGB", "RGBA")
        assert (old_pixels[:, :, 3] == 255).all()
        assert np.array_equal(pixels, old_pixels[:, :, :3]), path.name
        assert np.array_equal(rgb, pixels) and np.array_equal(old_rgb, pixels)
        assert info.pop("dpi") == old_info.pop("dpi") == pytest.approx((dpi, dpi), abs=0.1)
        assert info == {}, info  # no text chunk (software, date)
        assert path.read_bytes() == path2.read_bytes()
        assert path.stat().st_size < 1.2 * old.stat().st_size


def test_a_figure_not_opaque_keeps_its_alpha(tmp_path):
    """A figure with transparent pixels (none of ours has any) is written with its alpha."""
    fig = Figure(figsize=(2, 1))
    fig.patch.set_alpha(0.4)
    fig.add_axes((0.1, 0.1, 0.8, 0.8)).plot([0, 1], [0, 1])
    pixels: list = []
    path = figures._save(fig, tmp_path / "f.png", 100, pixels)
    mode, decoded, _ = _decoded(path)
    assert mode == "RGBA" and (decoded[:, :, 3] < 255).any()
    assert np.array_equal(decoded, np.asarray(fig.canvas.buffer_rgba()))
    assert np.array_equal(pixels[0], decoded[:, :, :3])


def test_clean_coverage_ahead_is_the_one_made_when_read(nord_result):
    """The clean coverage made in a background thread (``clean_ahead``) is, polygon for
    polygon, the one made when first read, on the Nord's 648 communes as drawn."""
    import shapely

    result, communes = nord_result
    ahead = static_base.figure_base(result, communes, clean_ahead=True)
    later = static_base.figure_base(result, communes)
    assert ahead.clean_job is not None and later.clean_job is None
    assert not ahead.clean_job._thread.is_alive() or ahead.clean_job.result() is not None
    a, b = ahead.clean_frame, later.clean_frame
    assert a is not None and len(a) == len(b) == len(later.frame)
    assert (shapely.to_wkb(a) == shapely.to_wkb(b)).all()


def test_clean_coverage_ahead_without_a_thread(nord_result, monkeypatch):
    """Where no thread can be started, the coverage is cleaned when read, as before."""
    import threading

    def no_thread(self):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", no_thread)
    result, communes = nord_result
    base = static_base.figure_base(result, communes, clean_ahead=True)
    assert base.clean_job is None
    assert base.clean_frame is not None


def test_point_units_clean_nothing_ahead(nord_result):
    result, communes = nord_result
    base = static_base.figure_base(point_units(communes), communes, clean_ahead=True)
    assert base.clean_job is None and base.clean_frame is None


def _allow_other_tests_threads(patch) -> None:
    """Let the report fork beside the threads other tests left in this test process (Dask's
    offload pool, for one): idle, and the thread check guards the command's process, where
    only tqdm's monitor runs (checked on the demo), not pytest's. Without this the forked
    report is never written once a Dask test ran first on the same worker."""
    import threading

    from zonesblanches.maps import _forked

    main = threading.main_thread()
    idle = frozenset(t.name for t in threading.enumerate() if t is not main)
    patch.setattr(_forked, "FORK_SAFE_THREADS", _forked.FORK_SAFE_THREADS | idle)


@pytest.fixture(scope="module")
def vm_report(vm, tmp_path_factory):
    """The Valenciennes report written as a run writes it (the clean coverage made ahead in a
    thread, half the maps drawn in a forked process): its page, its folder and the
    ``here`` argument of each ``run_split`` call. Written once, compared by the tests below
    with the report written with one of these speed-ups off."""
    from zonesblanches.geodata import reference
    from zonesblanches.maps import _forked, report

    result, communes = vm
    calls = []
    real = _forked.run_split
    with pytest.MonkeyPatch.context() as patch:
        _allow_other_tests_threads(patch)
        patch.setattr(
            report, "run_split", lambda jobs, here: calls.append(here) or real(jobs, here)
        )
        folder = tmp_path_factory.mktemp("report")
        kwargs = {"epci": reference.load_epci(), "run_date": "2026-11-30"}
        page = report.write_report(result, communes, folder, **kwargs)
    return page, folder, calls


def _same_report(page, folder, other_page, other_folder):
    assert page.read_bytes() == other_page.read_bytes()
    names = sorted(p.name for p in (folder / "figures").glob("*.png"))
    assert names == sorted(p.name for p in (other_folder / "figures").glob("*.png"))
    for name in names:
        a = (folder / "figures" / name).read_bytes()
        assert a == (other_folder / "figures" / name).read_bytes(), name
    return names


def test_report_is_the_same_with_the_coverage_cleaned_ahead(vm, vm_report, tmp_path, monkeypatch):
    """The report (its page and figures) written with the clean coverage made in a background
    thread while the chart and the text are written is, byte for byte, the report written with
    the coverage made when the first map needs it."""
    from zonesblanches.geodata import reference
    from zonesblanches.maps import report

    result, communes = vm
    assert report._any_blank(result, [(c, m) for c in result.categories for m in result.modes])
    ahead, folder, _ = vm_report
    kwargs = {"epci": reference.load_epci(), "run_date": "2026-11-30"}
    monkeypatch.setattr(report, "_any_blank", lambda *args: False)
    later = report.write_report(result, communes, tmp_path / "later", **kwargs)
    _same_report(ahead, folder, later, tmp_path / "later")


def test_report_is_the_same_with_maps_drawn_in_a_forked_process(
    vm, vm_report, tmp_path, monkeypatch
):
    """The report's Valenciennes maps (one per category and mode), the later half drawn in a
    forked process: the page and every figure byte for byte as all drawn here, one after the
    other."""
    from zonesblanches.geodata import reference
    from zonesblanches.maps import _forked, report

    _allow_other_tests_threads(monkeypatch)
    if not _forked.can_fork():
        pytest.skip("no fork or a single CPU here")
    result, communes = vm
    split, folder, split_calls = vm_report
    calls = list(split_calls)
    real = _forked.run_split
    monkeypatch.setattr(
        report, "run_split", lambda jobs, here: calls.append(here) or real(jobs, here)
    )
    kwargs = {"epci": reference.load_epci(), "run_date": "2026-11-30"}
    monkeypatch.setattr(_forked, "ENABLED", False)
    serial = report.write_report(result, communes, tmp_path / "serial", **kwargs)
    maps = len(result.categories) * len(result.modes)
    # the rest of the text and half the maps here, the other half in the child
    assert maps >= 4 and calls == [1 + maps // 2, 1 + maps // 2]
    names = _same_report(split, folder, serial, tmp_path / "serial")
    assert len(names) == maps + 1  # and the chart


def test_a_report_with_one_map_forks_nothing(vm, tmp_path, monkeypatch):
    """One static map: drawn here (a child would only make this process wait)."""
    from zonesblanches.maps import _forked, report

    def no_fork(*args, **kwargs):
        raise AssertionError("forked for a single map")

    monkeypatch.setattr(_forked.multiprocessing, "get_context", no_fork)
    result, communes = vm
    spec = (result.categories[0], result.modes[0])
    page = report.write_report(result, communes, tmp_path, static_maps=[spec], run_date="x")
    assert page.exists() and len(list((tmp_path / "figures").glob("carte_*.png"))) == 1


def test_write_outputs_simplifies_the_communes_once(vm, tmp_path, monkeypatch):
    """write_outputs hands the interactive map's simplified communes to the static maps
    (coverage_map → figure_base, explicitly): the communes are simplified once for both."""
    import shapely

    from zonesblanches.maps import report

    result, communes = vm
    sizes = []
    real = shapely.coverage_simplify
    monkeypatch.setattr(
        shapely, "coverage_simplify", lambda g, t: sizes.append(len(g)) or real(g, t)
    )
    spec = (result.categories[0], result.modes[0])
    report.write_outputs(
        result, communes, tmp_path, static_maps=[spec], run_date="x", progress=False
    )
    assert len(communes) > 30 and sizes == [len(communes)]


def test_outputs_are_the_same_with_the_maps_base_made_before_the_tables(vm, tmp_path, monkeypatch):
    """write_outputs makes the static maps' polygons before the tables, workbook and
    GeoPackage (their clean coverage made in a thread meanwhile): the report and its figures
    byte for byte as when the report makes them itself."""
    from zonesblanches.geodata import reference
    from zonesblanches.maps import report

    result, communes = vm
    made = []
    real = report._maps_base
    monkeypatch.setattr(report, "_maps_base", lambda *a: made.append(real(*a)) or made[-1])
    kwargs = {"epci": reference.load_epci(), "run_date": "2026-11-30", "progress": False}
    early = report.write_outputs(result, communes, tmp_path / "early", **kwargs)
    assert len(made) == 1 and made[0] is not None and made[0].clean_job is not None
    calls = []
    monkeypatch.setattr(
        report,
        "_maps_base",
        lambda *a: calls.append(len(calls)) or (real(*a) if len(calls) > 1 else None),
    )
    here = report.write_outputs(result, communes, tmp_path / "here", **kwargs)
    assert calls == [0, 1]  # none before the tables, then the report's own
    assert early["rapport"].read_bytes() == here["rapport"].read_bytes()
    names = sorted(p.name for p in (tmp_path / "early" / "figures").glob("*.png"))
    assert len(names) > 2
    for name in names:
        a = (tmp_path / "early" / "figures" / name).read_bytes()
        assert a == (tmp_path / "here" / "figures" / name).read_bytes(), name
