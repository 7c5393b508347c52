"""The planner's inventory file: written, read back unchanged, « fermé » rows left out."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata import data_inclusion as di
from zonesblanches.geodata.inventory import (
    looks_like_inventory,
    read_inventory,
    write_inventory,
)

PARQUET = Path(__file__).parent / "data" / "data_inclusion" / "services.parquet"


@pytest.fixture(scope="module")
def services():
    s = di.load_data_inclusion(PARQUET).services.copy()
    s.loc[0, "nom"] = '=HYPERLINK("http://x")'  # a formula-looking name stays text
    return s


@pytest.mark.parametrize("ext", [".xlsx", ".csv", ".gpkg"])
def test_round_trip_gives_the_same_services(services, tmp_path, ext):
    path = write_inventory(services, tmp_path / f"inventaire{ext}")
    assert looks_like_inventory(path)
    back = read_inventory(path)
    pd.testing.assert_frame_equal(
        pd.DataFrame(back.services.drop(columns="geometry")),
        pd.DataFrame(services.drop(columns="geometry")),
        check_dtype=False,
    )
    assert back.services.geometry.geom_equals_exact(services.geometry, 1e-12).all()
    assert back.closed.empty and back.rejects.empty
    with pytest.raises(DataError, match="existe déjà"):
        write_inventory(services, path)  # never overwritten
    # same inputs, same bytes
    again = write_inventory(services, tmp_path / f"bis{ext}")
    if ext != ".gpkg":
        assert again.read_bytes() == path.read_bytes()


def test_formula_cells_are_neutralised(services, tmp_path):
    csv_path = write_inventory(services, tmp_path / "i.csv")
    assert "'=HYPERLINK" in csv_path.read_text(encoding="utf-8-sig")
    xlsx = write_inventory(services, tmp_path / "i.xlsx")
    cell = openpyxl.load_workbook(xlsx)["Inventaire"]["B2"]
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")


def test_planner_statut(services, tmp_path):
    path = write_inventory(services, tmp_path / "i.xlsx")
    book = openpyxl.load_workbook(path)
    ws = book["Inventaire"]
    col = [c.value for c in ws[1]].index("statut") + 1
    ws.cell(row=2, column=col, value="Fermé")
    ws.cell(row=3, column=col, value="à vérifier")
    ws.cell(row=4, column=col, value="peut-être")
    book.save(path)
    back = read_inventory(path)
    assert list(back.closed["ligne"]) == [2]
    assert list(back.rejects["ligne"]) == [4] and "statut" in back.rejects["champ"].iat[0]
    assert len(back.services) == len(services) - 2
    assert back.services["statut"].iat[0] == "a_verifier"
    assert "fermé" in back.warnings[0]


def test_wrong_inputs(services, tmp_path):
    with pytest.raises(ParameterError, match=".xlsx, .csv ou .gpkg"):
        write_inventory(services, tmp_path / "i.ods")
    with pytest.raises(DataError, match="pas un inventaire"):
        read_inventory(Path(di.__file__).parent / "data" / "services.csv")
