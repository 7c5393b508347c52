"""The reports' sortable HTML tables (:func:`html_table`): every cell escaped, numbers carrying
their value for sorting (``data-v``), shown in French."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd

from zonesblanches._text import fr_int, fr_num, fr_pct
from zonesblanches.maps import style

Column = tuple[str, str, str]
"""(column name, French header, kind: ``text``, ``int``, ``num``, ``pct``, ``min``,
``minutes`` (a threshold: « 20 min »), ``time`` (a time capped in words against the row's
``seuil_min``) or ``words:<column>`` (the text shown, sorted by the number in ``<column>``))."""

FORMATS = {
    "int": fr_int,
    "pct": fr_pct,
    "num": fr_num,
    "minutes": lambda x: fr_num(x, 1).removesuffix(",0") + " min",
    "min": lambda x: fr_num(x, 0) + ("" if not np.isfinite(x) else " min"),
}
"""How the numbers of each kind of column are shown."""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _number(value) -> float:
    return float(value) if value is not None and not pd.isna(value) else float("nan")


def _data_v(num: float) -> str:
    return "NaN" if np.isnan(num) else ("1e308" if np.isinf(num) else repr(num))


def _column_cells(records: list[dict], column: Column) -> list[str]:
    """The ``<td>`` of one column, row by row."""
    col, _, kind = column
    values = [rec.get(col) for rec in records]
    if kind == "text":
        return [f"<td>{_e(v)}</td>" for v in values]
    if kind.startswith("words:"):
        # the text column shown, sorted by the number in the named column
        key = kind.split(":", 1)[1]
        nums = [_number(rec.get(key)) for rec in records]
        return [
            f'<td class="num" data-v="{_data_v(x)}">{_e(v)}</td>'
            for v, x in zip(values, nums, strict=True)
        ]
    nums = [_number(v) for v in values]
    if kind == "time":
        # a time against the row's threshold: capped in words (« plus de 60 min »)
        shown = [
            style.time_text(x if not np.isnan(x) else np.inf, rec["seuil_min"])
            for x, rec in zip(nums, records, strict=True)
        ]
    else:
        shown = [FORMATS[kind](x) for x in nums]
    return [
        f'<td class="num" data-v="{_data_v(x)}">{_e(s)}</td>'
        for x, s in zip(nums, shown, strict=True)
    ]


def html_table(frame: pd.DataFrame, columns: Sequence[Column], *, caption: str = "") -> str:
    """A sortable HTML table (every cell escaped; numbers carry their value for sorting).

    Built column by column (one formatting rule per column, not a test per cell): the report
    of a region writes 1,380 rows by EPCI and a thousand services (issue 17)."""
    head = "".join(f'<th scope="col">{_e(label)}</th>' for _, label, _ in columns)
    records = frame.to_dict("records")
    cells = [_column_cells(records, column) for column in columns]
    rows = ["<tr>" + "".join(row) + "</tr>" for row in zip(*cells, strict=True)]
    if not cells:  # no column: empty rows, one per record
        rows = ["<tr></tr>"] * len(records)
    cap = f"<caption class='note'>{_e(caption)}</caption>" if caption else ""
    return (
        f'<div class="scroll"><table class="zb-table">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
