"""Benchmark: ``zonesblanches analyse`` with a 100,000-row services file, stage by stage.

Issue 16 item 9: a services file of 100,000 rows ran 132 s and 1.16 GB; the run must take ≤ 30 s.

The services file is a **LOAD TEST** (``TEST DE CHARGE`` in its ``source`` and ``nom`` columns and
in this script's output), not an inventory: each row is a copy of one of the real rows of the
bundled registry (``zonesblanches/geodata/data/services.csv``, round robin), renamed « … [copie
de charge N] » and moved to a random point inside a real commune of the territory (communes drawn
in proportion to their population, point drawn uniformly in the commune's polygon), with that
commune's name and code INSEE. The rows mix the shapes of a real user file:

- 85 % coordinates (``lon``/``lat``) and the commune;
- 8 % no coordinates, code INSEE and name (placed at the commune: geocoding by code);
- 4 % no coordinates, commune name and postcode only (geocoding by name);
- 1 % latitude and longitude swapped (corrected and flagged);
- 1 % an unknown category, 1 % coordinates (0, 0) (both rejected, with line and reason).

Both runs go through the command line in a fresh process (so each peak memory is its own), with
the straight-line model (no network needed) and the bundled reference data, offline:

1. the bundled registry (19 real services, no ``--services``): the floor of the run;
2. the load-test file (``--services charge.csv``).

Printed: time per stage (exclusive: a stage nested in another is counted once, in the inner
one), total wall time, peak resident memory (``resource.getrusage``), the size of ``carte.html``
and ``rapport.html``, and the rows accounting (read = kept + rejected). Stages:

- ``lecture``: the file read (``_tables.read_table``);
- ``validation``: the checks of every row, rejects and flags (``read_services`` minus the rest);
- ``géocodage``: commune of every point, placement of the rows without coordinates;
- ``couverture``: services in the margin, times to the nearest service, indicators;
- ``zones``: contiguous zones blanches;
- ``tableaux``: the three CSV tables and ``diagnostic.gpkg``;
- ``classeur``: ``diagnostic.xlsx`` (issue 17 asks XLSX + report ≤ 5 s on the region);
- ``carte``: the interactive map(s) (``carte.html`` and the one the report embeds);
- ``rapport``: ``rapport.html`` and its figures, without its map;
- ``autre``: the rest (imports, territory, printing, manifest).

Run::

    PYTHONPATH=. .venv/bin/python scripts/bench_services_scale.py [--lignes 100000]
        [--territoire 245901160] [--mode voiture:20 --mode marche:30] [--garder DOSSIER]
        [--profil charge.prof] [--sans-carte] [--fichier charge.csv] [--osm RESEAU.osm.pbf]

``--osm`` computes the road modes on that network instead of the straight line, e.g. the
region on the synthetic extract of issue 17 (``scripts/make_region_pbf.py --scale 0.01``)::

    python scripts/bench_services_scale.py --territoire region --lignes 1000 --osm r001.osm.pbf \
        --mode marche:30 --mode velo:20 --mode voiture:20

``--sans-carte`` stops after the CSV tables (the map, report, figures, XLSX and GeoPackage are
the drawing side, measured without it); ``--fichier`` reuses a load-test file.

``--profil`` runs the load-test analysis under cProfile and writes the statistics (read them with
``python -m pstats``); its times are then inflated by the profiler.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
LABEL = "TEST DE CHARGE"
STAGES = (
    "lecture",
    "validation",
    "géocodage",
    "couverture",
    "zones",
    "tableaux",
    "classeur",
    "carte",
    "rapport",
    "autre",
)
SHARES = {"coords": 0.85, "code": 0.08, "name": 0.04, "swapped": 0.01, "category": 0.01}
"""Share of each row shape; the rest (1 %) has coordinates (0, 0)."""


# ----------------------------------------------------------------------------------------------
# The load-test file
# ----------------------------------------------------------------------------------------------


def _points_in(polygons, weights: np.ndarray, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random points, in polygon ``i`` with probability ``weights[i]``; returns the
    polygon index and the points."""
    which = rng.choice(len(polygons), size=n, p=weights / weights.sum())
    points = np.empty(n, dtype=object)
    todo = np.arange(n)
    bounds = shapely.bounds(polygons)
    shapely.prepare(polygons)
    while len(todo):
        b = bounds[which[todo]]
        x = rng.uniform(b[:, 0], b[:, 2])
        y = rng.uniform(b[:, 1], b[:, 3])
        ok = shapely.contains_xy(polygons[which[todo]], x, y)
        points[todo[ok]] = shapely.points(x[ok], y[ok])
        todo = todo[~ok]
    return which, points


