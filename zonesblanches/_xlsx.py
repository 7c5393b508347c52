"""A column-wise XLSX (SpreadsheetML) writer for :func:`zonesblanches.writers.write_xlsx`.

Why our own: issue 16 item 9 asks for a 100,000-service run in 30 s, and the « Services » sheet
of ``diagnostic.xlsx`` then holds 1.4 million cells. The well-kept writers spend 15 to 30 µs on
each cell in Python (measured on that sheet, same run: openpyxl write-only 42 s CPU, XlsxWriter
``constant_memory`` 21 s, XlsxWriter shared strings 16 s), several times the whole run's budget
for the workbook. The faster ones either read text starting with ``=`` as a formula
(PyExcelerate) or are young bindings without a track record. The subset written here is small
and fixed: one sheet per table, a bold frozen header row, column widths, and cells that are
shared strings, numbers, booleans or dates; nothing is ever a formula. Each column is encoded
at once (numbers in bulk by pyarrow, strings through one shared-string table) and the package
parts are the minimal set Excel, LibreOffice, openpyxl and pandas read (ECMA-376 part 1,
« SpreadsheetML »; the same parts and attributes XlsxWriter writes for such a workbook).

Same inputs, same bytes: every part is generated from the data alone, zip entries carry a fixed
date, and the shared strings are numbered in order of first appearance.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument"

BOLD, DATE, DATETIME = 1, 2, 3
"""Cell style indexes (``cellXfs``): 0 default, 1 bold header, 2 date, 3 date and time."""

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EPOCH = dt.datetime(1899, 12, 30)


def _control(match: re.Match) -> str:
    return f"_x{ord(match.group()):04X}_"


def escape_text(text: str) -> str:
    """``text`` for an XML text node: ``&``, ``<``, ``>`` escaped, and the characters XML 1.0
    cannot hold (control characters) as Excel's ``_xHHHH_`` escapes."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _ILLEGAL.sub(_control, text) if _ILLEGAL.search(text) else text


def _attr(text: str) -> str:
    return escape_text(text).replace('"', "&quot;")


def column_letter(index: int) -> str:
    """``0`` → ``A``, ``25`` → ``Z``, ``26`` → ``AA``."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class SharedStrings:
    """The workbook's shared-string table: each distinct text once, numbered in order of first
    appearance."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.count = 0

    def codes(self, texts: Sequence[str]) -> list[int]:
        """The string number of each text (new texts are added)."""
        if not len(texts):
            return []
        self.count += len(texts)
        local, uniques = pd.factorize(np.asarray(texts, dtype=object))
        index = self.index
        numbers = np.array([index.setdefault(u, len(index)) for u in uniques], dtype=np.int64)
        return numbers[local].tolist()

    def xml(self) -> bytes:
        """The ``sharedStrings.xml`` part (texts escaped in bulk by pyarrow)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        texts = pa.array(list(self.index), type=pa.large_string())
        for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
            texts = pc.replace_substring(texts, char, entity)
        illegal = pc.match_substring_regex(texts, _ILLEGAL.pattern).to_numpy(zero_copy_only=False)
        if illegal.any():  # rare: control characters, one by one
            values = texts.to_pylist()
            for i in np.flatnonzero(illegal).tolist():
                values[i] = _ILLEGAL.sub(_control, values[i])
            texts = pa.array(values, type=pa.large_string())
        padded = pc.match_substring_regex(texts, "^[ \t\n\r]|[ \t\n\r]$")
        opening = pc.if_else(padded, '<si><t xml:space="preserve">', "<si><t>")
        items = pc.binary_join_element_wise(
            opening.cast(pa.large_string()),
            texts,
            pa.scalar("</t></si>", pa.large_string()),
            pa.scalar("", pa.large_string()),
        )
        head = f'{_XML}<sst xmlns="{_MAIN}" count="{self.count}" uniqueCount="{len(texts)}">'
        return (head + "".join(items.to_pylist()) + "</sst>").encode("utf-8")


def _number_texts(values: np.ndarray) -> list[str]:
    """Shortest text that reads back as the same float (integers without a decimal point)."""
    import pyarrow as pa

    if values.dtype.kind in "iu":
        return values.astype(str).tolist()
    return pa.array(values, type=pa.float64()).cast(pa.string()).to_pylist()


def _number_array(values: np.ndarray, mask: np.ndarray) -> pa.Array:
    """:func:`_number_texts` of ``values`` as a pyarrow text array, null where ``mask``."""
    if values.dtype.kind in "iu":
        return pa.array(values, mask=mask).cast(pa.large_string())
    return pa.array(values, type=pa.float64(), mask=mask).cast(pa.large_string())


def _kinds(values: np.ndarray) -> np.ndarray:
    """Per cell of an object column: 0 empty, 1 text, 2 number, 3 boolean, 4 date, 5 other."""

    def kind(v: object) -> int:
        t = type(v)
        if t is str:
            return 1
        if v is None:
            return 0
        if t is float or t is int:
            return 2
        if t is bool:
            return 3
        if isinstance(v, (dt.date, np.datetime64)):
            return 4
        if isinstance(v, (bool, np.bool_)):
            return 3
        if isinstance(v, (int, float, np.integer, np.floating)):
            return 2
        return 5

    return np.fromiter((kind(v) for v in values), dtype=np.int8, count=len(values))


def _large(values) -> pa.Array:
    return pa.array(values, type=pa.large_string())


def _join(*parts) -> pa.Array:
    """Element-wise concatenation of text arrays and constants (a null anywhere: null)."""
    parts = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*parts, pa.scalar("", pa.large_string()))


def row_numbers(n: int) -> pa.Array:
    """The sheet's row numbers of ``n`` data rows as text, ``"2"`` to ``str(n + 1)``."""
    return pa.array(np.arange(2, n + 2, dtype=np.int64)).cast(pa.large_string())


