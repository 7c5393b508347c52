"""Reading tables from files: CSV, XLSX and vector files (GeoJSON, GeoPackage, Shapefile…).

One reader for the user's files (:func:`read_table`: every cell as text, with its line number,
for a validator that reports rejects by line), one delimiter sniffer (:func:`sniff_delimiter`),
and one vector reader (:func:`read_vector`) that turns GDAL errors into
:class:`~zonesblanches.errors.DataError` in French. Used by the services, QPV and grid loaders.
"""

from __future__ import annotations

import csv
import io
import math
import unicodedata
import warnings as warnings_module
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from zonesblanches.errors import DataError, ParameterError


@dataclass
class RawTable:
    """A file read as strings: original column names, row numbers, optional geometry."""

    table: pd.DataFrame
    lines: np.ndarray
    unit: str = "ligne"
    geometry: gpd.GeoSeries | None = None
    warnings: list[str] = field(default_factory=list)
    extra: dict[int, list[str]] = field(default_factory=dict)
    """Row position → values beyond the header (ragged CSV rows)."""
    formulas: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    """Row position → (column, formula) of XLSX formulas saved without a computed value."""


_EXCEL_EXT = {".xlsx", ".xlsm"}
_CSV_EXT = {".csv", ".txt", ".tsv", ".tab"}


def read_table(path: Path, *, sheet=None, layer=None) -> RawTable:
    """Read a CSV, XLSX or vector file as a table of strings, with each row's line number.

    The kind is found from the first bytes, then the extension; a CSV's encoding (UTF-8, else
    Windows-1252) and delimiter (:func:`sniff_delimiter`) are detected and said in warnings.
    """
    if not path.exists():
        raise DataError(f"Fichier de services introuvable : {path}")
    if path.is_dir() and path.suffix.lower() != ".gdb":
        raise DataError(f"{path} est un dossier, pas un fichier de services.")
    if not path.is_dir():
        _check_regular_file(path)
    ext = path.suffix.lower()
    if ext in {".xls", ".ods"}:
        raise DataError(
            f"Format {ext} non pris en charge : enregistrez « {path.name} » au format .xlsx "
            "ou .csv."
        )
    head = path.read_bytes()[:16] if path.is_file() else b""
    kind = file_kind(ext, head)
    notes: list[str] = []
    if kind == "xlsx" and ext not in _EXCEL_EXT:
        notes.append(f"« {path.name} » est en fait un classeur Excel : lu comme tel.")
    if kind == "xlsx":
        raw = _read_xlsx(path, sheet)
    elif kind == "vector":
        raw = _read_vector(path, layer)
    else:
        raw = _read_csv(path)
    raw.warnings[:0] = notes
    if raw.table.empty:
        raise DataError(
            f"« {path.name} » ne contient aucune ligne de données (fichier vide, ou en-tête seul)."
        )
    return raw


MAX_SERVICES_BYTES = 200_000_000
"""Largest table read (200 Mo): the national data·inclusion inventory (over 100,000 services)
is about 100 Mo as CSV; beyond, the file is most likely not a services file, and reading it
would take the memory of the machine."""


def _check_regular_file(path: Path) -> None:
    """Refuse devices, pipes and files over :data:`MAX_SERVICES_BYTES` before reading them."""
    if not path.is_file():
        raise DataError(
            f"« {path} » n'est pas un fichier ordinaire (périphérique, tube…) : passez un "
            "fichier CSV, XLSX, GeoJSON ou GeoPackage."
        )
    size = path.stat().st_size
    if size > MAX_SERVICES_BYTES:
        raise DataError(
            f"« {path.name} » pèse {size / 1e6:,.0f} Mo : un fichier de services ne dépasse pas "
            f"{MAX_SERVICES_BYTES / 1e6:,.0f} Mo (l'inventaire national en fait une centaine). "
            "Vérifiez que c'est le bon fichier, ou découpez-le par département.".replace(",", " ")
        )


