"""Hash every file the CLI writes for a fixed set of runs, to compare two versions byte for byte.

Runs, offline (``ZONESBLANCHES_HORS_LIGNE=1``), with this tree first on the path:

- ``demo``;
- ``analyse`` on CA Valenciennes Métropole (SIREN 245901160) with the test grid
  (``--carreaux``), the test QPV file (``--qpv``);
- ``analyse`` on CA Valenciennes Métropole with an OSM fixture (``--osm``; the bundled fixtures
  are outside Hauts-de-France, so this run checks the French error and its exit code);
- ``analyse`` on CA Valenciennes Métropole, 3 modes, on a road network: a synthetic regional
  extract written by ``scripts/make_region_pbf.py --scale 0.01`` (fixed seed: same bytes every
  time) in the output folder;
- ``suggerer`` and ``scenario`` (the Lens → Wingles move) on the same EPCI.

Prints one line per output file, ``sha256  run/relative/path``, plus the exit code, standard
output and standard error of each run (with the output folder replaced by ``OUT``).

Usage::

    python scripts/hash_outputs.py [--garder DOSSIER] > hashes.txt
    diff before.txt after.txt
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
EPCI = "245901160"

REGION_PBF = "<region.osm.pbf>"
"""Stands in the runs for the synthetic regional extract written before them."""

RUNS: dict[str, list[str]] = {
    "demo": ["demo"],
    "analyse_carreaux_qpv": [
        "analyse",
        "--territoire",
        EPCI,
        "--carreaux",
        str(DATA / "carreaux" / "carreaux_200m_test.csv"),
        "--qpv",
        str(DATA / "qpv" / "qp2015_occitanie.geojson"),
    ],
    "analyse_osm": [
        "analyse",
        "--territoire",
        EPCI,
        "--osm",
        str(DATA / "osm" / "andorra.osm.pbf"),
    ],
    "analyse_osm_region": [
        "analyse",
        "--territoire",
        EPCI,
        "--osm",
        REGION_PBF,
        "--mode",
        "marche:30",
        "--mode",
        "velo:20",
        "--mode",
        "voiture:20",
    ],
    "suggerer": [
        "suggerer",
        "--territoire",
        EPCI,
        "--categorie",
        "garage_solidaire",
        "--nombre",
        "2",
        "--carreaux",
        str(DATA / "carreaux" / "carreaux_200m_test.csv"),
    ],
    "scenario": ["scenario", "--territoire", "62", "--deplacer", "HDF-002:62895"],
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--garder", type=Path, help="keep the outputs in this folder")
    parser.add_argument("runs", nargs="*", help="run names (default: all)")
    args = parser.parse_args()
    base = args.garder or Path(tempfile.mkdtemp(prefix="zb_hash_"))
    env = dict(os.environ, ZONESBLANCHES_HORS_LIGNE="1", PYTHONPATH=str(ROOT))
    region_pbf = base / "region-0.01.osm.pbf"
    if any(REGION_PBF in argv for name, argv in RUNS.items() if not args.runs or name in args.runs):
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "make_region_pbf.py"), "--scale", "0.01"]
            + ["--output", str(region_pbf)],
            env=env,
            check=True,
            capture_output=True,
        )
    for name, argv in RUNS.items():
        if args.runs and name not in args.runs:
            continue
        out = base / name
        out.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [sys.executable, "-m", "zonesblanches.cli"]
            + [str(region_pbf) if a == REGION_PBF else a for a in argv]
            + ["--sortie", str(out)],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        stdout = proc.stdout.replace(str(out), "OUT")
        stderr = proc.stderr.replace(str(out), "OUT")
        print(f"== {name}: exit {proc.returncode}")
        print(f"{hashlib.sha256(stdout.encode()).hexdigest()}  {name}/<stdout>")
        print(f"{hashlib.sha256(stderr.encode()).hexdigest()}  {name}/<stderr>")
        (base / f"{name}.stdout").write_text(stdout, encoding="utf-8")
        (base / f"{name}.stderr").write_text(stderr, encoding="utf-8")
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            print(f"{_sha(path)}  {name}/{path.relative_to(out)}")
    print(f"# outputs in {base}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
