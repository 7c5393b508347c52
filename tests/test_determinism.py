"""The Excel workbooks and GeoPackages the package writes are byte-identical from run to run.

Inputs are the bundled reference data (CA Valenciennes Métropole communes and the registry of
services). The two writes are 1.1 s apart, so a save time stamped to the second would show.
"""

from __future__ import annotations

import time
import zipfile

import pandas as pd
import pytest
from openpyxl import load_workbook

from zonesblanches.coverage.analysis import commune_demand, compute_coverage
from zonesblanches.maps.export import write_xlsx
from zonesblanches.writers import FIXED_TIME, GPKG_DATE, write_tables

VM = "245901160"


@pytest.fixture(scope="module")
def result(communes, registry):
    return compute_coverage(
        commune_demand(communes[communes["code_epci"] == VM]),
        registry,
        {"voiture": 20, "marche": 30},
        categories=["garage_solidaire", "atelier_velo"],
        territory="CA Valenciennes Métropole",
    )


def _write_both(result, folder):
    xlsx = write_xlsx(result, folder / "diagnostic.xlsx", run_date="2026-01-15")
    tables = {"synthese": result.summary(), "communes": result.summary(by="code_insee")}
    (indicators,) = [p for p in write_tables(tables, folder) if p.suffix == ".xlsx"]
    return xlsx, indicators, tables


def test_workbooks_written_twice_are_byte_identical(result, tmp_path):
    first = _write_both(result, tmp_path / "a")
    time.sleep(1.1)  # a later second in the save stamps, were they kept
    second = _write_both(result, tmp_path / "b")
    for a, b in zip(first[:2], second[:2], strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    # Still proper workbooks for openpyxl and pandas, with the expected content.
    xlsx, indicators, tables = first
    assert load_workbook(xlsx).sheetnames[:2] == ["Synthèse", "Par EPCI"]
    synth = pd.read_excel(xlsx, sheet_name="Synthèse")
    assert synth["population"].tolist() == result.summary(by=None)["population"].tolist()
    sheets = pd.read_excel(indicators, sheet_name=None)
    assert list(sheets) == ["synthese", "communes"]
    assert sheets["communes"]["code_insee"].astype(str).str.zfill(5).tolist() == (
        tables["communes"]["code_insee"].tolist()
    )
    assert not list(tmp_path.glob("*/*.part")) and not list(tmp_path.glob("*/*.tmp.xlsx"))
    with zipfile.ZipFile(xlsx) as z:
        assert {i.date_time for i in z.infolist()} == {FIXED_TIME.timetuple()[:6]}
        core = z.read("docProps/core.xml")
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    assert stamp + b"</dcterms:created>" in core and stamp + b"</dcterms:modified>" in core
    assert load_workbook(xlsx).properties.modified == FIXED_TIME


def test_geopackage_written_twice_is_byte_identical(result, communes, tmp_path):
    """GDAL stamps each layer's last_change with the clock; the writer fixes it."""
    import sqlite3

    import pyogrio

    from zonesblanches.maps.export import write_geopackage

    vm = communes[communes["code_epci"] == VM]
    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    a = write_geopackage(result, vm, tmp_path / "a" / "diagnostic.gpkg")
    time.sleep(1.1)
    b = write_geopackage(result, vm, tmp_path / "b" / "diagnostic.gpkg")
    assert a.read_bytes() == b.read_bytes()
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") == before  # option restored
    with sqlite3.connect(a) as db:
        stamps = {r[0] for r in db.execute("SELECT last_change FROM gpkg_contents")}
    assert stamps == {GPKG_DATE} and GPKG_DATE.startswith(FIXED_TIME.strftime("%Y-%m-%d"))
    layers = [name for name, _ in pyogrio.list_layers(a)]
    assert {"communes", "unites", "services", "synthese"} <= set(layers)
    back = pyogrio.read_dataframe(a, layer="communes")
    assert sorted(back["code_insee"]) == sorted(vm["code_insee"])


def test_results_are_not_private_files(tmp_path):
    """Atomic writes go through mkstemp (mode 0600): the result gets the user's usual mode."""
    import os

    import pandas as pd

    from zonesblanches.writers import write_csv

    old = os.umask(0o022)
    try:
        path = write_csv(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644
