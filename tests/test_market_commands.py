"""Issue 12, §4: ``--offre-marchande`` on ``suggerer``, ``scenario`` and ``demo`` (context only,
never counted as a service). On the BPE fixture of tests/data/data_inclusion (SOURCE.md there)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zonesblanches import api, jobs
from zonesblanches.cli import main
from zonesblanches.coverage.traveltime import StraightLineModel
from zonesblanches.geodata.bpe import load_bpe

BPE = Path(__file__).parent / "data" / "data_inclusion" / "bpe_wgs84.csv"
VM = "245901160"  # CA Valenciennes Métropole
KINDS = ("reparation_automobile", "ecole_de_conduite")


def _oracle(points, kind: str, mode: str) -> np.ndarray:
    equipments = load_bpe(BPE).equipments
    targets = equipments.loc[equipments["equipement"] == kind].geometry
    return StraightLineModel(mode).nearest(points, targets).minutes


def test_suggest_gives_each_site_its_market_context_and_picks_the_same_sites():
    args = dict(seuil=20, method="greedy", progress=False)
    plain = api.suggest(VM, "garage_solidaire", "voiture", 2, **args)
    res = api.suggest(VM, "garage_solidaire", "voiture", 2, market=BPE, **args)
    # the market offer is not a service: same sites, same people gained
    pd.testing.assert_frame_equal(plain.table, res.table[plain.table.columns])
    for kind in KINDS:
        col = f"temps_offre_marchande_{kind}_voiture"
        assert res.table[col].to_numpy() == pytest.approx(
            _oracle(res.sites.geometry, kind, "voiture")
        )
        assert res.sites[col].to_numpy() == pytest.approx(res.table[col].to_numpy())
    assert any("jamais comptés comme services solidaires" in n for n in res.notes)
    assert len(res.coverage.market) == 2


def test_scenario_unit_table_carries_the_market_by_row_mode():
    thresholds = {"voiture": 20, "marche": 30}
    plain = api.scenario(VM, remove="HDF-007", thresholds=thresholds)
    res = api.scenario(VM, remove="HDF-007", thresholds=thresholds, market=BPE)
    pd.testing.assert_frame_equal(plain.summary(by=None), res.summary(by=None))
    units = res.after.units.set_index("code_insee")
    for mode in thresholds:
        rows = res.diff[res.diff["mode"] == mode]
        for kind in KINDS:
            oracle = pd.Series(_oracle(units.geometry, kind, mode), index=units.index)
            got = rows[f"temps_offre_marchande_{kind}"].to_numpy()
            assert got == pytest.approx(oracle.loc[rows["code_insee"]].to_numpy())
    assert res.before.market is res.after.market
    assert any("mode de la ligne" in n for n in res.notes)


def test_commands_write_the_context_columns(tmp_path, capsys):
    sug, scen = tmp_path / "sug", tmp_path / "scen"
    assert main(["suggerer", "--territoire", VM, "--categorie", "garage_solidaire",
                 "--offre-marchande", str(BPE), "--sans-carte", "--sortie", str(sug)]) == 0  # fmt: skip
    table = pd.read_csv(sug / "sites_suggeres.csv", encoding="utf-8-sig")
    assert table["temps_offre_marchande_ecole_de_conduite_voiture"].notna().all()
    assert main(["scenario", "--territoire", VM, "--retirer", "HDF-007", "--offre-marchande",
                 str(BPE), "--sans-carte", "--sortie", str(scen)]) == 0  # fmt: skip
    units = pd.read_csv(scen / "scenario_unites.csv", encoding="utf-8-sig")
    assert units["temps_offre_marchande_reparation_automobile"].notna().all()
    out = capsys.readouterr().out
    assert out.count("jamais comptés comme services solidaires") == 2
    # An input inside the output folder is refused, named by its option.
    inside = scen / "bpe.csv"
    inside.write_bytes(BPE.read_bytes())
    assert main(["scenario", "--territoire", VM, "--retirer", "HDF-007", "--offre-marchande",
                 str(inside), "--sortie", str(scen)]) == 2  # fmt: skip
    assert "--offre-marchande" in capsys.readouterr().err


def test_demo_passes_the_market_offer_to_both_runs(monkeypatch, tmp_path, capsys):
    runs = []
    monkeypatch.setattr(jobs, "run_analysis", lambda t, th, s, **kw: runs.append((t, kw)))
    monkeypatch.setenv("ZONESBLANCHES_HORS_LIGNE", "1")
    osm = tmp_path / "reseau.osm.pbf"  # never read: run_analysis is replaced
    osm.write_bytes(b"")
    assert main(["demo", "--offre-marchande", str(BPE), "--osm", str(osm), "--sortie",
                 str(tmp_path / "demo")]) == 0  # fmt: skip
    assert [t for t, _ in runs] == [None, jobs.DEMO_EPCI]
    assert all(kw["market"] == BPE for _, kw in runs)
    for command in ("demo", "suggerer", "scenario"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
        assert "jamais comptés comme services solidaires" in help_text
