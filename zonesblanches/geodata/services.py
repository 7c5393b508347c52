"""Reading a user's services file: validation, rejects and commune-level geocoding.

Files are read by :mod:`zonesblanches.geodata._tables`; rows are checked by
:mod:`zonesblanches.geodata._service_validator` (columns, name, category, id, statut) and placed
by :mod:`zonesblanches.geodata._service_places` (coordinates, else the commune, with
:mod:`zonesblanches.geodata.communes`); this module reads a file into a :class:`ServicesRead`.

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
* A row with an ``adresse`` and no coordinates is geocoded through the Géoplateforme batch
  geocoder (:mod:`zonesblanches.geodata.geocodage`, as data·inclusion rows are): ``precision``
  ``adresse``, ``rue`` or ``commune`` from the answer; below the score threshold, not found, or
  the geocoder unreachable, the row goes to its commune (next rule) and is flagged; offline,
  cached answers only, and a warning says how many addresses were not geocoded.
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

from collections import Counter
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from zonesblanches._text import fr_count, fr_plural
from zonesblanches.crs import WGS84
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata._service_fields import match_columns, parse_crs
from zonesblanches.geodata._service_log import REJECT_COLS, lines_text
from zonesblanches.geodata._service_places import FRANCE_BBOX
from zonesblanches.geodata._service_validator import Validator
from zonesblanches.geodata._tables import file_kind, read_table
from zonesblanches.geodata.communes import CommuneIndex
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
    flags: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLS))
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
            f"{name} : {fr_count(self.rows, 'ligne lue', 'lignes lues')}, "
            f"{fr_count(n, 'service retenu', 'services retenus')} "
            f"({n - n_commune} par coordonnées, {n_commune} à la commune), "
            f"{fr_count(len(self.rejects), 'ligne rejetée', 'lignes rejetées')}, "
            f"{fr_count(len(self.warnings), 'avertissement')}"
        )

    def __repr__(self) -> str:
        lines = [f"ServicesRead({self._summary()})"]
        lines += [f"  ⚠ {w}" for w in self.warnings]
        for _, r in self.rejects.head(10).iterrows():
            lines.append(f"  ✗ ligne {r['ligne']} — {r['champ']} : {r['motif']}")
        if len(self.rejects) > 10:
            more = len(self.rejects) - 10
            lines.append(
                f"  … et {fr_count(more, 'autre ligne rejetée', 'autres lignes rejetées')}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        parts = [f"<p><b>{html.escape(self._summary())}</b></p>"]
        if self.warnings:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
            parts.append(f"<p>Avertissements :</p><ul>{items}</ul>")
        if len(self.rejects):
            parts.append("<p>Lignes rejetées :</p>")
            parts.append(self.rejects[list(REJECT_COLS)].head(20).to_html(index=False))
        return "".join(parts)


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
    geocoder=None,
    geocode: bool = True,
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
    geocoder : zonesblanches.geodata.geocodage.Geocoder, optional
        Geocoder of the rows with an address and no coordinates; default a
        :class:`~zonesblanches.geodata.geocodage.Geocoder` with default settings (offline:
        cached answers only).
    geocode : bool
        ``False``: no address geocoding, such rows go to their commune as before.

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
    reader = Validator(raw, src_crs, index, path, geocoder=geocoder, geocode=geocode)
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
    frame = rejects if len(rejects.columns) else pd.DataFrame(columns=list(REJECT_COLS))
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


# ----------------------------------------------------------------------------------------------
# Territory and final checks
# ----------------------------------------------------------------------------------------------


def _flag_territory(
    services: gpd.GeoDataFrame, geom: shapely.Geometry | None, lines: np.ndarray, unit: str
) -> tuple[gpd.GeoDataFrame, str | None, pd.DataFrame]:
    empty = pd.DataFrame(columns=list(REJECT_COLS))
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
        f"{fr_count(int(outside.sum()), 'service')} hors du territoire analysé, "
        f"{fr_plural(int(outside.sum()), 'conservé')} et {fr_plural(int(outside.sum()), 'marqué')} "
        f"hors_territoire : {lines_text(out_lines, unit)}."
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
    main = ", ".join(f"{champ} ({fr_count(n, 'ligne')})" for champ, n in counts.most_common(4))
    first = rejects.iloc[0]
    unit = (
        "entité"
        if result.path and file_kind(result.path.suffix.lower(), b"") == "vector"
        else "ligne"
    )
    where = f" Détail de chaque ligne dans {rejects_path}." if rejects_path is not None else ""
    return (
        f"Aucun service utilisable dans « {name} » : "
        f"{fr_count(result.rows, 'ligne lue', 'lignes lues')}, "
        f"{fr_count(len(rejects), 'rejetée')}. Champs en cause : {main}. Exemple, {unit} {first['ligne']} — "
        f"{first['champ']} : {first['motif']}.{where}"
    )
