"""``suggerer`` and ``scenario`` on a road network print what the engine did and the
hierarchy's break-even predicted by the automatic rule (on the SYNTHETIC ``--scale 0.01``
region extract of ``scripts/make_region_pbf.py``, built on the fly: not real roads)."""

from __future__ import annotations

import pytest
from synthetic_osm import synthetic_region_pbf

from zonesblanches.cli import main

VM = "valenciennes metropole"


@pytest.fixture(scope="module")
def region_pbf(tmp_path_factory):
    return synthetic_region_pbf(tmp_path_factory, 0.01)


def test_suggerer_and_scenario_print_the_engine_and_its_break_even(region_pbf, tmp_path, capsys):
    osm = ["--osm", str(region_pbf), "--sans-carte"]
    assert main(["suggerer", "--territoire", VM, "--categorie", "garage_solidaire", "--mode",
                 "voiture", "--nombre", "2", *osm, "--sortie", str(tmp_path / "s")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "Moteur de temps sur le réseau (choix automatique) :" in out
    line = next(x for x in out.splitlines() if "accessibilité de" in x)
    assert line.startswith("  voiture (") and "sites candidats" in line
    assert "rentable" in line
    assert main(["scenario", "--territoire", VM, "--retirer", "HDF-007", "--mode", "voiture:20",
                 *osm, "--sortie", str(tmp_path / "c")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "« service le plus proche »" in x)
    assert "toutes par Dijkstra" in line and "rentable à partir d'environ" in line