def make_load_test(path: Path, rows: int, territoire: str, seed: int = 0) -> dict[str, int]:
    """Write the LOAD-TEST services file (see the module documentation); return the count of
    each row shape."""
    from zonesblanches.geodata import reference
    from zonesblanches.geodata.territory import select_territory

    rng = np.random.default_rng(seed)
    registry = reference.load_registry()
    communes = select_territory(territoire).communes.to_crs("EPSG:4326")
    which, points = _points_in(
        communes.geometry.values, communes["population"].to_numpy(float) + 1.0, rows, rng
    )
    real = registry.iloc[np.arange(rows) % len(registry)].reset_index(drop=True)
    shape = rng.choice(
        [*SHARES, "zero"], size=rows, p=[*SHARES.values(), 1.0 - sum(SHARES.values())]
    )
    lon = np.round(shapely.get_x(points), 6)
    lat = np.round(shapely.get_y(points), 6)
    names = communes["nom"].to_numpy()[which]
    codes = communes["code_insee"].to_numpy()[which]
    postcodes = communes["codes_postaux"].to_numpy()[which] if "codes_postaux" in communes else None
    x = np.char.mod("%.6f", lon).astype(object)
    y = np.char.mod("%.6f", lat).astype(object)
    code = codes.astype(object)
    postcode = np.full(rows, "", dtype=object)
    no_xy = np.isin(shape, ["code", "name"])
    x[no_xy] = y[no_xy] = ""
    by_name = shape == "name"
    code[by_name] = ""
    if postcodes is not None:
        postcode[by_name] = [re.split(r"[;, ]", str(p))[0] for p in postcodes[by_name]]
    swapped = shape == "swapped"
    x[swapped], y[swapped] = y[swapped], x[swapped].copy()
    zero = shape == "zero"
    x[zero] = y[zero] = "0"
    numbers = np.arange(1, rows + 1)
    table = pd.DataFrame(
        {
            "service_id": [f"CHARGE-{i:06d}" for i in numbers],
            "nom": [
                f"{n} [copie de charge {i}]" for n, i in zip(real["nom"], numbers, strict=True)
            ],
            "categorie": np.where(
                shape == "category", "categorie_de_test_de_charge", real["categorie"]
            ),
            "commune": names,
            "code_insee": code,
            "code_postal": postcode,
            "adresse": "",
            "statut": real["statut"],
            "date_source": real["date_source"],
            "source": [
                f"{LABEL} : copie de {sid} (registre embarqué) déplacée au hasard dans une "
                "commune réelle ; pas un service réel"
                for sid in real["service_id"]
            ],
            "notes": real["notes"],
            "lon": x,
            "lat": y,
        }
    )
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.columns)
        writer.writerows(table.itertuples(index=False, name=None))
    kinds, counts = np.unique(shape, return_counts=True)
    return dict(zip(kinds.tolist(), counts.tolist(), strict=True))


# ----------------------------------------------------------------------------------------------
# One analysis, instrumented (runs in its own process)
# ----------------------------------------------------------------------------------------------


class _Clock:
    """Exclusive wall and CPU time per stage: time spent in a nested stage is taken off its
    parent. CPU time (this process's user + system) is what a loaded machine changes least."""

    def __init__(self) -> None:
        self.totals = dict.fromkeys(STAGES, 0.0)
        self.cpu = dict.fromkeys(STAGES, 0.0)
        self.stack: list[list] = []  # [stage, wall start, cpu start, nested wall, nested cpu]

    def wrap(self, stage: str, func):
        def timed(*args, **kwargs):
            self.stack.append([stage, time.perf_counter(), time.process_time(), 0.0, 0.0])
            try:
                return func(*args, **kwargs)
            finally:
                name, wall0, cpu0, nested_wall, nested_cpu = self.stack.pop()
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                self.totals[name] += wall - nested_wall
                self.cpu[name] += cpu - nested_cpu
                if self.stack:
                    self.stack[-1][3] += wall
                    self.stack[-1][4] += cpu

        timed.__wrapped__ = func
        return timed


