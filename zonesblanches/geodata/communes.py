"""Commune codes and names: one normalisation, former codes, and the commune index.

Every path that reads a code INSEE goes through :func:`normalize_insee` (the territory
selection, the services file, the QPV file, the scenario places): it trims, removes the ``.0``
a spreadsheet adds, restores the leading zero a number lost (``2691`` → ``02691``) and folds the
arrondissements of Paris, Lyon and Marseille into their commune (``75119`` → ``75056``), as
every commune table of the project has one row per commune. :func:`current_code` then maps a
former code (commune déléguée, associée, merged) to its 2026 commune. :class:`CommuneIndex`
locates a service by code, name or postcode, with reasons in French when it cannot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, lru_cache

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from zonesblanches._text import closest, fr_plural, normalize
from zonesblanches.errors import ParameterError
from zonesblanches.geodata import reference

MAX_SUGGESTIONS = 300
"""Names for which close matches are looked up (difflib costs ~0.1 s a name)."""

_ARRONDISSEMENTS = (
    (re.compile(r"^751(0[1-9]|1[0-9]|20)$"), "75056"),
    (re.compile(r"^6938[1-9]$"), "69123"),
    (re.compile(r"^132(0[1-9]|1[0-6])$"), "13055"),
)


def clean_code(value: object) -> str:
    """A code as text: spaces removed, upper case, ``.0`` dropped, zero-padded to 5 when digits.

    For postcodes and codes INSEE alike (no folding of arrondissements: ``75116`` is also a
    postcode). ``None`` and NaN give ``""``.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    code = re.sub(r"\s+", "", str(value)).upper()
    if re.fullmatch(r"\d+\.0+", code):
        code = code.split(".")[0]
    if re.fullmatch(r"\d{1,4}", code):
        code = code.zfill(5)
    return code


def normalize_insee(code: object) -> str:
    """Repair one commune code: text, trimmed, zero-padded to 5, arrondissements folded.

    ``2691`` (integer that lost its zero) → ``"02691"``; ``"59606.0"`` → ``"59606"``;
    ``"75119"`` → ``"75056"``; ``"2A004"`` unchanged. Anything else is returned cleaned.
    """
    s = clean_code(code)
    for pattern, commune in _ARRONDISSEMENTS:
        if pattern.match(s):
            return commune
    return s


def is_insee_code(code: str) -> bool:
    """True for a well-formed code INSEE (5 digits, or ``2A``/``2B`` and 3 digits)."""
    return bool(_CODE_RE.match(code))


@cache
def _former_codes() -> dict[str, str]:
    return reference.load_former_communes().set_index("code")["code_insee"].to_dict()


def former_codes() -> dict[str, str]:
    """Former code → 2026 code INSEE, from the bundled COG (a copy)."""
    return dict(_former_codes())


def current_code(code: object, known: set[str] | pd.Index) -> str | None:
    """The 2026 code of ``code`` among ``known`` (itself, or its successor), else ``None``."""
    code = normalize_insee(code)
    if code in known:
        return code
    successor = _former_codes().get(code)
    return successor if successor in known else None


_CODE_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
_CEDEX_RE = re.compile(r"\s+cedex(\s+\d+)?$")
_PAREN_RE = re.compile(r"\s*\(.*\)\s*$")


def departement_of(code: str) -> str:
    """The département of a commune code (``97x`` overseas, else two characters)."""
    return code[:3] if code.startswith("97") else code[:2]


