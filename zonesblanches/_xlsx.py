"""Byte-reproducible XLSX files: the same workbook written twice gives the same bytes.

openpyxl stamps the save time in ``docProps/core.xml`` (``dcterms:modified``, and
``dcterms:created`` unless set) and every zip entry carries a time (the save time, or the
modification time of the temporary sheet files of a write-only workbook). :func:`make_reproducible`
rewrites a saved workbook with those times fixed; the content and the entry order (already
deterministic) are kept.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zipfile
from pathlib import Path

FIXED_TIME = dt.datetime(2000, 1, 1)
"""Date written in the workbook properties and on every zip entry (UTC, naive)."""

_CORE = "docProps/core.xml"
_STAMP = re.compile(rb"(<dcterms:(created|modified)\b[^>]*>)[^<]*(</dcterms:\2>)")


def make_reproducible(path: str | os.PathLike) -> Path:
    """Rewrite the XLSX file at ``path`` in place with fixed timestamps; return its path.

    The creation and modification dates of the workbook properties become :data:`FIXED_TIME`,
    as does the date of every zip entry; entries keep their order, names, content and
    compression (deflate). The file stays a valid workbook for Excel, LibreOffice, openpyxl
    and pandas.
    """
    path = Path(path)
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as src:
        entries = [(info.filename, src.read(info)) for info in src.infolist()]
    tmp = path.with_name(path.name + ".zip.part")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
            for name, data in entries:
                if name == _CORE:
                    data = _STAMP.sub(lambda m: m.group(1) + stamp + m.group(3), data)
                info = zipfile.ZipInfo(name, date_time=FIXED_TIME.timetuple()[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # the same header bytes on every platform
                info.external_attr = 0o644 << 16
                dst.writestr(info, data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
