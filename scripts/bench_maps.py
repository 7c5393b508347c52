"""Size of the region, EPCI and scenario maps and how long they take to open in headless Chromium.

Usage: ``python scripts/bench_maps.py [--repeat 5] [--cartes region,scenario_region]`` (needs
chromium and websocket-client). Prints, for each map, the time to build and write it, the file
size and the time from navigation to the first painted frame (cold = first page of a fresh
browser, then the median of the warm opens).

Maps: ``region``, ``epci_valenciennes``, ``epci_somme_sud_ouest`` (coverage maps of
``zonesblanches analyse``) and ``scenario_region`` (the map of ``zonesblanches scenario
--deplacer HDF-002:62895`` on the whole region: Lens → Wingles).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from zonesblanches.api import scenario
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
ALL_MAPS = (*EPCI_MAPS, *SCENARIO_MAPS)


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
        if name in SCENARIO_MAPS:
            # As the command line does: whole region, default thresholds, bundled registry.
            res = scenario(None, move=SCENARIO_MAPS[name])
            t0 = time.perf_counter()
            m = scenario_map(res, select_territory(None).communes, epci=epci)
        else:
            code = EPCI_MAPS[name]
            subset = communes if code is None else communes[communes["code_epci"] == code]
            res = compute_coverage(
                commune_demand(subset), registry, {"voiture": 20, "marche": 30}, territory=name
            )
            t0 = time.perf_counter()
            m = coverage_map(res, subset, epci=epci)
        out[name] = save_map(m, folder / f"{name}.html")
        print(f"{name}: carte écrite en {time.perf_counter() - t0:.1f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--cartes",
        default=",".join(ALL_MAPS),
        help="cartes à mesurer, séparées par des virgules (défaut : toutes)",
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.cartes.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL_MAPS]
    if unknown:
        parser.error(f"carte inconnue : {', '.join(unknown)} (possibles : {', '.join(ALL_MAPS)})")
    with tempfile.TemporaryDirectory() as tmp:
        maps = build(Path(tmp), names)
        for name, path in maps.items():
            with Browser() as browser:
                times = []
                for _ in range(args.repeat + 1):
                    report = browser.open(path)
                    assert report.ready and not report.console_errors, report.console_errors
                    times.append(report.ready_seconds)
            print(
                f"{name}: {path.stat().st_size / 1e6:.2f} Mo ; ouverture à froid "
                f"{times[0]:.2f} s, médiane à chaud {statistics.median(times[1:]):.2f} s "
                f"(max {max(times[1:]):.2f} s)"
            )


if __name__ == "__main__":
    main()
