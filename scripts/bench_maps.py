"""Size of the region, EPCI and scenario maps and how long they take to open in headless Chromium.

Usage: ``python scripts/bench_maps.py [--repeat 5] [--cartes region,scenario_region]
[--captures DOSSIER]`` (needs chromium and websocket-client). Prints, for each map, the time to
build and write it, the file size and the time from navigation to the first painted frame (cold
= first page of a fresh browser, then the median of the warm opens).

``--captures DOSSIER`` also writes what a reader sees first, at 1366 × 768, 1400 × 900 and
1920 × 1080 (``_LxH`` in the names): the region map (``carte_region_*.png``), the EPCI map
(``carte_epci_*.png``), the first screen of the EPCI report (``rapport_premier_ecran_*.png``)
and, when it is measured, the load test (``carte_charge_services_*.png``); and a static figure
for Word (``figure_word.png``), so anyone can look at them.

``charge_services`` is a LOAD TEST of the drawing, not a real map: 100,000 copies of a real
registry row (a garage solidaire) placed at the real points of the region's communes, to
check that the region map stays within its budget (8 MB, ready ≤ 3 s): beyond
``AGGREGATE_FROM`` (20,000) services the map counts them per commune instead of drawing them.

Maps: ``region``, ``epci_valenciennes``, ``epci_somme_sud_ouest`` (coverage maps of
``zonesblanches analyse``) and ``scenario_region`` (the map of ``zonesblanches scenario
--deplacer HDF-002:62895`` on the whole region: Lens → Wingles).

``osm_saint_germain*``: ``zonesblanches analyse`` on a REAL OpenStreetMap street graph
(``tests/data/osm/saint-germain-en-laye.graphml.gz``), car and walk, ``--isochrones 10,20``,
every category, with the TEST POINTS of ``tests/data/maps/services_essai_saint_germain.csv``
(13 rows at the reference points of real communes, not services). ``osm_saint_germain``: the
5 communes the graph reaches within 1 km; ``_300dpi``: the same with ``--dpi 300``; ``_epci``:
the whole CA Saint Germain Boucles de Seine (19 communes, 14 of them more than 1 km off the
graph, so their times are long: a size test, not a diagnosis). Prints ``carte.html`` and
``rapport.html`` against their EPCI budgets (3 MB and 6 MB).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from zonesblanches.api import diagnostic, scenario
from zonesblanches.coverage.analysis import commune_demand, compute_coverage
from zonesblanches.geodata import reference
from zonesblanches.geodata.territory import select_territory
from zonesblanches.maps import coverage_map, save_map, scenario_map
from zonesblanches.maps._browser import Browser

EPCI_MAPS = {
    "region": None,
    "epci_valenciennes": "245901160",
    # the EPCI with the most communes in the region (119): the largest EPCI map
    "epci_somme_sud_ouest": "200071181",
}
SCENARIO_MAPS = {"scenario_region": "HDF-002:62895"}
LOAD_MAPS = {"charge_services": 100_000}
ROOT = Path(__file__).resolve().parent.parent
OSM_GRAPH = ROOT / "tests" / "data" / "osm" / "saint-germain-en-laye.graphml.gz"
OSM_TEST_POINTS = ROOT / "tests" / "data" / "maps" / "services_essai_saint_germain.csv"
OSM_COMMUNES = "78551,78367,78396,78481,78133"  # the communes the graph reaches within 1 km
OSM_MAPS = {  # name: (--territoire, --dpi)
    "osm_saint_germain": (OSM_COMMUNES, 150),
    "osm_saint_germain_300dpi": (OSM_COMMUNES, 300),
    "osm_saint_germain_epci": ("200058519", 150),
}
EPCI_BUDGETS = {"carte.html": 3e6, "rapport.html": 6e6}
ALL_MAPS = (*EPCI_MAPS, *SCENARIO_MAPS, *LOAD_MAPS, *OSM_MAPS)
CAPTURE_SIZES = ((1366, 768), (1400, 900), (1920, 1080))


def load_services(registry, communes, n: int):
    """``n`` copies of a real garage solidaire row at the real points of the communes (a load
    test of the drawing: these are not services)."""
    import geopandas as gpd

    real = registry[registry["categorie"] == "garage_solidaire"].iloc[[0]]
    points = communes.representative_point().to_crs(registry.crs)
    rows = real.loc[real.index.repeat(n)].reset_index(drop=True)
    rows["service_id"] = [f"CHARGE-{i:06d}" for i in range(n)]
    rows["nom"] = [f"Service de charge {i}" for i in range(n)]
    pick = [i % len(points) for i in range(n)]
    rows["commune"] = communes["nom"].iloc[pick].to_numpy()
    return gpd.GeoDataFrame(
        rows.drop(columns="geometry"), geometry=points.iloc[pick].to_numpy(), crs=registry.crs
    )


def run_osm(folder: Path, territoire: str, dpi: int) -> Path:
    """``zonesblanches analyse`` with isochrones on the real Saint-Germain-en-Laye graph, in
    ``folder``; return the output folder."""
    from zonesblanches.jobs import run_analysis

    graph = folder / "saint-germain-en-laye.graphml"
    if not graph.exists():
        with gzip.open(OSM_GRAPH) as src, graph.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    sortie = folder / f"analyse_{territoire.replace(',', '_')}_{dpi}"
    with contextlib.redirect_stdout(io.StringIO()):
        run_analysis(
            territoire,
            {"voiture": 20, "marche": 30},
            sortie,
            services_path=OSM_TEST_POINTS,
            osm=graph,
            isochrone_minutes=[10, 20],
            dpi=dpi,
        )
    return sortie


def build(folder: Path, names=ALL_MAPS) -> dict[str, Path]:
    """Write the maps ``names`` in ``folder``; return ``{name: path}``."""
    communes, epci, registry = (
        reference.load_communes(),
        reference.load_epci(),
        reference.load_registry(),
    )
    out = {}
    for name in names:
        t0 = time.perf_counter()
        if name in OSM_MAPS:
            sortie = run_osm(folder, *OSM_MAPS[name])
            sizes = "; ".join(
                f"{file} {(sortie / file).stat().st_size / 1e6:.2f} Mo (budget {budget / 1e6:.0f} Mo, "
                f"{(sortie / file).stat().st_size / budget:.0%})"
                for file, budget in EPCI_BUDGETS.items()
            )
            print(f"{name}: analyse complète en {time.perf_counter() - t0:.1f} s ; {sizes}")
            out[name] = sortie / "carte.html"
            continue
        if name in LOAD_MAPS:
            services = load_services(registry, communes, LOAD_MAPS[name])
            res = compute_coverage(
                commune_demand(communes),
                services,
                {"voiture": 20},
                categories=["garage_solidaire"],
                territory="TEST DE CHARGE (copies d'un service réel, pas des services)",
            )
            t0 = time.perf_counter()
            m = coverage_map(res, communes, epci=epci)
        elif name in SCENARIO_MAPS:
            # As the command line does: whole region, default thresholds, bundled registry.
            res = scenario(None, move=SCENARIO_MAPS[name])
            t0 = time.perf_counter()
            m = scenario_map(res, select_territory(None).communes, epci=epci)
        else:
            # As the command line does (bundled registry, its caveat in the headline,
            # services of the margin), so the captures show what a reader sees.
            territory = select_territory(EPCI_MAPS[name])
            res = diagnostic(territory, {"voiture": 20, "marche": 30})
            t0 = time.perf_counter()
            m = coverage_map(res, territory.communes, epci=epci)
        out[name] = save_map(m, folder / f"{name}.html")
        print(f"{name}: carte écrite en {time.perf_counter() - t0:.1f} s")
    return out


def captures(folder: Path, maps: dict[str, Path]) -> None:
    """Screenshots of what a reader sees first: region map, EPCI map, report, Word figure."""
    from zonesblanches.api import zones_by_indicator
    from zonesblanches.maps.report import write_outputs

    folder.mkdir(parents=True, exist_ok=True)
    territory = select_territory(EPCI_MAPS["epci_valenciennes"])
    sub = territory.communes
    res = diagnostic(territory, {"voiture": 20, "marche": 30})
    out = write_outputs(
        res,
        sub,
        folder / "resultats_valenciennes",
        epci=reference.load_epci(),
        zones=zones_by_indicator(res, sub),
        static_maps=[(res.categories[0], res.modes[0])],
        progress=False,
    )
    shots = {
        "carte_region": maps.get("region"),
        "carte_epci": out["carte"],
        "rapport_premier_ecran": out["rapport"],
        "carte_charge_services": maps.get("charge_services"),
    }
    for width, height in CAPTURE_SIZES:
        with Browser(width=width, height=height) as browser:
            for name, path in shots.items():
                if path is None:
                    continue
                report = browser.open(path, timeout=60)
                assert report.ready and not report.console_errors, report.console_errors
                shot = folder / f"{name}_{width}x{height}.png"
                shot.write_bytes(browser.screenshot())
                print(f"capture {shot} ({report.ready_seconds:.2f} s)")
    figure = sorted((out["rapport"].parent / "figures").glob("carte_*.png"))[0]
    shutil.copyfile(figure, folder / "figure_word.png")
    print(f"capture {folder / 'figure_word.png'} (copie de {figure.name})")


def _open_times(path: Path, repeat: int, timeout: float) -> list[float] | None:
    """Ready times of ``repeat + 1`` opens (the first cold); ``None`` when the page is not
    ready within ``timeout`` seconds (or Chromium stops answering, as the 27 MB map of 100,000
    clustered markers did)."""
    from websocket import WebSocketTimeoutException

    times = []
    try:
        with Browser() as browser:
            for _ in range(repeat + 1):
                report = browser.open(path, timeout=timeout)
                if not report.ready:
                    return None
                assert not report.console_errors, report.console_errors
                times.append(report.ready_seconds)
    except WebSocketTimeoutException:
        return None
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--cartes",
        default=",".join(ALL_MAPS),
        help="cartes à mesurer, séparées par des virgules (défaut : toutes)",
    )
    parser.add_argument(
        "--captures",
        type=Path,
        metavar="DOSSIER",
        help="écrit aussi les captures d'écran (carte régionale, carte d'EPCI, premier écran "
        "du rapport, figure pour Word) dans DOSSIER",
    )
    parser.add_argument(
        "--delai",
        type=float,
        default=60.0,
        help="secondes d'attente au plus pour qu'une carte soit prête (défaut : 60)",
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.cartes.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL_MAPS]
    if unknown:
        parser.error(f"carte inconnue : {', '.join(unknown)} (possibles : {', '.join(ALL_MAPS)})")
    with tempfile.TemporaryDirectory() as tmp:
        maps = build(Path(tmp), names)
        for name, path in maps.items():
            size = f"{name}: {path.stat().st_size / 1e6:.2f} Mo"
            times = _open_times(path, args.repeat, args.delai)
            if times is None:
                print(f"{size} ; pas prête en {args.delai:.0f} s (Chromium)")
                continue
            print(
                f"{size} ; ouverture à froid {times[0]:.2f} s, médiane à chaud "
                f"{statistics.median(times[1:]):.2f} s (max {max(times[1:]):.2f} s)"
            )
        if args.captures:
            captures(args.captures, maps)


if __name__ == "__main__":
    main()
