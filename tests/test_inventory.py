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


@pytest.mark.parametrize("ext", [".csv", ".gpkg", ".xlsx"])
def test_round_trip_keeps_the_floats(services, tmp_path, ext):
    """CSV, GeoPackage and XLSX give back the very same floats (coordinates need up to 17
    significant digits: the writers' usual 10 would move a point by micrometres and `==` would
    fail; Excel itself keeps 15 when it saves)."""
    import numpy as np
    import shapely

    s = services.copy()
    rng = np.random.default_rng(12)
    x = s.geometry.x.to_numpy() + rng.random(len(s)) * 1e-3 + 1e-13
    y = s.geometry.y.to_numpy() + rng.random(len(s)) * 1e-3 + 1e-13
    s = s.set_geometry(shapely.points(x, y), crs=s.crs)
    s["score_qualite"] = rng.random(len(s)) / 3
    path = write_inventory(s, tmp_path / f"inventaire{ext}")
    back = read_inventory(path).services
    got = [back.geometry.x, back.geometry.y, back["score_qualite"]]
    want = [x, y, s["score_qualite"]]
    for g, w in zip(got, want, strict=True):
        g, w = np.asarray(g, dtype=float), np.asarray(w, dtype=float)
        assert np.array_equal(g, w) and not np.array_equal(np.round(g, 10), g)
    if ext == ".csv":  # the shortest exact text, not 17-digit noise
        text = path.read_text(encoding="utf-8-sig")
        assert repr(float(x[0])) in text
        assert ",0.6," in Path(write_inventory(services, tmp_path / "i.csv")).read_text(
            encoding="utf-8-sig"
        )
