"""A grid file made of the real grid fixtures of ``tests/data/carreaux`` only, for the tests
of the grid file read by the Dask workers.

The real grid fixtures of ``tests/data/carreaux`` cover two départements: the 20 cells of the
test grid astride Valenciennes / La Sentinelle (Nord, 59; real ids, synthetic values, see its
SOURCE.md) and the real INSEE 2017 row of Corsica (Corse-du-Sud, 2A041), written here in the
2019 column layout of the test grid (same values; the 2017 ``Groupe`` column, which the reader
does not keep, left out). The territory « 59,2A » then splits into two groups of départements,
one per worker. Hostile rows are added: an unreadable cell id, a population that is not a
number (Nord), a negative one (Corsica), and a valid row outside the territory (the real Paris
cell id of the 2015 extract with the values of a test-grid row).
"""

from __future__ import annotations

import csv
from pathlib import Path

DATA = Path(__file__).parent / "data" / "carreaux"


def grid_file(path: Path) -> Path:
    """The test grid, the Corsican row and the hostile rows, in one file (2019 layout)."""
    with open(DATA / "carreaux_200m_test.csv", encoding="utf-8", newline="") as f:
        header, *rows = list(csv.reader(f))
    with open(DATA / "filosofi2017_extrait_corse.csv", encoding="utf-8", newline="") as f:
        corse = {k.lower(): v for k, v in next(csv.DictReader(f)).items()}
    with open(DATA / "filosofi2015_extrait_paris.csv", encoding="utf-8", newline="") as f:
        paris = next(csv.DictReader(f))["IdINSPIRE"]
    corsican = [corse[c] for c in header]
    ind = header.index("ind")
    unreadable = [*rows[4]]
    unreadable[0] = "CRS3035RES200mNXE3857600"
    not_a_number = [*rows[2]]
    not_a_number[ind] = "beaucoup"
    negative = [*corsican]
    negative[ind] = "-3"
    outside = [*rows[6]]
    outside[0] = paris
    lines = [header, *rows[:7], unreadable, corsican, not_a_number, *rows[7:], outside, negative]
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(lines)
    return path
