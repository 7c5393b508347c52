"""GTFS files as text: open the ``*.txt`` members of a zip or folder, convert columns.

Files are parsed with :mod:`pyarrow.csv`, every column as text, then converted column by
column with vectorised pyarrow/numpy code (times, integers, floats, id lookups): no Python
code per row. Used by :mod:`~zonesblanches.geodata._gtfs_feed` and the calendar and
frequency readers; :func:`parse_times` is re-exported by :mod:`zonesblanches.geodata.gtfs`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from zonesblanches.errors import DataError

RejectFn = Callable[[str, Iterable[int], str, str], None]
"""``reject(file, lines, field, reason)``: records rejected rows of a feed (lines from 2, the
header being line 1)."""


def drop_rejected(
    frame: pd.DataFrame, bad: np.ndarray, reject: RejectFn, file: str, fld: str, reason: str
) -> pd.DataFrame:
    """Reject the rows of ``frame`` (one per file line, from line 2) where ``bad``; the others."""
    reject(file, np.flatnonzero(bad) + 2, fld, reason)
    return frame[~bad].reset_index(drop=True)


class _Reader:
    """Open ``*.txt`` members of a zip or a folder (nested one level deep in a zip is accepted)."""

    def __init__(self, path: Path):
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._names: dict[str, str] = {}
        if path.is_dir():
            for p in path.iterdir():
                if p.is_file() and p.suffix.lower() == ".txt":
                    self._names[p.name.lower()] = str(p)
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DataError(
                    f"Le fichier GTFS « {path} » n'est pas une archive zip lisible ({exc})."
                ) from None
            for name in self._zip.namelist():
                base = name.rsplit("/", 1)[-1].lower()
                if base.endswith(".txt") and base not in self._names:
                    self._names[base] = name
        else:
            raise DataError(f"Fichier GTFS introuvable : « {path} ».")

    def has(self, name: str) -> bool:
        return name in self._names

    def read(self, name: str) -> pa.Table | None:
        """The file as a table of text columns (empty strings for missing values), or None."""
        if name not in self._names:
            return None
        try:
            if self._zip is not None:
                data = self._zip.read(self._names[name])
            else:
                data = Path(self._names[name]).read_bytes()
        except (OSError, zipfile.BadZipFile, KeyError) as exc:
            raise DataError(f"Lecture impossible de {name} dans « {self.path} » ({exc}).") from None
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        first = data.split(b"\n", 1)[0].rstrip(b"\r")
        if not first.strip():
            return pa.table({})
        try:
            header = next(
                iter(
                    pacsv.read_csv(
                        io.BytesIO(first + b"\n"),
                        read_options=pacsv.ReadOptions(autogenerate_column_names=True),
                        convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
                    ).to_pylist()
                ),
                None,
            )
            names = [str(v).strip() for v in header.values()] if header else []
            table = pacsv.read_csv(
                io.BytesIO(data),
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowInvalid:
            # Rows with missing trailing fields (common in real feeds): pandas pads them.
            table = self._read_padded(name, data)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{name} de « {self.path.name} » est illisible comme CSV ({exc}). "
                "Vérifiez qu'il s'agit bien d'un fichier GTFS (texte UTF-8, séparé par des virgules)."
            ) from None
        return table

    def _read_padded(self, name: str, data: bytes) -> pa.Table:
        try:
            frame = pd.read_csv(
                io.BytesIO(data),
                dtype=str,
                keep_default_na=False,
                skipinitialspace=False,
                encoding="utf-8",
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise DataError(
                f"{name} de « {self.path.name} » est illisible comme CSV ({exc}). "
                "Vérifiez qu'il s'agit bien d'un fichier GTFS (texte UTF-8, séparé par des virgules)."
            ) from None
        frame.columns = [str(c).strip() for c in frame.columns]
        return pa.Table.from_pandas(frame.astype(object), preserve_index=False)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _col(table: pa.Table | None, name: str, n: int | None = None) -> np.ndarray:
    """A text column as a numpy object array of stripped strings ('' when absent)."""
    if table is None or name not in table.column_names:
        rows = n if n is not None else (table.num_rows if table is not None else 0)
        return np.full(rows, "", dtype=object)
    return np.asarray(
        pc.utf8_trim_whitespace(table[name]).to_numpy(zero_copy_only=False), dtype=object
    )


def parse_times(
    values: pa.ChunkedArray | pa.Array | Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Parse GTFS times (``H:MM:SS``, hours may exceed 23) to seconds.

    Returns
    -------
    seconds : numpy.ndarray
        int64, ``-1`` where the value is empty or unreadable.
    bad : numpy.ndarray
        bool, True where a non-empty value could not be read.
    """
    arr = (
        pa.chunked_array([pa.array(values, pa.string())])
        if not isinstance(values, (pa.Array, pa.ChunkedArray))
        else values
    )
    arr = pc.utf8_trim_whitespace(arr)
    empty = pc.equal(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False)
    ok = pc.match_substring_regex(arr, r"^\d{1,3}:\d{2}:\d{2}$").to_numpy(zero_copy_only=False)
    out = np.full(len(empty), -1, dtype=np.int64)
    if ok.any():
        good = pc.filter(arr, pa.array(ok))
        parts = pc.list_flatten(pc.split_pattern(good, ":"))
        hms = pc.cast(parts, pa.int64()).to_numpy().reshape(-1, 3)
        sec = hms[:, 0] * 3600 + hms[:, 1] * 60 + hms[:, 2]
        valid = (hms[:, 1] < 60) & (hms[:, 2] < 60)
        sec[~valid] = -1
        out[ok] = sec
        ok = ok.copy()
        ok[ok] = valid
    bad = ~empty & ~ok
    return out, bad


def _arrow(values) -> pa.Array:
    """Trimmed text as one arrow array (from an arrow column or a sequence of str)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    elif not isinstance(values, pa.Array):
        values = pa.array(np.asarray(values, dtype=object), pa.string())
    return pc.utf8_trim_whitespace(values)


def _acol(table: pa.Table | None, name: str, n: int = 0) -> pa.Array:
    """A column as trimmed arrow text; empty strings when the column is absent."""
    if table is None or name not in table.column_names:
        return pa.array([""] * (table.num_rows if table is not None else n), pa.string())
    return _arrow(table[name])


def _ints(values, default: int) -> tuple[np.ndarray, np.ndarray]:
    """Integers from text (vectorised); empty → default; returns (values, bad mask)."""
    arr = _arrow(values)
    empty = pc.equal(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False)
    ok = pc.match_substring_regex(arr, r"^[+-]?\d{1,18}$").to_numpy(zero_copy_only=False)
    out = np.full(len(arr), default, dtype=np.int64)
    if ok.any():
        out[ok] = pc.cast(pc.filter(arr, pa.array(ok)), pa.int64()).to_numpy()
    return out, ~empty & ~ok


def _floats(values) -> np.ndarray:
    """Floats from text (vectorised); NaN where empty or unreadable."""
    arr = _arrow(values)
    ok = pc.match_substring_regex(arr, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$").to_numpy(
        zero_copy_only=False
    )
    out = np.full(len(arr), np.nan)
    if ok.any():
        out[ok] = pc.cast(pc.filter(arr, pa.array(ok)), pa.float64()).to_numpy()
    return out


def _lookup(values, ids: np.ndarray) -> np.ndarray:
    """Position of each value in ``ids`` (hash join in arrow), -1 when absent."""
    idx = pc.index_in(
        _arrow(values), value_set=pa.array(np.asarray(ids, dtype=object), pa.string())
    )
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)
