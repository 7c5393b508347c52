"""The column-wise XLSX writer (zonesblanches._xlsx through writers.write_xlsx): what openpyxl
reads back is what was written, typed, never a formula, and the bytes are stable."""

from __future__ import annotations

import datetime as dt
import zipfile

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from zonesblanches._xlsx import column_letter
from zonesblanches.writers import write_xlsx

HOSTILE = [
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "@SUM(A1)",
    "<r><t>x</t></r>",  # XlsxWriter's own rich-text markup, passed raw by it
    "a & b < c > d \"e\" 'f'",
    "  espaces autour  ",
    "ligne\nsuivante",
    "contrôle\x01\x1f",
    "Saint-Saulve — « é »",
]


def _frame():
    return pd.DataFrame(
        {
            "texte": pd.array(HOSTILE, dtype="string"),
            "objet": pd.Series(HOSTILE, dtype=object),
            "entier": np.arange(len(HOSTILE), dtype=np.int64) - 3,
            "reel": [0.1, 1 / 3, np.nan, np.inf, -2.5, 1e-13, 123456789.0, 2.0**60, -0.0],
            "mixte": ["a", 1, 2.5, None, True, np.inf, float("nan"), dt.date(2026, 1, 15), "-2"],
            "booleen": [True, False] * 4 + [True],
        }
    )


def _rows(path, sheet):
    ws = load_workbook(path)[sheet]
    return [[(c.value, c.data_type) for c in row] for row in ws.iter_rows()]


def test_values_and_types_read_back(tmp_path):
    frame = _frame()
    path = write_xlsx({"T": frame}, tmp_path / "t.xlsx", unreachable="inaccessible", exact=True)
    rows = _rows(path, "T")
    assert [v for v, _ in rows[0]] == list(frame.columns)
    texts = [r[0] for r in rows[1:]]
    assert [v for v, _ in texts] == HOSTILE[:7] + ["contrôle_x0001__x001F_", HOSTILE[8]]
    assert {t for _, t in texts} == {"s"}  # strings, never formulas
    assert [r[2][0] for r in rows[1:]] == list(range(-3, 6))
    reel = [r[3][0] for r in rows[1:]]
    assert reel[:2] == [0.1, 1 / 3] and reel[2] is None and reel[3] == "inaccessible"
    assert reel[4:] == [-2.5, 1e-13, 123456789, 2.0**60, 0]
    mixte = [r[4][0] for r in rows[1:]]
    assert mixte[:3] == ["a", 1, 2.5] and mixte[3] is None and mixte[4] is True
    assert mixte[5] == "inaccessible" and mixte[6] is None and mixte[8] == "-2"
    assert mixte[7] == dt.datetime(2026, 1, 15)
    assert [r[5][0] for r in rows[1:]] == [True, False] * 4 + [True]


def test_formula_triggers_neutralised_unless_exact(tmp_path):
    path = write_xlsx({"T": _frame()}, tmp_path / "t.xlsx")
    rows = _rows(path, "T")
    assert rows[1][0] == ("'" + HOSTILE[0], "s") and rows[3][0] == ("'@SUM(A1)", "s")
    assert rows[9][4] == ("-2", "s")  # a plain number in text stays as it is
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml")
        assert b"<f>" not in sheet and b"<r><t>x" not in z.read("xl/sharedStrings.xml")


def test_header_layout_and_same_bytes(tmp_path):
    frame = _frame()
    sheets = {"Synthèse": frame, "a/b": frame.head(0), "vide": pd.DataFrame()}
    a = write_xlsx(sheets, tmp_path / "a.xlsx")
    b = write_xlsx(sheets, tmp_path / "b.xlsx")
    assert a.read_bytes() == b.read_bytes()
    book = load_workbook(a)
    assert book.sheetnames == ["Synthèse", "a_b", "vide"]
    ws = book["Synthèse"]
    assert ws.freeze_panes == "A2" and ws["A1"].font.b and not ws["A2"].font.b
    assert ws.column_dimensions["A"].width == len(HOSTILE[0]) + 1 + 2  # longest, with its "'"
    back = pd.read_excel(a, sheet_name=None)
    assert len(back["Synthèse"]) == len(frame) and back["a_b"].empty


def test_column_letters():
    assert [column_letter(i) for i in (0, 25, 26, 51, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AZ",
        "ZZ",
        "AAA",
    ]


CELL = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["", "=1+1", "x", "  y  ", "contrôle\x01"]),
    st.integers(-(2**62), 2**62),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2100, 1, 1)),
)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 30).flatmap(
        lambda n: st.lists(
            st.one_of(
                st.lists(CELL, min_size=n, max_size=n).map(lambda v: pd.Series(v, dtype=object)),
                st.lists(st.one_of(st.none(), st.text(max_size=8)), min_size=n, max_size=n).map(
                    lambda v: pd.Series(v, dtype="string")
                ),
                st.lists(st.floats(), min_size=n, max_size=n).map(pd.Series),
                st.lists(st.integers(-(2**40), 2**40), min_size=n, max_size=n).map(
                    lambda v: pd.Series(v, dtype=np.int64)
                ),
                st.lists(st.booleans(), min_size=n, max_size=n).map(pd.Series),
            ),
            min_size=1,
            max_size=4,
        )
    ),
    st.sampled_from([None, "inaccessible"]),
)
def test_column_cells_equal_the_former_per_cell_writer(columns, unreachable):
    """The column-wise cells (pyarrow) are the former per-cell f-strings, byte for byte, and
    the shared strings are numbered alike; rows join the same way."""
    from xlsx_former import former_column_cells

    from zonesblanches._xlsx import SharedStrings, _join, _utf8, column_cells, row_numbers

    new, old = SharedStrings(), SharedStrings()
    rows = row_numbers(len(columns[0]))
    cells_new, cells_old = [], []
    for j, series in enumerate(columns):
        letter = column_letter(j)
        got = column_cells(series, letter, new, unreachable, rows)
        expected = former_column_cells(series, letter, old, unreachable)
        assert got.to_pylist() == expected
        cells_new.append(got)
        cells_old.append(expected)
    assert new.index == old.index and new.count == old.count
    if len(rows):
        joined = _utf8(_join('<row r="', rows, '">', *cells_new, "</row>"))
        former = "".join(
            f'<row r="{i}">{"".join(cells)}</row>'
            for i, cells in enumerate(zip(*cells_old, strict=True), 2)
        )
        assert joined == former.encode("utf-8")