def _instrument(clock: _Clock) -> None:
    """Replace each staged function by a timed one everywhere the package binds it."""
    import importlib

    import zonesblanches.api  # noqa: F401  (load what the command uses)
    import zonesblanches.cli  # noqa: F401
    import zonesblanches.maps.report  # noqa: F401

    targets = {
        "lecture": [("zonesblanches.geodata._tables", "read_table")],
        "validation": [("zonesblanches.geodata.services", "read_services")],
        "géocodage": [
            ("zonesblanches.geodata._service_places", "Placement._communes"),
            # before the split of services.py (to bench an older tree with this script)
            ("zonesblanches.geodata.services", "_Validator._communes"),
        ],
        "couverture": [("zonesblanches.api", "diagnostic")],
        "zones": [("zonesblanches.api", "output_zones"), ("zonesblanches.api", "zones_table")],
        "tableaux": [
            ("zonesblanches.maps.tables", "communes_table"),
            ("zonesblanches.maps.tables", "synthesis_table"),
            ("zonesblanches.maps.tables", "uncovered_table"),
            ("zonesblanches.maps.export", "write_geopackage"),
        ],
        "classeur": [("zonesblanches.maps.export", "write_xlsx")],
        "carte": [
            ("zonesblanches.maps.carto", "coverage_map"),
            ("zonesblanches.maps.carto", "save_map"),
            ("zonesblanches.maps.carto", "render_map"),
        ],
        # figure_base: the report's maps' polygons, which write_outputs makes before the
        # tables (their clean coverage is then made in a thread meanwhile): report's time.
        "rapport": [
            ("zonesblanches.maps.report", "write_report"),
            ("zonesblanches.maps.static_base", "figure_base"),
            # before the split of figures.py (since, the same function: wrapped twice, counted once)
            ("zonesblanches.maps.figures", "figure_base"),
        ],
    }
    for stage, names in targets.items():
        for module_name, attr in names:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            owner_name, _, method = attr.rpartition(".")
            if owner_name:
                owner = getattr(module, owner_name, None)
                if owner is None:
                    continue
                setattr(owner, method, clock.wrap(stage, getattr(owner, method)))
                continue
            original = getattr(module, attr)
            timed = clock.wrap(stage, original)
            for loaded in list(sys.modules.values()):
                if getattr(loaded, "__name__", "").startswith("zonesblanches"):
                    for key, value in list(vars(loaded).items()):
                        if value is original:
                            setattr(loaded, key, timed)


def run_one(argv: list[str], profile: Path | None) -> dict:
    """Run ``zonesblanches`` with ``argv`` in this process; return the stage times."""
    import contextlib
    import io

    clock = _Clock()
    t_import = time.perf_counter()
    _instrument(clock)
    from zonesblanches import cli

    clock.totals["autre"] += time.perf_counter() - t_import
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            code = profiler.runcall(cli.main, argv)
            profiler.dump_stats(str(profile))
        else:
            code = cli.main(argv)
    wall = time.perf_counter() - t0 + clock.totals["autre"]
    clock.totals["autre"] = wall - sum(v for k, v in clock.totals.items() if k != "autre")
    cpu = time.process_time()  # since the process started: imports included
    clock.cpu["autre"] = cpu - sum(v for k, v in clock.cpu.items() if k != "autre")
    return {
        "exit": code,
        "wall": wall,
        "cpu": cpu,
        "stages": clock.totals,
        "stages_cpu": clock.cpu,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "stdout": out.getvalue(),
    }


# ----------------------------------------------------------------------------------------------
# Both runs and the table
# ----------------------------------------------------------------------------------------------