@dataclass
class CommuneIndex:
    """Lookups for commune-level geocoding: by code (former codes too), name, postcode.

    :meth:`locate` returns ``(row, note)`` or ``(None, (field, reason))``, the reason in French.
    """

    communes: gpd.GeoDataFrame
    by_code: dict[str, int]
    by_name: dict[str, list[int]]
    former_code: dict[str, str]
    former_name: dict[str, list[int]]
    by_postcode: dict[str, list[int]]
    display: dict[str, str]
    departements: set[str]
    postcode_prefixes: set[str]
    names: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    lon: np.ndarray = field(default_factory=lambda: np.array([]))
    lat: np.ndarray = field(default_factory=lambda: np.array([]))
    suggestions: dict[str, list[str]] = field(default_factory=dict)
    bundled: bool = False
    """True for the bundled Hauts-de-France communes (the wording of reasons depends on it)."""
    _tree: shapely.STRtree | None = None

    @property
    def tree(self) -> shapely.STRtree:
        if self._tree is None:
            self._tree = shapely.STRtree(self.communes.geometry.values)
        return self._tree

    @classmethod
    def build(cls, communes: gpd.GeoDataFrame | None) -> CommuneIndex:
        if communes is None:
            return bundled_index()
        missing = {"code_insee", "nom", "lon", "lat"} - set(communes.columns)
        if missing:
            raise ParameterError(
                f"Communes de géocodage incomplètes : "
                f"{fr_plural(len(missing), 'colonne manquante', 'colonnes manquantes')} "
                f"{', '.join(sorted(missing))}."
            )
        communes = communes.reset_index(drop=True)
        codes = communes["code_insee"].astype(str).tolist()
        by_code = {c: i for i, c in enumerate(codes)}
        by_name: dict[str, list[int]] = {}
        display: dict[str, str] = {}
        for i, name in enumerate(communes["nom"].astype(str)):
            by_name.setdefault(normalize(name), []).append(i)
            display.setdefault(normalize(name), name)
        former = reference.load_former_communes()
        former = former[former["code_insee"].isin(by_code)]
        former_code = dict(zip(former["code"], former["code_insee"], strict=True))
        for code in codes:
            former_code.pop(code, None)
        former_name: dict[str, list[int]] = {}
        for name, code in zip(former["nom"], former["code_insee"], strict=True):
            if name and by_code[code] not in former_name.setdefault(normalize(name), []):
                former_name[normalize(name)].append(by_code[code])
        by_postcode: dict[str, list[int]] = {}
        if "codes_postaux" in communes:
            for i, cps in enumerate(communes["codes_postaux"].fillna("").astype(str)):
                for cp in filter(None, cps.split(";")):
                    by_postcode.setdefault(cp.strip(), []).append(i)
        departements = {departement_of(c) for c in codes}
        prefixes = {cp[:2] for cp in by_postcode} or departements
        names = communes["nom"].astype(str).tolist()
        return cls(
            communes,
            by_code,
            by_name,
            former_code,
            former_name,
            by_postcode,
            display,
            departements,
            prefixes,
            names=names,
            codes=codes,
            keys=[normalize(n) for n in names],
            lon=communes["lon"].to_numpy(dtype=float),
            lat=communes["lat"].to_numpy(dtype=float),
        )

    def name(self, i: int) -> str:
        return self.names[i]

    def code(self, i: int) -> str:
        return self.codes[i]

    @property
    def what(self) -> str:
        return "données embarquées (Hauts-de-France)" if self.bundled else "communes fournies"

    @property
    def out(self) -> str:
        return "des Hauts-de-France" if self.bundled else "des communes fournies"

    @property
    def within(self) -> str:
        return "en Hauts-de-France" if self.bundled else "parmi les communes fournies"

    def label(self, i: int) -> str:
        return f"{self.name(i)} ({self.code(i)})"

    def _outside(self) -> str:
        return (
            f"les {self.what} ne couvrent que les départements "
            f"{', '.join(sorted(self.departements))}"
        )

    def locate(self, code: str, name: str, postcode: str, cols: dict[str, str]):
        """Return ``(index, note)`` or ``(None, (field, reason))``."""
        if code:
            return self._by_code(code, name, cols)
        if name:
            return self._by_name(name, postcode, cols)
        if postcode:
            return self._by_postcode(postcode, cols)
        return None, (
            ", ".join(cols.get(f, f) for f in ("commune", "code_insee") if f in cols)
            or "localisation",
            "ni coordonnées ni commune : impossible de placer ce service",
        )

    def _by_code(self, raw: str, name: str, cols: dict[str, str]):
        col = cols["code_insee"]
        code = normalize_insee(raw)
        if not _CODE_RE.match(code):
            return None, (col, f"code INSEE « {raw} » invalide : 5 caractères attendus (ex. 59350)")
        if code in self.by_code:
            return self.by_code[code], self._name_check(self.by_code[code], name)
        if code in self.former_code:
            i = self.by_code[self.former_code[code]]
            return i, f"code INSEE ancien {code} remplacé par {self.label(i)}"
        if departement_of(code) not in self.departements:
            return None, (
                col,
                f"commune {code} hors {self.out} (département {departement_of(code)}) : "
                + self._outside(),
            )
        hint = self._suggest(name) if name else ""
        return None, (col, f"code INSEE {code} inconnu (géographie 2026){hint}")

    def _name_check(self, i: int, name: str) -> str | None:
        if not name:
            return None
        key = name_key(name)
        if key == self.keys[i] or i in self.former_name.get(key, []):
            return None
        words = set(key.split())
        if words and any(
            words <= set(k.split()) for k, idx in self.former_name.items() if i in idx
        ):
            return None
        return f"le code INSEE désigne {self.label(i)}, pas « {name} » : le code est retenu"

    def _by_name(self, name: str, postcode: str, cols: dict[str, str]):
        col = cols["commune"]
        key = name_key(name)
        candidates = self.by_name.get(key) or self.former_name.get(key, [])
        cp = clean_code(postcode) if postcode else ""
        if candidates and cp:
            kept = [i for i in candidates if i in self.by_postcode.get(cp, [])]
            if not kept:
                return None, (
                    f"{col}, {cols.get('code_postal', 'code_postal')}",
                    f"aucune commune « {name} » n'a le code postal {cp} {self.within} ; "
                    f"communes de ce nom : {', '.join(self._with_postcodes(candidates))}",
                )
            candidates = kept
        if len(candidates) == 1:
            i = candidates[0]
            note = None if key == self.keys[i] else f"« {name} » → {self.label(i)}"
            return i, note
        if len(candidates) > 1:
            return None, (
                col,
                f"plusieurs communes s'appellent « {name} » : "
                f"{', '.join(self._with_postcodes(candidates))} ; ajoutez le code postal "
                "ou le code INSEE",
            )
        if cp and cp[:2] not in self.postcode_prefixes:
            return None, (
                col,
                f"commune « {name} » ({cp}) hors {self.out} : " + self._outside(),
            )
        return None, (
            col,
            f"commune « {name} » introuvable {self.within}{self._suggest(name)}",
        )

    def _by_postcode(self, raw: str, cols: dict[str, str]):
        col = cols["code_postal"]
        cp = clean_code(raw)
        candidates = self.by_postcode.get(cp, [])
        if len(candidates) == 1:
            return candidates[0], None
        if candidates:
            return None, (
                col,
                f"le code postal {cp} couvre {len(candidates)} communes : indiquez la commune "
                "ou le code INSEE",
            )
        if cp[:2] not in self.postcode_prefixes:
            return None, (col, f"code postal {cp} hors {self.out} : " + self._outside())
        return None, (col, f"code postal « {raw} » inconnu {self.within}")

    def _with_postcodes(self, idx: list[int]) -> list[str]:
        out = []
        for i in idx:
            cps = ""
            if "codes_postaux" in self.communes:
                cps = str(self.communes["codes_postaux"].iat[i]).replace(";", ", ")
            out.append(f"{self.name(i)} ({cps or self.code(i)}, code INSEE {self.code(i)})")
        return out

    def _suggest(self, name: str) -> str:
        key = name_key(name)
        if key not in self.suggestions:
            if len(self.suggestions) >= MAX_SUGGESTIONS:
                return ""  # difflib costs ~0.1 s a name: a file of typos must not take minutes
            self.suggestions[key] = closest(key, self.display)
        hits = self.suggestions[key]
        return f" ; vouliez-vous dire : {', '.join(hits)} ?" if hits else ""


@cache
def bundled_index() -> CommuneIndex:
    """The index of the bundled communes (built once)."""
    index = CommuneIndex.build(reference.load_communes())
    index.bundled = True
    return index


@lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """Matching key of a commune name: normalised, without « (…) » or « CEDEX »."""
    text = _PAREN_RE.sub("", name.strip())
    return _CEDEX_RE.sub("", normalize(text))


__all__ = [
    "CommuneIndex",
    "bundled_index",
    "clean_code",
    "current_code",
    "departement_of",
    "former_codes",
    "is_insee_code",
    "name_key",
    "normalize_insee",
]