def column_cells(
    series: pd.Series,
    letter: str,
    strings: SharedStrings,
    unreachable: object,
    rows: pa.Array | None = None,
) -> pa.Array:
    """The ``<c>`` elements of one column, rows 2…n+1 (``""`` for an empty cell), as a
    pyarrow text array; ``rows`` is :func:`row_numbers` of its length (made when not given).

    Missing values are empty cells, infinite numbers become ``unreachable`` (a text, or empty
    when ``None``), text is a shared string, never a formula; other objects are written as
    their text. The cells are assembled by pyarrow, column-wise (a Python f-string per cell
    took 2 of the 3.4 s of a 100,000-service workbook, issue 16 item 9)."""
    n = len(series)
    rows = row_numbers(n) if rows is None else rows
    if pd.api.types.is_bool_dtype(series.dtype) and not series.hasnans:
        flags = series.to_numpy(dtype=bool).astype(np.int8)
        return _join(f'<c r="{letter}', rows, '" t="b"><v>', _large(flags.astype(str)), "</v></c>")
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
    # Text (shared strings): the string number of each text cell
    code = np.zeros(n, dtype=np.int64)
    is_text = kinds == 1
    where = np.flatnonzero(is_text)
    if len(where):
        empty = objects[where] == ""  # an empty text is an empty cell
        if empty.any():
            is_text[where[empty]] = False
            where = where[~empty]
        code[where] = strings.codes(objects[where].tolist())
    # Numbers
    is_number = kinds == 2
    where = np.flatnonzero(is_number)
    chosen = None
    if len(where):
        if numbers is not None:
            chosen = numbers
        else:
            picked = objects[where]
            ints = all(isinstance(v, (int, np.integer)) for v in picked)
            chosen = np.zeros(n, dtype=np.int64 if ints else float)
            chosen[where] = [int(v) for v in picked] if ints else [float(v) for v in picked]
    value = pa.array(code, mask=~is_text).cast(pa.large_string())  # the text inside <v>
    if chosen is not None:
        value = pc.coalesce(value, _number_array(chosen, ~is_number))
    middle = pc.if_else(  # what comes between the reference and <v>
        pa.array(is_text),
        pa.scalar('" t="s"><v>', pa.large_string()),
        pc.if_else(
            pa.array(is_number),
            pa.scalar('"><v>', pa.large_string()),
            pa.scalar(None, pa.large_string()),
        ),
    )
    cells = _join(f'<c r="{letter}', rows, middle, value, "</v></c>")
    # Booleans, dates, other objects (rare: one by one)
    rare = np.flatnonzero(kinds >= 3)
    if not len(rare):
        return pc.fill_null(cells, "")
    special = np.full(n, None, dtype=object)
    for i in rare.tolist():
        v, ref = objects[i], f"{letter}{i + 2}"
        if kinds[i] == 3:
            special[i] = f'<c r="{ref}" t="b"><v>{int(bool(v))}</v></c>'
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
            special[i] = f'<c r="{ref}" s="{style}"><v>{_number_texts(np.array([days]))[0]}</v></c>'
        else:
            text = str(v)
            if text:
                (code,) = strings.codes([text])
                special[i] = f'<c r="{ref}" t="s"><v>{code}</v></c>'
    return pc.coalesce(cells, _large(special), pa.scalar("", pa.large_string()))


def _utf8(texts: pa.Array) -> bytes:
    """The concatenation of a text array without nulls, as UTF-8 bytes (its data buffer)."""
    texts = texts.cast(pa.large_string())
    if not len(texts):
        return b""
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int64)
    start, stop = offsets[texts.offset], offsets[texts.offset + len(texts)]
    return texts.buffers()[2].to_pybytes()[start:stop]


