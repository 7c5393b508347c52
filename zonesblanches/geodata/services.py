"""Reading a user's services file: validation, rejects and commune-level geocoding.

Files are read by :mod:`zonesblanches.geodata._tables`, communes located by
:mod:`zonesblanches.geodata.communes`; this module validates the rows.

>>> from zonesblanches.geodata.services import read_services
>>> lu = read_services("mes_services.csv", rejects_path="rejets.csv")   # doctest: +SKIP
>>> lu.services.head()                                                    # doctest: +SKIP
>>> lu.rejects[["ligne", "champ", "motif"]]                               # doctest: +SKIP

Formats
-------
* CSV (``.csv``, ``.txt``, ``.tsv``): separator ``,``, ``;`` or tab, guessed from the file; UTF-8
  (with or without BOM), UTF-16 with BOM (Excel « Texte Unicode »), else Windows-1252 / Latin-1
  (said in a warning); a UTF-8 file with a few non-UTF-8 lines keeps UTF-8 and reads only those
  lines as Windows-1252 (named in the warning). Cells of any length are read. French decimal
  commas (``50,357``) are accepted in numbers. Files over 200 Mo and anything that is not a
  regular file (``/dev/zero``, a pipe) are refused before reading.
* Excel (``.xlsx``, ``.xlsm``) via openpyxl: first sheet, or ``sheet=`` (name or 0-based number;
  the command line's ``--feuille`` takes a name or a number from 1). An empty first sheet in a
  workbook with others is an error that lists them; formulas saved without a computed value
  reject their row, naming the formula; a zip that is not a workbook is said to be one.
* Any vector file pyogrio reads (GeoJSON, GeoPackage, Shapefile…): first layer, or ``layer=``; the
  file's own CRS is used. The content decides, not the name: an Excel workbook named ``.csv`` is
  read as Excel (with a warning).

Columns
-------
The names accepted for each field are listed in :mod:`zonesblanches.geodata._service_fields`.
``nom`` and ``categorie`` are required, plus a location: coordinates (or a geometry), or a commune
(``code_insee``, else ``commune`` (+ ``code_postal`` for homonyms), else a ``code_postal`` that
covers a single commune). Other columns are ignored (listed in a warning).

Decisions
---------
* One rejected row = one line of ``rejects``, with every reason found (fields joined by ``, ``,
  reasons by `` ; ``). ``ligne`` is the row number a spreadsheet shows (header = 1) for CSV/XLSX,
  the feature number (from 1) for vector files. Blank rows are skipped silently.
* Coordinates win over the commune. Wrong coordinates are rejected (never silently replaced by the
  commune): outside metropolitan France (its bounding box, Corsica included), non-numeric, (0, 0),
  or Lambert-93-looking values read as degrees (the reason says to give ``crs="EPSG:2154"``).
  A pair outside France that falls inside once swapped is swapped, kept and listed in warnings.
* Non-point geometries are kept at a point inside them (``representative_point`` after
  ``make_valid``), with a warning. A missing geometry is located at the commune if the feature
  names one, else rejected.
* A row whose coordinates fall outside the commune its ``code_insee`` declares (or outside every
  known commune) keeps its coordinates and is flagged with the distance to the declared commune.
* Commune geocoding uses the bundled 2026 communes (Hauts-de-France): code INSEE (integer codes
  such as ``2722`` are padded, former codes mapped to today's commune), else name (+ postcode),
  at the commune's interior point, ``precision = "commune"``. For coordinates, ``commune`` and
  ``code_insee`` are those of the commune the point falls in (left as given outside the region).
* Duplicated ``service_id``: the first row is kept, later ones are rejected (ids are not remade:
  a duplicate is usually the same service twice). Rows without id that repeat a kept row exactly
  are rejected too. Missing ids become ``U-<ligne>`` (e.g. ``U-0007``), stable for a given file.
* Text is stripped, otherwise kept verbatim (``<script>`` stays as written: escaping is the map's
  job). ``statut`` « Actif » / « à vérifier » is normalised to ``actif`` / ``a_verifier``; an
  empty ``source`` becomes the file name.
* ``territory``: points outside it are kept with ``hors_territoire = True`` and a warning (a
  service just across the limit still serves the territory's inhabitants).
* The rejects file (``rejects_path``) is always written, header only when nothing is rejected, so
  an output folder never keeps the rejects of an earlier run, in the project's CSV dialect
  (:mod:`zonesblanches.writers`). If no row is usable, :class:`DataError` is raised after writing
  it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from os import PathLike
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from zonesblanches._text import normalize
from zonesblanches.crs import WGS84
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata._service_fields import SYNONYMS, match_columns, parse_crs
from zonesblanches.geodata._tables import RawTable, file_kind, read_table
from zonesblanches.geodata.categories import CATEGORIES, category_code
from zonesblanches.geodata.communes import CommuneIndex, normalize_insee
from zonesblanches.writers import write_csv

__all__ = [
    "FRANCE_BBOX",
    "OUTPUT_COLUMNS",
    "ServicesRead",
    "match_columns",
    "read_services",
    "write_rejects",
]

OUTPUT_COLUMNS = (
    "service_id",
    "nom",
    "categorie",
    "commune",
    "code_insee",
    "adresse",
    "statut",
    "date_source",
    "source",
    "notes",
    "precision",
)
"""Columns of :attr:`ServicesRead.services` (those of the bundled registry), before
``hors_territoire`` and ``geometry``."""

FRANCE_BBOX = (-5.5, 41.0, 10.0, 51.5)
"""Bounding box (lon min, lat min, lon max, lat max) of metropolitan France with Corsica and a
margin of a few km: Ouessant is at 5.14° W, Lauterbourg 8.23° E, Corsica 9.56° E and 41.33° N,
Bray-Dunes 51.09° N. A box also holds bits of neighbouring countries: it catches gross errors
(swapped or projected coordinates, another continent), not a point 5 km over the border."""

_LAMBERT93_BOX = (0.0, 6.0e6, 1.3e6, 7.2e6)
"""Range of Lambert-93 (x, y) over metropolitan France, to recognise it when read as degrees."""


_REQUIRED = ("nom", "categorie")
_LOCATION = ("code_insee", "commune", "code_postal")

_STATUTS = {
    "actif": "actif",
    "active": "actif",
    "a verifier": "a_verifier",
    "averifier": "a_verifier",
}


# ----------------------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------------------


@dataclass
class ServicesRead:
    """What :func:`read_services` read from a file.

    Attributes
    ----------
    services : geopandas.GeoDataFrame
        Usable services, EPSG:4326 points, columns :data:`OUTPUT_COLUMNS` + ``hors_territoire``
        (bool) + ``geometry``; ``precision`` is ``coordonnees`` or ``commune``.
    rejects : pandas.DataFrame
        One line per rejected row: ``ligne`` (row number as seen in the file), ``champ`` (the
        file's column name(s)), ``motif`` (French), then the row's original values.
    warnings : list of str
        French sentences: corrections made (swapped coordinates), points outside the territory,
        encoding fallback, ignored columns, former commune codes…
    flags : pandas.DataFrame
        Kept rows that were corrected or flagged: ``ligne``, ``champ``, ``motif``.
    path : pathlib.Path or None
        The file read.
    rows : int
        Non-blank data rows in the file.
    """

    services: gpd.GeoDataFrame
    rejects: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    flags: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_REJECT_COLS))
    path: Path | None = None
    rows: int = 0

    @property
    def problems(self) -> int:
        """Rejected rows plus kept rows that were corrected or flagged (distinct rows)."""
        flagged = int(self.flags["ligne"].nunique()) if len(self.flags) else 0
        return len(self.rejects) + flagged

    def _summary(self) -> str:
        n = len(self.services)
        n_commune = int((self.services["precision"] == "commune").sum()) if n else 0
        name = self.path.name if self.path else "fichier"
        return (
            f"{name} : {self.rows} ligne(s) lue(s), {n} service(s) retenu(s) "
            f"({n - n_commune} par coordonnées, {n_commune} à la commune), "
            f"{len(self.rejects)} ligne(s) rejetée(s), {len(self.warnings)} avertissement(s)"
        )

    def __repr__(self) -> str:
        lines = [f"ServicesRead({self._summary()})"]
        lines += [f"  ⚠ {w}" for w in self.warnings]
        for _, r in self.rejects.head(10).iterrows():
            lines.append(f"  ✗ ligne {r['ligne']} — {r['champ']} : {r['motif']}")
        if len(self.rejects) > 10:
            lines.append(f"  … et {len(self.rejects) - 10} autre(s) ligne(s) rejetée(s)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        parts = [f"<p><b>{html.escape(self._summary())}</b></p>"]
        if self.warnings:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
            parts.append(f"<p>Avertissements :</p><ul>{items}</ul>")
        if len(self.rejects):
            parts.append("<p>Lignes rejetées :</p>")
            parts.append(self.rejects[list(_REJECT_COLS)].head(20).to_html(index=False))
        return "".join(parts)


_REJECT_COLS = ("ligne", "champ", "motif")


# ----------------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------------


def read_services(
    path: str | PathLike,
    *,
    crs: str | int | pyproj.CRS | None = None,
    communes: gpd.GeoDataFrame | None = None,
    territory: shapely.Geometry | gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    rejects_path: str | PathLike | None = None,
    sheet: str | int | None = None,
    layer: str | int | None = None,
) -> ServicesRead:
    """Read, check and locate a user's file of mobility-inclusion services.

    See the module documentation for the formats, the accepted column names and the rules.

    Parameters
    ----------
    path : str or path-like
        CSV, XLSX, GeoJSON, GeoPackage (or any vector file pyogrio reads).
    crs : str, int or pyproj.CRS, optional
        CRS of the x/y columns of a table (``"EPSG:2154"``, ``"2154"``, ``"lambert93"``…), or of
        a vector file that declares none. Default: longitude/latitude in degrees (WGS84).
    communes : geopandas.GeoDataFrame, optional
        Communes used for geocoding (columns ``code_insee``, ``nom``, ``lon``, ``lat``, optionally
        ``codes_postaux``, ``code_departement``); default: the bundled communes.
    territory : shapely geometry (EPSG:4326), GeoDataFrame or GeoSeries, optional
        Territory analysed: services outside it are kept and flagged ``hors_territoire``.
    rejects_path : str or path-like, optional
        Where to write the rejects (see :func:`write_rejects`); always written when given.
    sheet : str or int, optional
        Excel sheet (name or 0-based number); default: the first.
    layer : str or int, optional
        Layer of a vector file; default: the first.

    Returns
    -------
    ServicesRead

    Raises
    ------
    DataError
        Unreadable or corrupt file, missing required columns, or no usable row (raised after the
        rejects file is written).
    ParameterError
        Unknown ``crs``, ``sheet`` or ``layer``, or invalid ``communes``/``territory``.
    """
    path = Path(path)
    src_crs = parse_crs(crs)
    territory_geom = _territory_geometry(territory)
    index = CommuneIndex.build(communes)
    raw = read_table(path, sheet=sheet, layer=layer)
    reader = _Validator(raw, src_crs, index, path)
    services, rejects, flags = reader.run()
    warnings = raw.warnings + reader.warnings
    services, territory_warning, territory_flags = _flag_territory(
        services, territory_geom, reader.kept_lines, raw.unit
    )
    if territory_warning:
        warnings.append(territory_warning)
        flags = pd.concat([flags, territory_flags], ignore_index=True)
    result = ServicesRead(
        services, rejects, warnings, flags.reset_index(drop=True), path, len(raw.table)
    )
    if rejects_path is not None:
        write_rejects(rejects, rejects_path)
    if services.empty:
        raise DataError(_nothing_usable(result, rejects_path))
    return result


def write_rejects(rejects: pd.DataFrame, path: str | PathLike) -> Path:
    """Write rejected rows in the project's CSV dialect (:mod:`zonesblanches.writers`).

    The header is written even when there is no reject. Returns the path written.
    """
    frame = rejects if len(rejects.columns) else pd.DataFrame(columns=list(_REJECT_COLS))
    return write_csv(frame, path)


# ----------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------


def _territory_geometry(territory) -> shapely.Geometry | None:
    if territory is None:
        return None
    if isinstance(territory, gpd.GeoDataFrame | gpd.GeoSeries):
        geo = territory.geometry if isinstance(territory, gpd.GeoDataFrame) else territory
        if geo.crs is not None:
            geo = geo.to_crs(WGS84)
        return shapely.union_all(geo.values)
    if isinstance(territory, shapely.Geometry):
        return territory
    raise ParameterError(
        "Le territoire doit être une géométrie shapely (EPSG:4326) ou un GeoDataFrame, "
        f"pas {type(territory).__name__}."
    )


@lru_cache(maxsize=65536)
def _norm(text: str) -> str:
    return normalize(text)


# ----------------------------------------------------------------------------------------------
# Row validation
# ----------------------------------------------------------------------------------------------


def _number(text: str) -> float | None:
    """Parse a coordinate; ``None`` if empty; ``nan`` if not a number."""
    s = text.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    if not s:
        return None
    if "," in s and "." not in s and s.count(",") == 1:
        s = s.replace(",", ".")
    try:
        value = float(s)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _in_box(x: np.ndarray, y: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


def _category_list() -> str:
    return ", ".join(f"{c.code} ({c.label})" for c in CATEGORIES.values())


class _Validator:
    """Checks rows of a :class:`_Raw` table and builds the services, rejects and flags."""

    def __init__(self, raw: RawTable, crs: pyproj.CRS | None, index: CommuneIndex, path: Path):
        self.raw = raw
        self.crs = crs
        self.index = index
        self.path = path
        self.n = len(raw.table)
        self.problems: dict[int, list[tuple[str, str]]] = {}
        self.flags: list[tuple[int, str, str]] = []
        self.warnings: list[str] = []
        self._text: dict[str, list[str]] = {}
        self.cols = match_columns(list(raw.table.columns), projected=bool(crs and crs.is_projected))
        self._check_columns()

    # -- helpers --------------------------------------------------------------------------------

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
        return _lines_text([int(self.raw.lines[p]) for p in positions], self.raw.unit)

    # -- checks ---------------------------------------------------------------------------------

    def _check_columns(self) -> None:
        columns = list(self.raw.table.columns)
        missing = [f for f in _REQUIRED if f not in self.cols]
        has_coords = "lon" in self.cols and "lat" in self.cols
        located = (
            has_coords or self.raw.geometry is not None or any(f in self.cols for f in _LOCATION)
        )
        if ("lon" in self.cols) != ("lat" in self.cols) and self.raw.geometry is None:
            alone = "lon" if "lon" in self.cols else "lat"
            other = "latitude (ou y)" if alone == "lon" else "longitude (ou x)"
            raise DataError(
                f"« {self.path.name} » : colonne « {self.cols[alone]} » trouvée mais pas de "
                f"colonne {other}. Colonnes du fichier : {', '.join(columns)}."
            )
        if missing or not located:
            needs = [f"{f} (ou : {', '.join(SYNONYMS[f][1:5])})" for f in missing]
            if not located:
                needs.append(
                    "une localisation : longitude/latitude (ou x/y), code_insee, commune "
                    "ou code_postal"
                )
            raise DataError(
                f"« {self.path.name} » : colonne(s) obligatoire(s) introuvable(s) : "
                f"{' ; '.join(needs)}. Colonnes du fichier : {', '.join(columns)}."
            )
        used = set(self.cols.values())
        ignored = [c for c in columns if c not in used]
        if ignored:
            self.warnings.append(f"Colonnes non utilisées : {', '.join(ignored)}.")

    def run(self) -> tuple[gpd.GeoDataFrame, pd.DataFrame, pd.DataFrame]:
        for pos, cells in self.raw.formulas.items():
            for col, formula in cells:
                self.reject(
                    pos,
                    col,
                    f"formule sans valeur calculée « {formula} » : ouvrez le classeur dans Excel "
                    "ou LibreOffice et enregistrez-le (les valeurs sont alors calculées), ou "
                    "remplacez la formule par sa valeur",
                )
        for pos, cells in self.raw.extra.items():
            delim_hint = "(virgule décimale non protégée par des guillemets ?)"
            self.reject(
                pos,
                "(ligne entière)",
                f"{len(self.raw.table.columns) + len(cells)} valeurs pour "
                f"{len(self.raw.table.columns)} colonnes : séparateur dans une valeur {delim_hint}",
            )
        names = self.text("nom")
        for pos, name in enumerate(names):
            if not name:
                self.reject(pos, self.cols["nom"], "nom vide")
        categories = self._categories()
        lon, lat, precision = self._coordinates()
        communes, codes = self._communes(lon, lat, precision)
        keep = np.array([pos not in self.problems for pos in range(self.n)], dtype=bool)
        ids = self._ids(keep)
        keep = np.array([pos not in self.problems for pos in range(self.n)], dtype=bool)
        self.kept_lines = self.raw.lines[keep]
        statut = [_STATUTS.get(_norm(s).replace("_", " "), s) for s in self.text("statut")]
        source = [s or self.path.name for s in self.text("source")]
        data = {
            "service_id": ids,
            "nom": names,
            "categorie": categories,
            "commune": communes,
            "code_insee": codes,
            "adresse": self.text("adresse"),
            "statut": statut,
            "date_source": self.text("date_source"),
            "source": source,
            "notes": self.text("notes"),
            "precision": precision,
        }
        frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.items()})
        frame = frame[keep].reset_index(drop=True).astype(str)
        frame["hors_territoire"] = False
        services = gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(lon[keep], lat[keep]), crs=WGS84
        )
        return services, self._rejects(), pd.DataFrame(self.flags, columns=list(_REJECT_COLS))

    def _categories(self) -> list[str]:
        col = self.cols["categorie"]
        out = []
        codes: dict[str, str | None] = {}
        for pos, label in enumerate(self.text("categorie")):
            if label not in codes:
                codes[label] = category_code(label) if label else None
            code = codes[label]
            if code is None:
                what = f"catégorie inconnue « {label} »" if label else "catégorie vide"
                self.reject(pos, col, f"{what} ; catégories possibles : {_category_list()}")
            out.append(code or "")
        return out

    def _ids(self, keep: np.ndarray) -> list[str]:
        given = self.text("service_id")
        col = self.cols.get("service_id", "service_id")
        first_of_id: dict[str, int] = {}
        first_of_row: dict[tuple, int] = {}
        others = [
            [str(v).strip() for v in self.raw.table[c].tolist()]
            for c in self.raw.table.columns
            if c != col
        ]
        if self.raw.geometry is not None:
            others.append([g.wkt if g is not None else "" for g in self.raw.geometry])
        keys = list(zip(*others, strict=True)) if others else [()] * self.n
        for pos, key in enumerate(keys):
            if not keep[pos]:
                continue
            line = int(self.raw.lines[pos])
            sid = given[pos]
            if sid and sid in first_of_id:
                same = first_of_row.get(key) == first_of_id[sid]
                self.reject(
                    pos,
                    col,
                    f"identifiant « {sid} » déjà utilisé {self.raw.unit} {first_of_id[sid]}"
                    + (" (doublon exact)" if same else " (seule la première est gardée)"),
                )
                continue
            if not sid and key in first_of_row:
                self.reject(
                    pos,
                    "(ligne entière)",
                    f"doublon exact de la {self.raw.unit} {first_of_row[key]}",
                )
                continue
            if sid:
                first_of_id[sid] = line
            first_of_row.setdefault(key, line)
        taken = set(given)
        out = []
        for pos, sid in enumerate(given):
            if not sid:
                sid = f"U-{int(self.raw.lines[pos]):04d}"
                while sid in taken:
                    sid += "b"
                taken.add(sid)
            out.append(sid)
        return out

    # -- coordinates ----------------------------------------------------------------------------

    def _xy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, pyproj.CRS | None, str]:
        """Raw coordinates, a mask of rows that have some, the CRS and the field name."""
        x = np.full(self.n, np.nan)
        y = np.full(self.n, np.nan)
        has = np.zeros(self.n, dtype=bool)
        if self.raw.geometry is not None:
            return self._geometry_xy()
        if "lon" not in self.cols:
            return x, y, has, self.crs, ""
        champ = f"{self.cols['lon']}, {self.cols['lat']}"
        for pos, (a, b) in enumerate(zip(self.text("lon"), self.text("lat"), strict=True)):
            va, vb = _number(a), _number(b)
            if va is None and vb is None:
                continue
            has[pos] = True
            if va is None or vb is None:
                self.reject(pos, champ, "coordonnées incomplètes (une seule des deux est remplie)")
            elif math.isnan(va) or math.isnan(vb):
                bad = a if math.isnan(va) else b
                self.reject(pos, champ, f"coordonnée non numérique « {bad} »")
            else:
                x[pos], y[pos] = va, vb
        return x, y, has, self.crs, champ

    def _geometry_xy(self):
        geoms = self.raw.geometry
        x = np.full(self.n, np.nan)
        y = np.full(self.n, np.nan)
        values = geoms.values
        present = ~(shapely.is_missing(values) | shapely.is_empty(values))
        points = shapely.get_type_id(values) == 0
        other = np.flatnonzero(present & ~points)
        if len(other):
            fixed = shapely.make_valid(values[other])
            values = values.copy()
            values[other] = shapely.point_on_surface(fixed)
            for pos in other:
                self.flag(
                    pos,
                    "géométrie",
                    f"{geoms.values[pos].geom_type} remplacé par un point intérieur",
                )
            self.warnings.append(
                "Géométries non ponctuelles remplacées par un point intérieur : "
                f"{self._lines(other)}."
            )
        x[present] = shapely.get_x(values[present])
        y[present] = shapely.get_y(values[present])
        return x, y, present, self._vector_crs(geoms.crs, x, y), "géométrie"

    def _vector_crs(self, file_crs, x: np.ndarray, y: np.ndarray) -> pyproj.CRS | None:
        file_crs = pyproj.CRS.from_user_input(file_crs) if file_crs is not None else None
        if file_crs is None:
            if self.crs is None:
                self.warnings.append(
                    "Le fichier ne déclare pas de système de coordonnées : longitude/latitude "
                    "WGS84 supposées (précisez crs= sinon)."
                )
            return self.crs
        if self.crs is None or file_crs == self.crs:
            return file_crs
        finite = np.isfinite(x)
        not_degrees = finite.any() and bool(
            ((np.abs(x[finite]) > 180) | (np.abs(y[finite]) > 90)).mean() > 0.5
        )
        if file_crs.is_geographic and not_degrees:
            self.warnings.append(
                f"Le fichier se dit en {_crs_name(file_crs)} mais ses coordonnées ne sont pas "
                f"des degrés : le système indiqué, {_crs_name(self.crs)}, est utilisé."
            )
            return self.crs
        self.warnings.append(
            f"Le fichier déclare son système de coordonnées ({_crs_name(file_crs)}) : "
            f"crs={_crs_name(self.crs)} est ignoré."
        )
        return file_crs

    def _coordinates(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        x, y, has, crs, champ = self._xy()
        lon, lat = _to_lonlat(x, y, crs)
        ok = np.isfinite(lon) & np.isfinite(lat)
        inside = ok & _in_box(lon, lat, FRANCE_BBOX)
        slon, slat = _to_lonlat(y, x, crs)
        swapped = ok & ~inside & _in_box(slon, slat, FRANCE_BBOX)
        if swapped.any():
            lon[swapped], lat[swapped] = slon[swapped], slat[swapped]
            for pos in np.flatnonzero(swapped):
                self.flag(pos, champ, "coordonnées inversées (latitude/longitude) corrigées")
            self.warnings.append(
                "Coordonnées inversées (latitude à la place de la longitude) corrigées : "
                f"{self._lines(np.flatnonzero(swapped))}."
            )
        for pos in np.flatnonzero(ok & ~inside & ~swapped):
            self.reject(pos, champ, self._outside_reason(x[pos], y[pos], crs, pos))
        precision = ["commune"] * self.n
        declared = [_norm(p) == "commune" for p in self.text("precision")]
        for pos in np.flatnonzero(inside | swapped):
            precision[pos] = "commune" if declared[pos] else "coordonnees"
        lon[~(inside | swapped)] = np.nan
        lat[~(inside | swapped)] = np.nan
        self._has_coords = has
        return lon, lat, precision

    def _outside_reason(self, x: float, y: float, crs: pyproj.CRS | None, pos: int) -> str:
        given = f"({_fmt(x)}, {_fmt(y)})"
        if x == 0 and y == 0:
            return "coordonnées nulles (0, 0)"
        if crs is None or crs.is_geographic:
            if _in_box(np.array([x, y]), np.array([y, x]), _LAMBERT93_BOX).any():
                return (
                    f"coordonnées {given} en mètres, pas en degrés : elles ressemblent à du "
                    'Lambert-93 ; indiquez crs="EPSG:2154" (option --crs EPSG:2154)'
                )
            reason = f"coordonnées {given} hors de France métropolitaine"
            if any(self.text(f)[pos] for f in _LOCATION):
                reason += " ; videz-les pour placer le service au centre de sa commune"
        else:
            reason = f"coordonnées {given} hors de France métropolitaine une fois lues en {_crs_name(crs)}"
            if abs(x) <= 180 and abs(y) <= 90:
                reason += " : ce sont sans doute des degrés (retirez crs= / --crs)"
        return reason

    # -- communes -------------------------------------------------------------------------------

    def _communes(self, lon: np.ndarray, lat: np.ndarray, precision: list[str]):
        names, codes, cps = self.text("commune"), self.text("code_insee"), self.text("code_postal")
        out_name, out_code = list(names), [normalize_insee(c) if c else "" for c in codes]
        located = np.isfinite(lon)
        self._fill_from_points(lon, lat, located, out_name, out_code)
        index, notes, mismatches = self.index, [], []
        for pos in np.flatnonzero(~located & ~self._has_coords):
            i, note = index.locate(codes[pos], names[pos], cps[pos], self.cols)
            if i is None:
                self.reject(pos, *note)
                continue
            lon[pos], lat[pos] = index.lon[i], index.lat[i]
            out_name[pos], out_code[pos] = index.name(i), index.code(i)
            precision[pos] = "commune"
            if note and note.startswith("le code INSEE désigne"):
                mismatches.append(pos)
                self.flag(pos, self.cols["code_insee"], note)
            elif note:
                notes.append(f"{self.raw.unit} {int(self.raw.lines[pos])} : {note}")
        geocoded = np.flatnonzero(~located & ~self._has_coords & np.isfinite(lon))
        if len(geocoded):
            self.warnings.append(
                f"{len(geocoded)} service(s) sans coordonnées placé(s) au point intérieur de "
                f"leur commune (précision à la commune) : {self._lines(geocoded)}."
            )
        if notes:
            self.warnings.append(
                "Communes reconnues sous un autre nom ou code : " + " ; ".join(notes) + "."
            )
        if mismatches:
            self.warnings.append(
                "Code INSEE et nom de commune discordants (le code est retenu) : "
                f"{self._lines(mismatches)}."
            )
        return out_name, out_code

    def _fill_from_points(self, lon, lat, located, out_name, out_code) -> None:
        pos = np.flatnonzero(located)
        if not len(pos):
            return
        declared = list(out_code)
        pts, polys = self.index.tree.query(
            shapely.points(lon[pos], lat[pos]), predicate="intersects"
        )
        seen = set()
        for p, c in zip(pts, polys, strict=True):
            if p in seen:
                continue
            seen.add(p)
            out_name[pos[p]] = self.index.name(c)
            out_code[pos[p]] = self.index.code(c)
        self._check_declared(pos, lon, lat, declared, out_code, {pos[p] for p in seen})

    def _check_declared(self, positions, lon, lat, declared, found, matched) -> None:
        """Warn when the commune a row declares (code INSEE) is not where its coordinates are:
        the coordinates win, but a point in another commune, or far away, is often a typo."""
        index, notes = self.index, []
        col = self.cols.get("code_insee")
        for pos in positions:
            code = index.former_code.get(declared[pos], declared[pos])
            i = index.by_code.get(code)
            if not code or i is None or (pos in matched and found[pos] == code):
                continue
            km = _km(lon[pos], lat[pos], index.lon[i], index.lat[i])
            if pos in matched:
                where = (
                    f"les coordonnées sont à {index.name(index.by_code[found[pos]])} ({found[pos]})"
                )
            else:
                where = "les coordonnées sont hors des communes connues"
            distance = f"{km:,.0f}".replace(",", " ")
            text = (
                f"déclaré à {index.name(i)} ({code}) mais {where}, à {distance} km du centre "
                "de la commune déclarée ; les coordonnées sont retenues"
            )
            self.flag(pos, col or "code_insee", text)
            notes.append(f"{self.raw.unit} {int(self.raw.lines[pos])} : {text}")
        if notes:
            self.warnings.append(
                "Commune déclarée différente de celle des coordonnées : " + " ; ".join(notes) + "."
            )

    # -- rejects --------------------------------------------------------------------------------

    def _rejects(self) -> pd.DataFrame:
        table = self.raw.table
        rows = sorted(self.problems)
        head = pd.DataFrame(
            {
                "ligne": [int(self.raw.lines[p]) for p in rows],
                "champ": [", ".join(dict.fromkeys(c for c, _ in self.problems[p])) for p in rows],
                "motif": [" ; ".join(m for _, m in self.problems[p]) for p in rows],
            }
        )
        original = table.iloc[rows].reset_index(drop=True).astype(str)
        original.columns = [f"{c} (fichier)" if c in _REJECT_COLS else c for c in original.columns]
        if self.raw.geometry is not None:
            geoms = self.raw.geometry.values[rows]
            original["geometrie"] = [g.wkt if g is not None else "" for g in geoms]
        if self.raw.extra:
            original["valeurs_en_trop"] = [" | ".join(self.raw.extra.get(p, [])) for p in rows]
        return pd.concat([head, original], axis=1)


def _km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in km (spherical Earth, 6,371 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _to_lonlat(x: np.ndarray, y: np.ndarray, crs: pyproj.CRS | None):
    if crs is None or crs.is_geographic and crs.equals(pyproj.CRS(WGS84), ignore_axis_order=True):
        return x.astype(float).copy(), y.astype(float).copy()
    transformer = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    lon, lat = transformer.transform(x, y)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    lon[bad] = np.nan
    lat[bad] = np.nan
    # Values far outside the CRS's area can still transform to finite numbers: they then fail
    # the France box check.
    lon[np.isnan(x) | np.isnan(y)] = np.nan
    return lon, lat


def _crs_name(crs: pyproj.CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def _fmt(v: float) -> str:
    return f"{v:.6g}" if abs(v) < 1000 else f"{v:.0f}"


def _lines_text(lines: list[int], unit: str = "ligne", limit: int = 10) -> str:
    lines = sorted(lines)
    plural = "entités" if unit == "entité" else "lignes"
    if len(lines) == 1:
        return f"{unit} {lines[0]}"
    shown = ", ".join(str(n) for n in lines[:limit])
    if len(lines) > limit:
        return f"{plural} {shown}… ({len(lines)} au total)"
    return f"{plural} {shown}"


# ----------------------------------------------------------------------------------------------
# Territory and final checks
# ----------------------------------------------------------------------------------------------


def _flag_territory(
    services: gpd.GeoDataFrame, geom: shapely.Geometry | None, lines: np.ndarray, unit: str
) -> tuple[gpd.GeoDataFrame, str | None, pd.DataFrame]:
    empty = pd.DataFrame(columns=list(_REJECT_COLS))
    if geom is None or services.empty:
        return services, None, empty
    shapely.prepare(geom)
    inside = shapely.intersects_xy(geom, services.geometry.x.values, services.geometry.y.values)
    outside = ~inside
    services["hors_territoire"] = outside
    if not outside.any():
        return services, None, empty
    out_lines = [int(n) for n in lines[outside]]
    warning = (
        f"{int(outside.sum())} service(s) hors du territoire analysé, conservé(s) et marqué(s) "
        f"hors_territoire : {_lines_text(out_lines, unit)}."
    )
    flags = pd.DataFrame(
        {"ligne": out_lines, "champ": "géométrie", "motif": "hors du territoire analysé"}
    )
    return services, warning, flags


def _nothing_usable(result: ServicesRead, rejects_path) -> str:
    name = result.path.name if result.path else "fichier"
    rejects = result.rejects
    if rejects.empty:
        return f"Aucun service utilisable dans « {name} »."
    counts = Counter(rejects["champ"])
    main = ", ".join(f"{champ} ({n} ligne(s))" for champ, n in counts.most_common(4))
    first = rejects.iloc[0]
    unit = (
        "entité"
        if result.path and file_kind(result.path.suffix.lower(), b"") == "vector"
        else "ligne"
    )
    where = f" Détail de chaque ligne dans {rejects_path}." if rejects_path is not None else ""
    return (
        f"Aucun service utilisable dans « {name} » : {result.rows} ligne(s) lue(s), "
        f"{len(rejects)} rejetée(s). Champs en cause : {main}. Exemple, {unit} {first['ligne']} — "
        f"{first['champ']} : {first['motif']}.{where}"
    )
