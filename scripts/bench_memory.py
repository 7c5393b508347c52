"""Peak memory of a whole ``zonesblanches analyse`` run, per phase (issue 17: region, 3 modes).

Runs the command in a child process (``PYTHONUNBUFFERED=1``, an empty network cache of its own
unless ``--cache`` is given, a new output folder), samples its resident memory (``VmRSS`` of
``/proc/PID/status``) every ``--intervalle`` seconds, and cuts the run into phases at the lines
the command prints:

- ``démarrage``: imports and the territory (up to « Territoire : ... »);
- ``entrées``: services and population units (up to « Réseau routier : ... »);
- ``réseaux``: reading the OSM file and building each mode's network and model (up to the next
  line);
- ``temps``: the travel times and the coverage (up to « Méthode : »);
- ``sorties``: tables, map, report, exports (to the end).

Each phase gets its peak sampled RSS (and the RSS at its end); the whole run's exact peak is the
kernel's (``ru_maxrss`` of the child, from ``os.wait4``), which no sampling can miss. The load
average is printed: on a shared machine the times are noisy, the memory is not.

Usage::

    python scripts/make_region_pbf.py --scale 3.02 --output /tmp/region/r30.osm.pbf
    python scripts/bench_memory.py --osm /tmp/region/r30.osm.pbf
    python scripts/bench_memory.py --osm F --territoire "valenciennes metropole" --mode voiture:20

Target (issue 17): region, 3 modes (marche:30, velo:20, voiture:20), cold cache, ≤ 1.5 GB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_GB = 1.5

PHASES = (
    ("démarrage", "Territoire :"),
    ("entrées", "Réseau routier :"),
    ("réseaux", ""),  # ends at the first line printed after « Réseau routier : »
    ("temps", "Méthode :"),
    ("sorties", None),
)
"""Phase name and the start of the line that ends it ("": the next line, None: the end)."""


def _rss_gb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        return None
    return None


class _Phases:
    """Peak and last RSS of each phase; the phase moves on at the lines of :data:`PHASES`."""

    def __init__(self) -> None:
        self.index = 0
        self.start = time.perf_counter()
        self.rows: list[dict] = [{"nom": name, "pic": 0.0, "fin": 0.0} for name, _ in PHASES]
        self.last = 0.0
        self.samples: list[tuple[float, float, str]] = []
        self.lock = threading.Lock()

    def sample(self, rss: float) -> None:
        with self.lock:
            row = self.rows[self.index]
            row["pic"], row["fin"], self.last = max(row["pic"], rss), rss, rss
            self.samples.append((time.perf_counter() - self.start, rss, row["nom"]))

    def line(self, text: str) -> None:
        with self.lock:
            end = PHASES[self.index][1]
            if end is None:
                return
            if text.strip().startswith(end):
                self.rows[self.index]["secondes"] = time.perf_counter() - self.start
                self.index += 1
                # a phase shorter than the interval still shows the memory it started with
                self.rows[self.index]["pic"] = self.rows[self.index]["fin"] = self.last


def measure(
    command: list[str], cwd: Path, env: dict, interval: float, log
) -> tuple[_Phases, float, int]:
    """Run ``command`` in ``cwd`` (``python -m`` puts it first on the path: the tree measured);
    return the phases, the exact peak (GB) and the exit code."""
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
    )
    phases = _Phases()
    done = threading.Event()

    def sampler() -> None:
        while not done.is_set():
            rss = _rss_gb(proc.pid)
            if rss is not None:
                phases.sample(rss)
            done.wait(interval)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    for text in proc.stdout:
        log.write(text)
        phases.line(text)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    thread.join()
    phases.rows[phases.index]["secondes"] = time.perf_counter() - phases.start
    return phases, usage.ru_maxrss * 1024 / 1e9, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--osm", type=Path, required=True, help="extrait OSM (.osm.pbf)")
    parser.add_argument("--territoire", default="region")
    parser.add_argument(
        "--mode", action="append", help="défaut : marche:30, velo:20, voiture:20 (répétable)"
    )
    parser.add_argument("--cache", type=Path, help="cache à utiliser (défaut : un cache vide)")
    parser.add_argument("--garder", type=Path, help="dossier de sortie à garder (défaut : jeté)")
    parser.add_argument(
        "--arbre", type=Path, default=ROOT, help="arbre du projet à mesurer (défaut : celui-ci)"
    )
    parser.add_argument("--intervalle", type=float, default=0.1, help="secondes entre mesures")
    parser.add_argument("--courbe", type=Path, help="CSV de chaque mesure (secondes, Go, phase)")
    parser.add_argument("--journal", type=Path, help="copie de la sortie de la commande")
    args = parser.parse_args(argv)
    args.osm, args.arbre = args.osm.resolve(), args.arbre.resolve()
    args.garder = args.garder.resolve() if args.garder else None
    modes = args.mode or ["marche:30", "velo:20", "voiture:20"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-memoire-"))
    try:
        out = args.garder or tmp / "sortie"
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(args.arbre), os.environ.get("PYTHONPATH")])
            ),
            "ZONESBLANCHES_CACHE": str(args.cache or tmp / "cache"),
        }
        command = [sys.executable, "-m", "zonesblanches.cli", "analyse"]
        command += ["--territoire", args.territoire, "--osm", str(args.osm), "--sortie", str(out)]
        for mode in modes:
            command += ["--mode", mode]
        with open(args.journal or tmp / "journal.txt", "w", encoding="utf-8") as log:
            phases, peak, code = measure(command, args.arbre, env, args.intervalle, log)
        rows = phases.rows
        if args.courbe:
            args.courbe.write_text(
                "secondes,rss_go,phase\n"
                + "".join(f"{t:.2f},{rss:.4f},{name}\n" for t, rss, name in phases.samples),
                encoding="utf-8",
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Commande : zonesblanches {' '.join(command[3:])}")
    print(f"Code de sortie : {code} ; charge moyenne (1, 5, 15 min) : {os.getloadavg()}")
    print(f"{'phase':12} {'fin à s':>8} {'pic Go':>7} {'RSS fin Go':>10}")
    for row in rows:
        end = f"{row['secondes']:8.1f}" if "secondes" in row else f"{'—':>8}"
        print(f"{row['nom']:12} {end} {row['pic']:7.2f} {row['fin']:10.2f}")
    verdict = "atteint" if peak <= TARGET_GB else "dépassé"
    print(f"Pic exact (noyau, ru_maxrss) : {peak:.2f} Go — objectif {TARGET_GB} Go {verdict}")
    return code


if __name__ == "__main__":
    sys.exit(main())
