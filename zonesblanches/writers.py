"""Every file the package writes for its users: CSV, XLSX and GeoPackage, one way each.

The one owner of output files (the maps, the command line and the workflows build tables and
layers, and hand them here):

- **atomic**: each file is written under a temporary name beside the target and renamed into
  place only once complete (:func:`atomic_path`), so a run stopped half-way never leaves a
  truncated file under the final name;
- **deterministic**: the same inputs give the same bytes: XLSX save dates and zip entry dates
  are fixed (:func:`make_reproducible`), GeoPackage layers' last-change dates too
  (:func:`fixed_dates`);
- **one CSV dialect** (:data:`CSV_OPTIONS`): comma separator, dot decimal, UTF-8 **with BOM**
  (Excel then reads the accents right), ``\\n`` line ends, no index, numbers with up to 10
  significant digits (:data:`CSV_FLOAT_FORMAT`, so the output does not depend on float noise),
  ``inf`` for unreachable, empty for missing. Every tool reads it (pandas, QGIS, R,
  LibreOffice); French-locale Excel expects ``;`` on a double-click, so spreadsheet users open
  the XLSX, where numbers are typed;
- **files read back** (the planner's services inventory): ``exact=True`` writes numbers as the
  shortest text that reads back as the same float (coordinates need up to 17 digits) and, in
  XLSX, formula-like text as typed text rather than behind an apostrophe, so a round trip
  gives the same values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

FIXED_TIME = dt.datetime(2000, 1, 1)
"""Date written in the workbook properties and on every zip entry (UTC, naive)."""

GPKG_DATE = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%S.000Z")
"""The ``last_change`` date written in ``gpkg_contents`` for every layer."""

CSV_FLOAT_FORMAT = "%.10g"
"""Numbers in CSV: up to 10 significant digits, so the output does not depend on float noise."""

CSV_OPTIONS = {
    "sep": ",",
    "index": False,
    "encoding": "utf-8-sig",
    "lineterminator": "\n",
    "float_format": CSV_FLOAT_FORMAT,
}
"""The project's CSV dialect (see the module docstring)."""

_CORE = "docProps/core.xml"
_STAMP = re.compile(rb"(<dcterms:(created|modified)\b[^>]*>)[^<]*(</dcterms:\2>)")


# --------------------------------------------------------------------------------------------
# Atomic and reproducible files
# --------------------------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only on success.

    Examples
    --------
    >>> with atomic_path(dest) as tmp:  # doctest: +SKIP
    ...     frame.to_parquet(tmp)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    # mkstemp makes the file private (0600); a result is shared like any file the user writes.
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def make_reproducible(path: str | os.PathLike) -> Path:
    """Rewrite the XLSX file at ``path`` in place with fixed timestamps; return its path.

    openpyxl stamps the save time in ``docProps/core.xml`` (``dcterms:modified``, and
    ``dcterms:created`` unless set) and every zip entry carries a time. Both become
    :data:`FIXED_TIME`; entries keep their order, names, content and compression (deflate). The
    file stays a valid workbook for Excel, LibreOffice, openpyxl and pandas.
    """
    path = Path(path)
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as src:
        entries = [(info.filename, src.read(info)) for info in src.infolist()]
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in entries:
            if name == _CORE:
                data = _STAMP.sub(lambda m: m.group(1) + stamp + m.group(3), data)
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # the same header bytes on every platform
            info.external_attr = 0o644 << 16
            dst.writestr(info, data)
    return path


@contextlib.contextmanager
def fixed_dates() -> Iterator[None]:
    """Within the block, GDAL stamps GeoPackage layers with :data:`GPKG_DATE`, not the clock.

    GDAL writes the current time in each layer's ``last_change`` unless its configuration
    option ``OGR_CURRENT_DATE`` is set; the option's previous value is restored on exit, so the
    same inputs give a byte-identical file.
    """
    import pyogrio

    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """pandas 3 string dtype → plain object columns (GDAL and openpyxl want str/None)."""
    out = frame.copy()
    for col in out.columns:
        if col == getattr(out, "_geometry_column_name", None):
            continue
        if pd.api.types.is_string_dtype(out[col]) and not pd.api.types.is_object_dtype(out[col]):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


