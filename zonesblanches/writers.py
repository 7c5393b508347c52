"""Every file the package writes for its users: CSV, XLSX and GeoPackage, one way each.

The one owner of output files (the maps, the command line and the workflows build tables and
layers, and hand them here):

- **atomic**: each file is written under a temporary name beside the target and renamed into
  place only once complete (:func:`atomic_path`), so a run stopped half-way never leaves a
  truncated file under the final name;
- **deterministic**: the same inputs give the same bytes: XLSX creation and zip entry dates
  are fixed (:func:`write_xlsx`), GeoPackage layers' last-change dates too
  (:func:`fixed_dates`);
- **one CSV dialect** (:data:`CSV_OPTIONS`): comma separator, dot decimal, UTF-8 **with BOM**
  (Excel then reads the accents right), ``\\n`` line ends, no index, numbers with up to 10
  significant digits (:data:`CSV_FLOAT_FORMAT`, so the output does not depend on float noise),
  ``inf`` for unreachable, empty for missing. Every tool reads it (pandas, QGIS, R,
  LibreOffice); French-locale Excel expects ``;`` on a double-click, so spreadsheet users open
  the XLSX, where numbers are typed;
- **files read back** (the planner's services inventory): ``exact=True`` writes numbers as the
  shortest text that reads back as the same float (coordinates need up to 17 digits; XLSX
  always does) and, in XLSX, formula-like text as a string cell rather than behind an
  apostrophe, so a round trip gives the same values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

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
            out[col] = _safe_series(series)
    out.columns = [safe_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out


def _safe_series(series: pd.Series) -> pd.Series:
    """:func:`safe_cell` on a column: the leading characters are tested in bulk, and only the
    cells that start with a trigger go through :func:`safe_cell`."""
    try:
        flagged = series.str.startswith(FORMULA_TRIGGERS, na=False)
    except (AttributeError, TypeError):  # not a text column (e.g. objects of other types)
        return series.map(safe_cell, na_action="ignore")
    flagged = flagged.astype(object).eq(True).to_numpy()
    if not flagged.any():
        return series
    out = series.copy()
    out[flagged] = series[flagged].map(safe_cell).to_numpy()
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


def _column_width(name: str, values: list) -> float:
    """Width of a column: its header and first 200 values, at most 60 characters."""
    return min(max(len(v) for v in [str(name)] + [str(x) for x in values[:200]]) + 2, 60)


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
    with ``exact`` it is kept as it is. Either way every text cell is a string cell, never a
    formula, and numbers are written as the shortest text that reads back as the same float.

    Written column by column by :mod:`zonesblanches._xlsx` (the module says why not openpyxl
    or XlsxWriter: a 100,000-row sheet took them 20 to 40 s), with the creation date
    :data:`FIXED_TIME` and fixed zip entry dates: the same inputs give the same bytes.
    """
    from zonesblanches._xlsx import write_workbook

    prepared = []
    used: set[str] = set()
    for name, frame in sheets.items():
        frame = pd.DataFrame(frame).drop(columns=["geometry"], errors="ignore")
        if not exact:  # before text_columns: tested in bulk while the text is pyarrow's
            frame = safe_frame(frame)  # text cells get an apostrophe before a formula trigger
        frame = text_columns(frame)
        widths = [_column_width(c, frame[c].head(200).tolist()) for c in frame.columns]
        prepared.append((sheet_name(name, used), frame, widths))
    path = Path(path)
    with atomic_path(path) as tmp:
        write_workbook(
            prepared, tmp, unreachable=unreachable, creator="zonesblanches", created=FIXED_TIME
        )
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
                # The layers in the file: asked of GDAL only for a copied file, else the ones
                # written here (a list_layers per layer read the file again each time).
                existing = {n for n, _ in pyogrio.list_layers(tmp)} if tmp.exists() else set[str]()
                for name, frame in layers.items():
                    present = name in existing
                    pyogrio.write_dataframe(
                        text_columns(frame.reset_index(drop=True)),
                        tmp,
                        layer=name,
                        driver="GPKG",
                        use_arrow=True,  # columns handed to GDAL whole, not row by row
                        append=tmp.exists() and not present,
                        **({"layer_options": {"OVERWRITE": "YES"}} if present else {}),
                    )
                    existing.add(name)
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
    "sheet_name",
    "text_columns",
    "write_csv",
    "write_gpkg",
    "write_tables",
    "write_xlsx",
]