def file_kind(ext: str, head: bytes) -> str:
    """``xlsx``, ``vector`` or ``csv``, from the first bytes of a file, else its extension."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"SQLite format 3"):
        return "vector"
    if ext in _EXCEL_EXT:
        return "xlsx"
    if ext in _CSV_EXT:
        return "csv"
    if ext in {".geojson", ".json", ".gpkg", ".shp", ".fgb", ".gml", ".kml", ".gdb"}:
        return "vector"
    return "vector" if head.lstrip().startswith(b"{") else "csv"


def _decode_lines(data: bytes) -> tuple[str, list[int]] | None:
    """UTF-8 line by line, Windows-1252 for the lines that are not UTF-8; ``None`` when most
    lines are not UTF-8 (the whole file is then in another encoding). Returns the text and
    the numbers (from 1) of the lines read as Windows-1252."""
    lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    out, bad = [], []
    for number, line in enumerate(lines, start=1):
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            try:
                out.append(line.decode("cp1252"))
            except UnicodeDecodeError:
                out.append(line.decode("latin-1"))
            bad.append(number)
    if len(bad) * 2 > len([line for line in lines if line.strip()]):
        return None
    return "\n".join(out), bad


def _decode(data: bytes, name: str) -> tuple[str, str | None]:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel « Texte Unicode » (UTF-16)
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError as exc:
            raise DataError(
                f"« {name} » se dit en UTF-16 (Texte Unicode) mais ne l'est pas entièrement : "
                "enregistrez-le en « CSV UTF-8 »."
            ) from exc
    if b"\x00" in data[:65536]:
        raise DataError(
            f"« {name} » n'est pas un fichier texte CSV (contenu binaire) : fichier corrompu ou "
            "d'un autre format ?"
        )
    encoding = None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        mixed = _decode_lines(data)
        if mixed is not None:  # a UTF-8 file with a few stray bytes: only those lines change
            text, bad = mixed
            shown = ", ".join(map(str, bad[:10])) + (" …" if len(bad) > 10 else "")
            word = "ligne" if len(bad) == 1 else "lignes"
            read = "lue" if len(bad) == 1 else "lues"
            encoding = f"UTF-8 sauf {word} {shown}, {read} en Windows-1252"
        else:
            try:
                text, encoding = data.decode("cp1252"), "Windows-1252 (Latin-1)"
            except UnicodeDecodeError:
                text, encoding = data.decode("latin-1"), "Latin-1 (ISO-8859-1)"
    sample = text[:65536]
    controls = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\t\r\n")
    if sample and controls > max(2, len(sample) // 200):
        raise DataError(
            f"« {name} » n'est pas un fichier texte CSV lisible (caractères de contrôle) : "
            "fichier corrompu ou d'un autre format ?"
        )
    return text, encoding


@contextmanager
def _long_fields():
    """Within the block, the csv module reads cells of any length a services file can hold
    (its default limit, 131,072 characters, made one long cell crash the reader)."""
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, MAX_SERVICES_BYTES))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def sniff_delimiter(text: str) -> str:
    """``;``, ``,`` or tab: the one giving the most rows of the header's width (then the widest
    header) over the first 60 non-blank lines; ``,`` when none splits the header."""
    sample = [line for line in text.splitlines()[:60] if line.strip()]
    best, best_score = ",", (-1.0, 0)
    for delim in (";", ",", "\t"):
        with _long_fields():
            rows = list(csv.reader(sample, delimiter=delim))
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        same = sum(1 for r in rows[1:] if len(r) == width) / max(1, len(rows) - 1)
        score = (same, width)
        if score > best_score:
            best, best_score = delim, score
    return best


def _read_csv(path: Path) -> RawTable:
    text, encoding = _decode(path.read_bytes(), path.name)
    warnings = []
    if encoding:
        warnings.append(
            f"« {path.name} » n'est pas en UTF-8 : lu en {encoding}. Vérifiez les accents ; "
            "enregistrez de préférence en « CSV UTF-8 »."
        )
    delim = sniff_delimiter(text)
    try:
        with _long_fields():
            records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim))
    except csv.Error as exc:
        raise DataError(f"« {path.name} » : CSV illisible ({exc}).") from exc
    return _from_records(records, warnings)


def _from_records(records: list[list[str]], warnings: list[str], first_line: int = 1) -> RawTable:
    """Table from rows of cells; the first non-blank row is the header."""
    start = next((i for i, r in enumerate(records) if any(c.strip() for c in r)), None)
    if start is None:
        return RawTable(pd.DataFrame(), np.array([], dtype=int), warnings=warnings)
    header = _unique_names(records[start])
    width = len(header)
    rows, lines, extra = [], [], {}
    for i in range(start + 1, len(records)):
        cells = records[i]
        # "".join(cells).strip() is empty exactly when every cell is blank
        if not "".join(cells).strip():
            continue
        if len(cells) != width:
            if len(cells) > width and "".join(cells[width:]).strip():
                extra[len(rows)] = cells[width:]
            cells = (cells + [""] * width)[:width]
        rows.append(cells)
        lines.append(i + first_line)
    table = pd.DataFrame(rows, columns=header, dtype=object)
    return RawTable(table, np.array(lines, dtype=int), warnings=warnings, extra=extra)


def _unique_names(header: list[str]) -> list[str]:
    names, seen = [], Counter()
    for i, h in enumerate(header):
        name = str(h).strip() or f"colonne_{i + 1}"
        seen[name] += 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return names


def _read_xlsx(path: Path, sheet) -> RawTable:
    import zipfile

    import openpyxl

    data = path.read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.namelist()
    except zipfile.BadZipFile:
        members = None
    if members is not None and "xl/workbook.xml" not in members:
        shown = ", ".join(members[:10]) + (" …" if len(members) > 10 else "")
        raise DataError(
            f"« {path.name} » est une archive zip, pas un classeur Excel (contenu : "
            f"{shown or 'vide'}) : décompressez-la et passez le fichier qu'elle contient."
        )
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
        formulas = openpyxl.load_workbook(io.BytesIO(data), data_only=False)
    except Exception as exc:  # openpyxl raises zip, XML and key errors on corrupt files
        raise DataError(
            f"« {path.name} » : classeur Excel illisible (fichier corrompu ou tronqué ?)."
        ) from exc
    names = book.sheetnames
    warnings = []
    if sheet is None:
        ws = book.worksheets[0]
        if len(names) > 1:
            warnings.append(
                f"Le classeur a {len(names)} feuilles ({', '.join(names)}) : seule la première, "
                f"« {names[0]} », est lue (choisissez avec sheet=)."
            )
    elif isinstance(sheet, int) and 0 <= sheet < len(names):
        ws = book.worksheets[sheet]
    elif isinstance(sheet, str) and sheet in names:
        ws = book[sheet]
    elif isinstance(sheet, str) and sheet.isdigit() and 1 <= int(sheet) <= len(names):
        ws = book.worksheets[int(sheet) - 1]  # --feuille 2: the second sheet, as people count
    else:
        raise ParameterError(
            f"Feuille « {sheet} » absente de « {path.name} » ; feuilles : {', '.join(names)} "
            "(--feuille NOM)."
        )
    records = [[_cell_text(v) for v in row] for row in ws.iter_rows(min_row=1, values_only=True)]
    raw = _from_records(records, warnings)
    if raw.table.empty and sheet is None and len(names) > 1:
        filled = [n for n in names[1:] if book[n].max_row > 1]
        raise DataError(
            f"La première feuille de « {path.name} », « {names[0]} », est vide ; feuilles du "
            f"classeur : {', '.join(names)}. Indiquez la bonne avec --feuille "
            f"« {filled[0] if filled else names[1]} » (sheet= en Python)."
        )
    _uncached_formulas(raw, formulas[ws.title], records)
    book.close()
    formulas.close()
    return raw


def _uncached_formulas(raw: RawTable, ws, records: list[list[str]]) -> None:
    """Record the formulas whose value was never computed (a workbook written by a program,
    not saved by Excel): their cells read as empty, which would be reported as « nom vide »."""
    if raw.table.empty:
        return
    line_to_pos = {int(line): pos for pos, line in enumerate(raw.lines)}
    columns = list(raw.table.columns)
    for row in ws.iter_rows(min_row=1):
        for cell in row:
            if cell.data_type != "f" or not isinstance(cell.value, str):
                continue
            pos = line_to_pos.get(cell.row)
            col = cell.column - 1
            if pos is None or col >= len(columns):
                continue
            if records[cell.row - 1][col] == "":
                raw.formulas.setdefault(pos, []).append((columns[col], cell.value))


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "VRAI" if value else "FAUX"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def read_vector(
    path: Path,
    *,
    layer: str | int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    what: str = "Le fichier géographique",
    hint: str = "",
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read one layer of a vector file (GeoJSON, GeoPackage, Shapefile…) with pyogrio.

    Returns the frame (a GeoDataFrame even without geometry) and GDAL's warnings as French
    sentences. Any GDAL error becomes a :class:`~zonesblanches.errors.DataError` naming the file,
    « {what} « nom » est illisible… », followed by ``hint``.
    """
    import pyogrio

    try:
        with warnings_module.catch_warnings(record=True) as caught:
            warnings_module.simplefilter("always")
            frame = pyogrio.read_dataframe(path, layer=layer, bbox=bbox)
    except Exception as exc:  # pyogrio/GDAL raise various errors on corrupt or unknown files
        raise DataError(
            f"{what} « {path.name} » est illisible (corrompu, tronqué ou format non "
            f"géographique). Détail : {type(exc).__name__}: {exc}. {hint}".rstrip()
        ) from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        frame = gpd.GeoDataFrame(frame, geometry=[None] * len(frame))
    notes = [
        f"Lecture de « {path.name} » : GDAL signale « {w.message} » (géométrie illisible ?)."
        for w in caught
    ]
    return frame, notes