# --------------------------------------------------------------------------------------------
# Spreadsheet safety (CSV / XLSX formula injection)
# --------------------------------------------------------------------------------------------

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make a spreadsheet read a cell as a formula (OWASP CSV injection)."""

_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?(?:[eE][+-]?\d+)?$")


def safe_cell(value: object) -> object:
    """A text cell that no spreadsheet runs as a formula: ``'`` before a leading ``=``, ``+``,
    ``-``, ``@``, tab or carriage return (OWASP rule); other values unchanged.

    Numbers are not text and stay as they are, as does text that is a plain number (``-2.5``):
    it cannot call anything.

    >>> safe_cell('=HYPERLINK("http://evil.example","x")')
    '\\'=HYPERLINK("http://evil.example","x")'
    >>> safe_cell("-2+3+cmd|' /C calc'!A0"), safe_cell("-2.5"), safe_cell(-2.5)
    ("'-2+3+cmd|' /C calc'!A0", '-2.5', -2.5)
    """
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_TRIGGERS)
        and not _PLAIN_NUMBER.match(value)
    ):
        return "'" + value
    return value


def safe_frame(frame):
    """A copy of a DataFrame whose text cells and column names go through :func:`safe_cell`
    (numeric columns untouched), ready for a CSV or XLSX file."""
    out = frame.copy()
    for col in out.columns:
        series = out[col]
        if pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series):
            out[col] = series.map(safe_cell, na_action="ignore")
    out.columns = [safe_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, *, exact: bool = False) -> Path:
    """Write ``frame`` in the project's CSV dialect (:data:`CSV_OPTIONS`), atomically.

    A geometry column is dropped (CSV holds tables; layers go to the GeoPackage). With
    ``exact``, numbers are written as the shortest text that reads back as the same float
    instead of :data:`CSV_FLOAT_FORMAT` (for files read back). Returns the path.
    """
    path = Path(path)
    table = pd.DataFrame(frame)
    geometry = getattr(frame, "_geometry_column_name", None)
    if geometry in table.columns:
        table = table.drop(columns=geometry)
    options = {**CSV_OPTIONS, "float_format": None} if exact else CSV_OPTIONS
    with atomic_path(path) as tmp:  # text cells neutralised: no formula runs in a spreadsheet
        safe_frame(table).to_csv(tmp, **options)
    return path


def file_stem(name: str) -> str:
    """A table name as a safe file stem (letters, digits, ``_`` and ``-``)."""
    return re.sub(r"[^\w\-]+", "_", str(name)).strip("_") or "table"


# --------------------------------------------------------------------------------------------
# XLSX
# --------------------------------------------------------------------------------------------


def sheet_name(name: str, used: set[str]) -> str:
    """A valid, unique Excel sheet name (31 characters, none of ``[]:*?/\\``)."""
    base = re.sub(r"[\[\]:*?/\\]", "_", str(name)).strip("'") or "table"
    base = base[:31]
    candidate, k = base, 2
    while candidate.lower() in used:
        suffix = f"_{k}"
        candidate, k = base[: 31 - len(suffix)] + suffix, k + 1
    used.add(candidate.lower())
    return candidate


def _cell_values(series: pd.Series, unreachable: object) -> list:
    """Python values for openpyxl: ``None`` for missing values, ``unreachable`` for ``inf``."""
    out = []
    for v in series.astype(object).tolist():
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
            out.append(None)
        elif isinstance(v, (float, np.floating)) and np.isinf(v):
            out.append(unreachable)
        elif isinstance(v, (np.integer, np.floating, np.bool_)):
            out.append(v.item())
        else:
            out.append(v)
    return out


def _text_cell(ws, value: object) -> object:
    """A formula-like string as a cell typed text (stored as it is, never run); else the value."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"
        return cell
    return value


