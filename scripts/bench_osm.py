"""Benchmark of the OSM reader on a regional extract: phases, ratios to the bare read, memory.

Every figure (wall time, and processor time of all the process's threads: the machine may be
shared) is measured in the same run, each scenario in its own Python process (so that its
peak memory, ``ru_maxrss``, is its own and caches in memory do not help the next one):

- ``lecture-nue``: the bare pyosmium read of the file (node locations + ``highway`` key filter,
  an empty Python loop over the ways), the reference of the ratios (as in issue 17);
- ``region-3-modes``: ``load_networks(file, [marche, velo, voiture])`` with an empty cache
  (reading, building and writing the cache), then the same call again (cache hit);
- ``epci-3-modes``: the same for CA Valenciennes Métropole (default margins), empty cache: only
  the ways around the territory are kept while reading;
- ``epci-depuis-cache-region``: that EPCI cut from the region's cache;
- ``ancien-lecteur`` (``--ancien``): the previous per-node Python reader (tests/osm_loop_reader.py).

Usage::

    python scripts/make_region_pbf.py --scale 1 --output /tmp/region.osm.pbf
    python scripts/bench_osm.py /tmp/region.osm.pbf [--ancien]

Targets (issue 17): region, 3 modes, cold ≤ 6 × the bare read; EPCI from the regional file ≤ 3 ×;
region, 3 modes ≤ 1.5 GB peak.

Each scenario's process first fixes glibc's mmap threshold as the ``zonesblanches`` command does
(:func:`zonesblanches._memory.fix_mmap_threshold`, unless ``MALLOC_MMAP_THRESHOLD_`` is set):
without it, freed arrays under 32 MB stay in the process and the peaks measured here would not
be the command's. The output says whether it was set (``seuil_mmap_fixe``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ["marche", "velo", "voiture"]
EPCI = "valenciennes metropole"


def _bare(path: Path) -> dict:
    import osmium

    start, cpu = time.perf_counter(), time.process_time()
    processor = (
        osmium.FileProcessor(osmium.io.File(str(path), "pbf"), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    n = 0
    for _ in processor:
        n += 1
    return {"total": time.perf_counter() - start, "cpu": time.process_time() - cpu, "voies": n}


def _load(path: Path, cache: Path, territory: str | None) -> dict:
    from zonesblanches.geodata import osm

    polygon = None
    if territory:
        from zonesblanches.geodata.territory import select_territory

        polygon = select_territory(territory).geometry
    start, cpu = time.perf_counter(), time.process_time()
    nets = osm.load_networks(path, MODES, polygon=polygon, cache_dir=cache, progress=False)
    out = {"total": time.perf_counter() - start, "cpu": time.process_time() - cpu}
    out.update(osm.PHASE_SECONDS)
    out["noeuds"] = {m: n.n_nodes for m, n in nets.items()}
    out["cache"] = [n.meta["from_cache"] for n in nets.values()]
    return out


def _old(path: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from osm_loop_reader import read_osm_file_loop

    start, cpu = time.perf_counter(), time.process_time()
    read_osm_file_loop(path, "pbf")
    return {"total": time.perf_counter() - start, "cpu": time.process_time() - cpu}


def _scenario(args) -> None:
    # the allocator setting of the command line (zonesblanches.cli.main): freed arrays above
    # 4 MiB go back to the system, so that the peak measured is the command's
    from zonesblanches._memory import fix_mmap_threshold

    threshold = fix_mmap_threshold()
    if args.scenario == "lecture-nue":
        out = _bare(args.file)
    elif args.scenario == "ancien-lecteur":
        out = _old(args.file)
    else:
        out = _load(args.file, args.cache, EPCI if args.scenario.startswith("epci") else None)
    out["pic_memoire_go"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    out["seuil_mmap_fixe"] = threshold
    print(json.dumps(out))


def _run(name: str, path: Path, cache: Path) -> dict:
    cmd = [sys.executable, __file__, str(path), "--scenario", name, "--cache", str(cache)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{name} a échoué :\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _size(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--ancien", action="store_true", help="mesure aussi l'ancien lecteur")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scenario:
        _scenario(args)
        return 0
    print(f"Fichier : {args.file} ({args.file.stat().st_size / 1e6:.1f} Mo)")
    root = Path(tempfile.mkdtemp(prefix="bench-osm-"))
    try:
        bare = _run("lecture-nue", args.file, root / "x")
        rows = [("lecture nue pyosmium (référence)", bare)]
        rows.append(("région, 3 modes, cache vide", _run("region", args.file, root / "region")))
        region_cache = _size(root / "region")
        rows.append(("région, 3 modes, cache", _run("region", args.file, root / "region")))
        rows.append(("EPCI, 3 modes, cache vide", _run("epci", args.file, root / "epci")))
        rows.append(("EPCI depuis le cache de la région", _run("epci", args.file, root / "region")))
        if args.ancien:
            rows.append(
                (
                    "ancien lecteur (boucle Python), lecture seule",
                    _run("ancien-lecteur", args.file, root / "x"),
                )
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ref, ref_cpu = bare["total"], bare["cpu"]
    print(f"Charge moyenne (1, 5, 15 min) à la fin : {os.getloadavg()}")
    print(
        f"{'scénario':46} {'temps s':>8} {'ratio':>6} {'CPU s':>7} {'ratio':>6} {'pic Go':>7}"
        "  phases (s)"
    )
    for name, r in rows:
        phases = ", ".join(
            f"{k} {v:.1f}"
            for k, v in r.items()
            if isinstance(v, float) and k not in ("total", "pic_memoire_go", "cpu")
        )
        print(
            f"{name:46} {r['total']:8.1f} {r['total'] / ref:6.2f} {r['cpu']:7.1f} "
            f"{r['cpu'] / ref_cpu:6.2f} {r['pic_memoire_go']:7.2f}  "
            f"{phases}"
        )
    print(f"Cache de la région (3 modes) : {region_cache:.0f} Mo")
    fixed = all(r.get("seuil_mmap_fixe") for _, r in rows)
    print(
        "Allocateur : seuil mmap de la glibc fixé à 4 Mio dans chaque scénario, comme la commande"
        if fixed
        else "Allocateur : seuil mmap de la glibc NON fixé (MALLOC_MMAP_THRESHOLD_ donné, ou pas "
        "de glibc) : les pics ne sont pas ceux de la commande"
    )
    print("Objectifs : région 3 modes ≤ 6 × la lecture nue ; EPCI ≤ 3 × ; pic ≤ 1,5 Go.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