def layer_names(path: Path, what: str = "Le fichier géographique") -> list[str]:
    """The layers of a vector file; GDAL errors become a French ``DataError``."""
    import pyogrio

    try:
        return [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:  # pyogrio/GDAL errors on corrupt or unknown files
        raise DataError(
            f"{what} « {path.name} » est illisible (corrompu ou format non géographique). "
            f"Détail : {type(exc).__name__}: {exc}"
        ) from exc


def _read_vector(path: Path, layer) -> RawTable:
    layers = layer_names(path)
    if layer is not None and not (
        (isinstance(layer, int) and 0 <= layer < len(layers)) or layer in layers
    ):
        raise ParameterError(
            f"Couche « {layer} » absente de « {path.name} » ; couches : {', '.join(layers)}."
        )
    frame, warnings = read_vector(path, layer=layer)
    if layer is None and len(layers) > 1:
        warnings.append(
            f"« {path.name} » a {len(layers)} couches ({', '.join(layers)}) : seule la "
            f"première, « {layers[0]} », est lue (choisissez avec layer=)."
        )
    geometry = frame.geometry
    attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    table = pd.DataFrame(
        {col: [_cell_text(v) if not _isna(v) else "" for v in attrs[col]] for col in attrs},
        index=range(len(attrs)),
        dtype=object,
    )
    table.columns = _unique_names(list(table.columns))
    return RawTable(
        table,
        np.arange(1, len(table) + 1),
        unit="entité",
        geometry=geometry.reset_index(drop=True),
        warnings=warnings,
    )


def _isna(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


__all__ = [
    "RawTable",
    "file_kind",
    "layer_names",
    "read_table",
    "read_vector",
    "sniff_delimiter",
]
