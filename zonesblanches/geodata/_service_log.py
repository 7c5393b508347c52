"""The row log of a services file being validated: rejects, flags and warnings, by row.

Shared by the two halves of the validator of :mod:`zonesblanches.geodata.services`: where a
row is (:mod:`zonesblanches.geodata._service_places`) and what it says
(:mod:`zonesblanches.geodata._service_validator`). A row's position (``pos``, from 0) is its
index in the table read; its line (``ligne``) is what a spreadsheet shows, or the feature
number of a vector file.
"""

from __future__ import annotations

from functools import lru_cache

from zonesblanches._text import normalize
from zonesblanches.geodata._tables import RawTable

REJECT_COLS = ("ligne", "champ", "motif")
"""First columns of the rejects and flags tables."""


@lru_cache(maxsize=65536)
def norm(text: str) -> str:
    """:func:`zonesblanches._text.normalize`, cached (a file repeats the same few values)."""
    return normalize(text)


def lines_text(lines: list[int], unit: str = "ligne", limit: int = 10) -> str:
    """« ligne 4 », « lignes 2, 5, 9 » or « lignes 2, 5… (40 au total) »."""
    lines = sorted(lines)
    plural = "entités" if unit == "entité" else "lignes"
    if len(lines) == 1:
        return f"{unit} {lines[0]}"
    shown = ", ".join(str(n) for n in lines[:limit])
    if len(lines) > limit:
        return f"{plural} {shown}… ({len(lines)} au total)"
    return f"{plural} {shown}"


class RowLog:
    """The rows of a table and what was found about them.

    Attributes
    ----------
    raw : RawTable
        The table read.
    cols : dict
        Field → the file's column name (set by the validator).
    problems : dict
        Row position → ``[(champ, motif), …]``: the row is rejected.
    flags : list
        ``(ligne, champ, motif)`` of kept rows that were corrected or flagged.
    warnings : list of str
        French sentences for the user.
    """

    def __init__(self, raw: RawTable):
        self.raw = raw
        self.n = len(raw.table)
        self.cols: dict[str, str] = {}
        self.problems: dict[int, list[tuple[str, str]]] = {}
        self.flags: list[tuple[int, str, str]] = []
        self.warnings: list[str] = []
        self._text: dict[str, list[str]] = {}

    def text(self, name: str) -> list[str]:
        """Stripped values of a field (empty strings if the file lacks it); do not modify."""
        if name not in self._text:
            col = self.cols.get(name)
            values = self.raw.table[col].tolist() if col is not None else [""] * self.n
            self._text[name] = [str(v).strip() for v in values]
        return self._text[name]

    def reject(self, pos: int, champ: str, motif: str) -> None:
        if pos in self.raw.extra and pos in self.problems:
            return  # a row split by a stray separator: its other values are meaningless
        self.problems.setdefault(pos, []).append((champ, motif))

    def flag(self, pos: int, champ: str, motif: str) -> None:
        self.flags.append((int(self.raw.lines[pos]), champ, motif))

    def _lines(self, positions) -> str:
        return lines_text([int(self.raw.lines[p]) for p in positions], self.raw.unit)