def _sheet_xml(
    frame: pd.DataFrame,
    headers: list[str],
    widths: list[float],
    strings: SharedStrings,
    unreachable: object,
    selected: bool,
) -> bytes:
    """The worksheet part, UTF-8."""
    letters = [column_letter(j) for j in range(len(headers))]
    last = f"{letters[-1]}{len(frame) + 1}" if headers else "A1"
    view = ' tabSelected="1"' if selected else ""
    chunks = [
        f'{_XML}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
        f'<dimension ref="A1{":" + last if last != "A1" else ""}"/>'
        f'<sheetViews><sheetView{view} workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
    ]
    if headers:
        chunks.append(
            "<cols>"
            + "".join(
                f'<col min="{j}" max="{j}" width="{w:g}" customWidth="1"/>'
                for j, w in enumerate(widths, 1)
            )
            + "</cols>"
        )
    chunks.append("<sheetData>")
    codes = strings.codes(headers)
    chunks.append(
        '<row r="1">'
        + "".join(
            f'<c r="{c}1" s="{BOLD}" t="s"><v>{k}</v></c>'
            for c, k, h in zip(letters, codes, headers, strict=True)
            if h != ""
        )
        + "</row>"
    )
    rows = row_numbers(len(frame))
    columns = [
        column_cells(frame.iloc[:, j], letters[j], strings, unreachable, rows)
        for j in range(len(headers))
    ]
    if columns:
        body = _utf8(_join('<row r="', rows, '">', *columns, "</row>"))
    else:
        body = "".join(f'<row r="{i}"/>' for i in range(2, len(frame) + 2)).encode("utf-8")
    end = (
        '</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" '
        'footer="0.3"/></worksheet>'
    )
    return "".join(chunks).encode("utf-8") + body + end.encode("utf-8")


_STYLES = (
    f'{_XML}<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy\\-mm\\-dd\\ h:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><color theme="1"/><name val="Calibri"/>'
    '<family val="2"/><scheme val="minor"/></font>'
    '<font><b/><sz val="11"/><color theme="1"/><name val="Calibri"/><family val="2"/>'
    '<scheme val="minor"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="0"/><tableStyles count="0" defaultTableStyle="TableStyleMedium9" '
    'defaultPivotStyle="PivotStyleLight16"/></styleSheet>'
)


def _package_parts(titles: list[str], creator: str, created: dt.datetime) -> dict[str, str]:
    n = len(titles)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    sheets_ct = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        f'ContentType="{_CT}.spreadsheetml.worksheet+xml"/>'
        for i in range(1, n + 1)
    )
    return {
        "[Content_Types].xml": (
            f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/docProps/app.xml" ContentType="{_CT}.extended-properties+xml"/>'
            '<Override PartName="/docProps/core.xml" '
            'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.spreadsheetml.styles+xml"/>'
            f'<Override PartName="/xl/workbook.xml" '
            f'ContentType="{_CT}.spreadsheetml.sheet.main+xml"/>'
            f"{sheets_ct}"
            '<Override PartName="/xl/sharedStrings.xml" '
            f'ContentType="{_CT}.spreadsheetml.sharedStrings+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'{_XML}<Relationships xmlns="{_PKG_REL}">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
            'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
            f'<Relationship Id="rId3" Type="{_REL}/extended-properties" '
            'Target="docProps/app.xml"/></Relationships>'
        ),
        "docProps/app.xml": (
            f'{_XML}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
            'extended-properties"><Application>zonesblanches</Application></Properties>'
        ),
        "docProps/core.xml": (
            f'{_XML}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
            'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:dcterms="http://purl.org/dc/terms/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f"<dc:creator>{_attr(creator)}</dc:creator>"
            f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
            f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
            "</cp:coreProperties>"
        ),
        "xl/workbook.xml": (
            f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            '<bookViews><workbookView activeTab="0"/></bookViews><sheets>'
            + "".join(
                f'<sheet name="{_attr(t)}" sheetId="{i}" r:id="rId{i}"/>'
                for i, t in enumerate(titles, 1)
            )
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{_XML}<Relationships xmlns="{_PKG_REL}">'
            + "".join(
                f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" '
                f'Target="worksheets/sheet{i}.xml"/>'
                for i in range(1, n + 1)
            )
            + f'<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
            f'<Relationship Id="rId{n + 2}" Type="{_REL}/sharedStrings" '
            'Target="sharedStrings.xml"/></Relationships>'
        ),
        "xl/styles.xml": _STYLES,
    }


def write_workbook(
    sheets: Sequence[tuple[str, pd.DataFrame, list[float]]],
    path: str | Path,
    *,
    unreachable: object,
    creator: str,
    created: dt.datetime,
) -> Path:
    """Write ``sheets`` — (title, table, column widths), titles already valid and unique — to
    an XLSX file at ``path`` (written in place: the caller makes it atomic)."""
    if not sheets:
        raise ValueError("write_workbook: no sheet")
    strings = SharedStrings()
    parts = _package_parts([t for t, _, _ in sheets], creator, created)
    stamp = created.timetuple()[:6]

    def entry(name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3  # the same header bytes on every platform
        info.external_attr = 0o644 << 16
        return info

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in parts.items():
            book.writestr(entry(name), text.encode("utf-8"), compresslevel=6)
        for i, (_, frame, widths) in enumerate(sheets, 1):
            headers = [str(c) for c in frame.columns]
            data = _sheet_xml(frame, headers, widths, strings, unreachable, i == 1)
            # Level 1: 3.5 times faster than 6 on the 1.4 M cells of 100,000 services, 25 % larger.
            book.writestr(entry(f"xl/worksheets/sheet{i}.xml"), data, compresslevel=1)
        book.writestr(entry("xl/sharedStrings.xml"), strings.xml(), compresslevel=6)
    return Path(path)