def write_xlsx(
    sheets: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    unreachable: object = None,
    exact: bool = False,
) -> Path:
    """Write tables to one workbook, a sheet each, atomically and reproducibly; return the path.

    Header row in bold and frozen, columns sized on their first 200 values (at most 60
    characters). Sheet names are made valid and unique (:func:`sheet_name`); a geometry column
    is dropped. ``unreachable`` is written for infinite values (default: an empty cell). Text
    that a spreadsheet would run as a formula gets a leading apostrophe (:func:`safe_cell`);
    with ``exact`` it is kept as it is and typed as text instead (never a formula either), so
    the file reads back unchanged.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    # Streaming (write-only) workbook: several times faster than pandas' writer on the region.
    book = Workbook(write_only=True)
    book.properties.creator = "zonesblanches"
    book.properties.created = FIXED_TIME
    header_font = Font(bold=True)
    used: set[str] = set()
    for name, frame in sheets.items():
        frame = text_columns(pd.DataFrame(frame).drop(columns=["geometry"], errors="ignore"))
        if not exact:
            frame = safe_frame(frame)  # text cells are strings, never formulas
        ws = book.create_sheet(title=sheet_name(name, used))
        ws.freeze_panes = "A2"
        for i, col in enumerate(frame.columns, start=1):
            values = [str(col)] + [str(v) for v in frame[col].head(200).tolist()]
            width = min(max(len(v) for v in values) + 2, 60)
            ws.column_dimensions[get_column_letter(i)].width = width
        head = []
        for col in frame.columns:
            cell = WriteOnlyCell(ws, value=str(col))
            cell.font = header_font
            head.append(cell)
        ws.append(head)
        columns = [_cell_values(frame[col], unreachable) for col in frame.columns]
        for row in zip(*columns, strict=True):
            ws.append([_text_cell(ws, v) for v in row] if exact else row)
    path = Path(path)
    with atomic_path(path) as tmp:
        book.save(tmp)
        make_reproducible(tmp)  # fixed save dates: the same inputs give the same bytes
    return path


def write_tables(
    frames: Mapping[str, pd.DataFrame],
    directory: str | os.PathLike,
    *,
    xlsx: bool = True,
    xlsx_name: str = "indicateurs.xlsx",
) -> list[Path]:
    """Write each table as CSV, and all of them as one XLSX workbook (a sheet per table).

    In the workbook, unreachable times (``inf``) read « inaccessible ».

    Parameters
    ----------
    frames : mapping of str to DataFrame
        Table name (file stem, sheet name) → table. Geometry columns are dropped.
    directory : path-like
        Output folder (created).
    xlsx : bool
        Also write the workbook.
    xlsx_name : str
        Workbook file name.

    Returns
    -------
    list of pathlib.Path
        Written files, CSV first (in the order of ``frames``), then the workbook.
    """
    directory = Path(directory)
    written = [
        write_csv(pd.DataFrame(frame).drop(columns=["geometry"], errors="ignore"), path)
        for name, frame in frames.items()
        for path in [directory / f"{file_stem(name)}.csv"]
    ]
    if xlsx and frames:
        written.append(write_xlsx(frames, directory / xlsx_name, unreachable="inaccessible"))
    return written


# --------------------------------------------------------------------------------------------
# GeoPackage
# --------------------------------------------------------------------------------------------


def write_gpkg(
    layers: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    keep_other_layers: bool = False,
) -> Path:
    """Write layers (GeoDataFrames, or plain tables) to one GeoPackage, atomically; return it.

    The file is built under a temporary name and renamed into place. By default an existing file
    is replaced; with ``keep_other_layers`` its other layers are kept and the given ones
    replaced (e.g. the zones of several categories in one file). Layers' last-change dates are
    fixed (:func:`fixed_dates`): the same inputs give the same bytes.
    """
    import shutil

    import pyogrio

    if not layers:
        raise ValueError("write_gpkg: no layer to write")
    path = Path(path)
    with atomic_path(path) as part:
        tmp = part.with_name(part.name + ".gpkg")  # GDAL wants the GeoPackage extension
        try:
            if keep_other_layers and path.exists():
                shutil.copyfile(path, tmp)
            with fixed_dates():
                for name, frame in layers.items():
                    present = tmp.exists() and name in {n for n, _ in pyogrio.list_layers(tmp)}
                    pyogrio.write_dataframe(
                        text_columns(frame.reset_index(drop=True)),
                        tmp,
                        layer=name,
                        driver="GPKG",
                        append=tmp.exists() and not present,
                        **({"layer_options": {"OVERWRITE": "YES"}} if present else {}),
                    )
            os.replace(tmp, part)
        finally:
            tmp.unlink(missing_ok=True)
    return path


__all__ = [
    "CSV_FLOAT_FORMAT",
    "CSV_OPTIONS",
    "FIXED_TIME",
    "GPKG_DATE",
    "atomic_path",
    "file_stem",
    "fixed_dates",
    "make_reproducible",
    "sheet_name",
    "text_columns",
    "write_csv",
    "write_gpkg",
    "write_tables",
    "write_xlsx",
]