def _child(argv: list[str], profile: Path | None) -> dict:
    env = dict(os.environ, ZONESBLANCHES_HORS_LIGNE="1", PYTHONPATH=str(ROOT))
    command = [sys.executable, __file__, "--une-analyse", json.dumps(argv)]
    if profile is not None:
        command += ["--profil", str(profile)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    result = json.loads(proc.stdout.splitlines()[-1]) if proc.returncode == 0 else {}
    if result.get("exit") != 0:
        sys.exit(
            f"zonesblanches {' '.join(argv)} a échoué :\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return result


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} Mo" if path.exists() else "absent"


def _n(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def _accounting(stdout: str) -> str:
    """The lines of the command's output that count the services read and rejected."""
    keep = ("Services :", "lignes écartées", "ligne écartée", "hors du territoire analysé")
    lines = [line.strip()[:160] for line in stdout.splitlines() if any(k in line for k in keep)]
    return "\n  ".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lignes", type=int, default=100_000, help="rows of the load-test file")
    parser.add_argument("--territoire", default="245901160", help="default: CA Valenciennes")
    parser.add_argument("--mode", action="append", help="default: voiture:20 and marche:30")
    parser.add_argument("--garder", type=Path, help="keep the file and the outputs here")
    parser.add_argument("--fichier", type=Path, help="a load-test file made by an earlier run")
    parser.add_argument("--profil", type=Path, help="cProfile the load-test run into this file")
    parser.add_argument(
        "--sans-carte",
        action="store_true",
        help="analyse --sans-carte: CSV tables only, no map, report, XLSX nor GeoPackage",
    )
    parser.add_argument("--osm", type=Path, help="road network (default: straight line)")
    parser.add_argument("--une-analyse", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.une_analyse:
        result = run_one(json.loads(args.une_analyse), args.profil)
        print(json.dumps(result))
        return 0

    base = args.garder or Path(tempfile.mkdtemp(prefix="zb_bench_services_"))
    base.mkdir(parents=True, exist_ok=True)
    modes = args.mode or ["voiture:20", "marche:30"]
    common = ["analyse", "--territoire", args.territoire]
    for mode in modes:
        common += ["--mode", mode]
    if args.sans_carte:
        common.append("--sans-carte")
    if args.osm:
        common += ["--osm", str(args.osm.resolve())]
    path = args.fichier or base / "charge.csv"
    if args.fichier is None:
        t0 = time.perf_counter()
        shapes = make_load_test(path, args.lignes, args.territoire)
        counts = ", ".join(f"{k} {_n(v)}" for k, v in shapes.items())
        print(
            f"Fichier de {LABEL} (copies déplacées du registre embarqué, pas des services "
            f"réels) : {path} — {_n(args.lignes)} lignes ({counts}), "
            f"{path.stat().st_size / 1e6:.1f} Mo, écrit en {time.perf_counter() - t0:.1f} s"
        )
    else:
        print(f"Fichier de {LABEL} : {path}, {path.stat().st_size / 1e6:.1f} Mo")
    out = Path(tempfile.mkdtemp(prefix="sorties_", dir=base))  # fresh output folders
    runs = {
        "registre (19)": _child([*common, "--sortie", str(out / "registre")], None),
        f"{LABEL} ({_n(args.lignes)})": _child(
            [*common, "--services", str(path), "--sortie", str(out / "charge")], args.profil
        ),
    }
    folders = [out / "registre", out / "charge"]
    names = list(runs)
    model = "réseau OSM" if args.osm else "à vol d'oiseau"
    print(f"\nzonesblanches {' '.join(common)} ({model}, hors ligne) ; machine partagée\n")
    for key, total, what in (("stages", "wall", "temps écoulé"), ("stages_cpu", "cpu", "CPU")):
        print(f"{what:<12}" + "".join(f"{n:>26}" for n in names) + f"{'ratio':>10}")
        for stage in STAGES:
            a, b = (runs[n][key][stage] for n in names)
            ratio = f"{b / a:.1f}×" if a > 0.05 else ""
            print(f"{stage:<12}{a:>25.2f}s{b:>25.2f}s{ratio:>10}")
        a, b = (runs[n][total] for n in names)
        print(f"{'total':<12}{a:>25.2f}s{b:>25.2f}s{b / a:>9.1f}×   (objectif ≤ 30 s)\n")
    a, b = (runs[n]["peak_mib"] for n in names)
    print(f"{'mémoire max':<12}{a:>22.0f} Mio{b:>22.0f} Mio{b / a:>9.1f}×")
    for label, file in (("carte.html", "carte.html"), ("rapport.html", "rapport.html")):
        print(f"{label:<12}" + "".join(f"{_size(f / file):>26}" for f in folders))
    print(f"\nServices ({LABEL}) :\n  {_accounting(runs[names[1]]['stdout'])}")
    if args.profil:
        print(f"Profil : {args.profil} (temps gonflés par cProfile)")
    print(f"Sorties : {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
