"""The former per-cell XLSX cell writer (``zonesblanches._xlsx.column_cells`` up to commit
616ecbf, one f-string per cell), kept as the oracle of the column-wise one that replaced it
(issue 16 item 9): same cells, same shared strings, same order."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from zonesblanches._xlsx import _EPOCH, DATE, DATETIME, SharedStrings, _kinds, _number_texts


def former_column_cells(
    series: pd.Series, letter: str, strings: SharedStrings, unreachable: object
) -> list[str]:
    """The ``<c>`` elements of one column, rows 2…n+1 (``""`` for an empty cell).

    Missing values are empty cells, infinite numbers become ``unreachable`` (a text, or empty
    when ``None``), text is a shared string, never a formula; other objects are written as
    their text."""
    n = len(series)
    cells = [""] * n
    if pd.api.types.is_bool_dtype(series.dtype) and not series.hasnans:
        flags = series.to_numpy(dtype=bool)
        return [f'<c r="{letter}{i}" t="b"><v>{int(b)}</v></c>' for i, b in enumerate(flags, 2)]
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        if series.dtype.kind in "iu":
            values = series.to_numpy()
        objects = None
    else:
        objects = series.astype(object).to_numpy()
        values = None
    if values is not None:
        kinds = (
            np.where(np.isnan(values), 0, 2).astype(np.int8)
            if values.dtype.kind == "f"
            else (np.full(n, 2, dtype=np.int8))
        )
        numbers = values
    elif pd.api.types.infer_dtype(objects, skipna=True) in ("string", "empty"):
        kinds = np.where(pd.isna(objects), 0, 1).astype(np.int8)  # text only: no per-cell test
        numbers = None
    else:
        kinds = _kinds(objects)
        numbers = None
    if numbers is not None and numbers.dtype.kind == "f":
        inf = np.isinf(numbers)
        if inf.any():
            kinds[inf] = 0
            if unreachable is not None:
                objects = np.full(n, None, dtype=object)
                objects[inf] = str(unreachable)
                kinds[inf] = 1
    elif objects is not None:
        is_num = np.flatnonzero(kinds == 2)
        if len(is_num):
            as_float = np.array([float(objects[i]) for i in is_num])
            bad = np.isnan(as_float)
            inf = np.isinf(as_float)
            kinds[is_num[bad]] = 0
            kinds[is_num[inf]] = 0 if unreachable is None else 1
            if unreachable is not None and inf.any():
                objects = objects.copy()  # may be a read-only view of the column
                objects[is_num[inf]] = str(unreachable)
    # Text (shared strings)
    where = np.flatnonzero(kinds == 1)
    if len(where):
        texts = objects[where].tolist()
        keep = [k for k, t in enumerate(texts) if t != ""]
        if len(keep) < len(texts):
            where, texts = where[keep], [texts[k] for k in keep]
        for i, code in zip(where.tolist(), strings.codes(texts), strict=True):
            cells[i] = f'<c r="{letter}{i + 2}" t="s"><v>{code}</v></c>'
    # Numbers
    where = np.flatnonzero(kinds == 2)
    if len(where):
        if numbers is not None:
            chosen = numbers[where]
        else:
            picked = objects[where]
            ints = all(isinstance(v, (int, np.integer)) for v in picked)
            chosen = np.array(
                [int(v) for v in picked] if ints else [float(v) for v in picked],
                dtype=np.int64 if ints else float,
            )
        for i, text in zip(where.tolist(), _number_texts(chosen), strict=True):
            cells[i] = f'<c r="{letter}{i + 2}"><v>{text}</v></c>'
    # Booleans, dates, other objects (rare: one by one)
    for i in np.flatnonzero(kinds >= 3).tolist():
        v, ref = objects[i], f"{letter}{i + 2}"
        if kinds[i] == 3:
            cells[i] = f'<c r="{ref}" t="b"><v>{int(bool(v))}</v></c>'
        elif kinds[i] == 4:
            stamp = pd.Timestamp(v)
            if stamp.tzinfo is not None:
                stamp = stamp.tz_localize(None)
            days = (stamp.to_pydatetime() - _EPOCH).total_seconds() / 86400
            style = (
                DATE
                if stamp == stamp.normalize() and not isinstance(v, dt.datetime)
                else (DATETIME)
            )
            cells[i] = f'<c r="{ref}" s="{style}"><v>{_number_texts(np.array([days]))[0]}</v></c>'
        else:
            text = str(v)
            if text:
                (code,) = strings.codes([text])
                cells[i] = f'<c r="{ref}" t="s"><v>{code}</v></c>'
    return cells
