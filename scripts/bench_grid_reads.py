"""Benchmark: the grid file read by the launching process or by the Dask workers (issue 18).

Builds a grid file of ``--lignes`` rows from the real fixtures of ``tests/data/carreaux`` only:
the 20 test-grid rows of Nord (real ids, synthetic values) and the real INSEE 2017 row of
Corsica (2A041, in the 2019 column layout), **repeated** (the same cells many times: a load
test of the reader at a national row count, not a grid of France; no cell is invented), half
of the rows in each département. Then, each in a fresh process (so that peak memory is its
own), for the territory « 59,2A »:

- ``poste``: :func:`zonesblanches.api.read_demand` in the launching process (today's
  unpartitioned read, and the partitioned run's before worker reads);
- ``workers``: :func:`zonesblanches.partition_inputs.read_grid_on_workers` on a
  ``LocalCluster`` of ``--workers`` processes (one read per group of départements), the
  launching process only receiving the compact units.

Prints the time and the peak memory (``ru_maxrss``) of the launching process, its memory
before reading (imports, territory, cluster), each worker's read time and peak memory, and the
ratios, measured in the same run. Usage::

    PYTHONPATH=. python scripts/bench_grid_reads.py --lignes 400000 --workers 2
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "carreaux"


def build(path: Path, n_rows: int) -> None:
    with open(DATA / "carreaux_200m_test.csv", encoding="utf-8", newline="") as f:
        header, *rows = list(csv.reader(f))
    with open(DATA / "filosofi2017_extrait_corse.csv", encoding="utf-8", newline="") as f:
        corse = {k.lower(): v for k, v in next(csv.DictReader(f)).items()}
    corsican = [corse[c] for c in header]
    half = n_rows // 2
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        for i in range(half):
            out.writerow(rows[i % len(rows)])
        for _ in range(n_rows - half):
            out.writerow(corsican)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, path: str, workers: int) -> dict:
    from zonesblanches import api
    from zonesblanches.partitioned import select_territories

    territory = select_territories("59,2A")
    _ = territory.geometry
    out: dict = {}
    if kind == "poste":
        before = _peak_mb()
        start = time.perf_counter()
        demand = api.read_demand(territory, path, progress=False)
    else:
        import distributed

        from zonesblanches.partition_inputs import GridSource, read_grid_on_workers

        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True,
            dashboard_address="127.0.0.1:0", host="127.0.0.1",
        )  # fmt: skip
        client = distributed.Client(cluster)
        before = _peak_mb()
        start = time.perf_counter()
        demand, reads = read_grid_on_workers(client, GridSource.of(path), territory)
        out["groupes"] = reads
        out["workers_pic_mb"] = sorted(
            v / 1024 / 1024
            for v in client.run(
                lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            ).values()
        )
        client.close()
        cluster.close()
    out.update(
        secondes=time.perf_counter() - start,
        avant_mb=before,
        pic_mb=_peak_mb(),
        carreaux=len(demand),
        lignes=demand.attrs["lecture"]["lignes"],
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lignes", type=int, default=400_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mesure", choices=["poste", "workers"])
    parser.add_argument("--fichier")
    args = parser.parse_args()
    if args.mesure:
        print(json.dumps(measure(args.mesure, args.fichier, args.workers)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "carreaux_repetes.csv"
        build(path, args.lignes)
        size = path.stat().st_size / 1e6
        print(f"Fichier : {args.lignes} lignes ({size:.0f} Mo), les lignes réelles répétées")
        got = {}
        for kind in ("poste", "workers"):
            cmd = [sys.executable, __file__, "--mesure", kind, "--fichier", str(path)]
            cmd += ["--workers", str(args.workers)]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            got[kind] = json.loads(res.stdout.strip().splitlines()[-1])
    p, w = got["poste"], got["workers"]
    assert p["carreaux"] == w["carreaux"] and p["lignes"] == w["lignes"]
    print(
        f"poste lit : {p['secondes']:.1f} s, mémoire du poste {p['avant_mb']:.0f} -> "
        f"{p['pic_mb']:.0f} Mo (+{p['pic_mb'] - p['avant_mb']:.0f})"
    )
    print(
        f"workers lisent ({args.workers}) : {w['secondes']:.1f} s, mémoire du poste "
        f"{w['avant_mb']:.0f} -> {w['pic_mb']:.0f} Mo (+{w['pic_mb'] - w['avant_mb']:.0f})"
    )
    for g in w["groupes"]:
        print(
            f"  worker {g['worker']} ({', '.join(g['departements'])}) : {g['carreaux']} "
            f"carreaux en {g['secondes']:.1f} s"
        )
    print(
        "  pic de mémoire des workers (Mo) : " + ", ".join(f"{v:.0f}" for v in w["workers_pic_mb"])
    )
    print(
        f"ratios (même exécution) : temps workers/poste {w['secondes'] / p['secondes']:.2f}, "
        f"mémoire ajoutée au poste workers/poste "
        f"{(w['pic_mb'] - w['avant_mb']) / max(p['pic_mb'] - p['avant_mb'], 1):.2f}"
    )


if __name__ == "__main__":
    main()
