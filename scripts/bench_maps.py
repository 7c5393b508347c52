"""Size of the region and EPCI maps and how long they take to open in headless Chromium.

Usage: ``python scripts/bench_maps.py [--repeat 5]`` (needs chromium and websocket-client).
Prints, for each map, the file size and the time from navigation to the first painted frame
(cold = first page of a fresh browser, then the median of the warm opens).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from zonesblanches.coverage.analysis import commune_demand, compute_coverage
from zonesblanches.geodata import reference
from zonesblanches.maps import coverage_map, save_map
from zonesblanches.maps._browser import Browser


def build(folder: Path) -> dict[str, Path]:
    communes, epci, registry = (
        reference.load_communes(),
        reference.load_epci(),
        reference.load_registry(),
    )
    out = {}
    for name, subset in (
        ("region", communes),
        ("epci_valenciennes", communes[communes["code_epci"] == "245901160"]),
        # the EPCI with the most communes in the region (119): the largest EPCI map
        ("epci_somme_sud_ouest", communes[communes["code_epci"] == "200071181"]),
    ):
        res = compute_coverage(
            commune_demand(subset), registry, {"voiture": 20, "marche": 30}, territory=name
        )
        t0 = time.perf_counter()
        out[name] = save_map(coverage_map(res, subset, epci=epci), folder / f"{name}.html")
        print(f"{name}: carte écrite en {time.perf_counter() - t0:.1f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        maps = build(Path(tmp))
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
