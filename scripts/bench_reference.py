"""Time and size of the national reference data (issue 13 budgets).

Usage: ``python scripts/bench_reference.py [--epci 200]``. Each measurement runs in a fresh
interpreter (cold caches of the package, warm OS file cache), so a load is a real first load.
Prints, against the budgets of issue 13 and against a floor measured in the same run:

- bundled files: total size (budget 25 MB);
- ``load_communes(None)`` (34,746 communes with polygons): time (budget 2 s) and peak memory
  (budget 1 GB), beside the floor « pyarrow reads the same file and decodes its WKB »;
- ``select_territory(SIREN)`` for ``--epci`` EPCI drawn evenly from the 1,232 (the first call
  includes loading the reference): worst and median time (budget 1 s).

Timings are noisy on a shared machine: compare the ratios printed in the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

_LOAD = """
import json, resource, time
t0 = time.perf_counter()
from zonesblanches.geodata import reference
t1 = time.perf_counter()
communes = reference.load_communes(None)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "n": len(communes),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_FLOOR = """
import json, time
import pyarrow.parquet as pq, shapely
from importlib import resources
path = str(resources.files("zonesblanches.geodata") / "data" / "communes.parquet")
t0 = time.perf_counter()
table = pq.read_table(path)
shapely.from_wkb(table.column("geometry").to_numpy())
print(json.dumps({"floor": time.perf_counter() - t0}))
"""

_SELECT = """
import json, statistics, sys, time
from zonesblanches.geodata import reference
from zonesblanches.geodata.territory import select_territory
codes = reference.load_epci_names()["code_epci"].tolist()
step = max(1, len(codes) // int(sys.argv[1]))
times = []
t0 = time.perf_counter()
first = select_territory(codes[0])
first_s = time.perf_counter() - t0
for code in codes[::step]:
    t = time.perf_counter()
    select_territory(code)
    times.append(time.perf_counter() - t)
print(json.dumps({"first": first_s, "max": max(times), "median": statistics.median(times),
                  "n": len(times)}))
"""


def run(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epci", type=int, default=200, help="nombre d'EPCI chronométrés")
    args = parser.parse_args()

    folder = Path(str(resources.files("zonesblanches.geodata") / "data"))
    sizes = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
    total = sum(sizes.values())
    for name, size in sizes.items():
        print(f"  {name:28s} {size / 1e6:6.2f} Mo")
    print(f"données embarquées : {total / 1e6:.2f} Mo (budget 25 Mo, {total / 25e6:.0%})")

    load = run(_LOAD)
    floor = run(_FLOOR)
    print(
        f"load_communes(None) : {load['n']} communes en {load['load']:.2f} s "
        f"(budget 2 s, {load['load'] / 2:.0%}) ; plancher pyarrow + WKB {floor['floor']:.2f} s "
        f"(rapport {load['load'] / floor['floor']:.1f}) ; import du paquet {load['import']:.2f} s"
    )
    print(f"mémoire maximale du processus : {load['rss_mb']:.0f} Mo (budget 1 024 Mo)")

    sel = run(_SELECT, str(args.epci))
    print(
        f"select_territory(EPCI) sur {sel['n']} EPCI : pire {sel['max']:.3f} s, médiane "
        f"{sel['median']:.3f} s (budget 1 s) ; premier appel, chargement compris "
        f"{sel['first']:.2f} s"
    )


if __name__ == "__main__":
    main()
