"""The data·inclusion national inventory: download, read, classify, locate and merge services.

data·inclusion (GIP de l'inclusion) publishes every Monday, on data.gouv.fr (dataset
:data:`DATASET_ID`), a ``services`` table and a ``structures`` table in five formats, through
stable permalinks that redirect to the current file (:data:`RESOURCES`). This module turns the
``services`` table into the project's services:

1. **Read** (:func:`read_table`): parquet first (its list columns are real lists); csv (lists in
   their Python text form, ``"['a', 'b']"``), geojson, json (records) and xlsx also accepted. The
   format is recognised by content, not name. A file that is not the ``services`` table (another
   dataset, the ``structures`` table) or a corrupt/truncated one gives a :class:`DataError` in
   French.
2. **Mobility only**: rows without a ``mobilite--`` thématique are out of scope (counted).
3. ``depuis``: only services whose ``date_maj`` is on or after that date (rows without a date are
   left out too: they cannot be shown to be recent).
4. **Remote-only**: a service whose ``modes_accueil`` holds only ``a-distance`` is no place to go
   to: counted (per category), not mapped.
5. **Category** by the rule table of :mod:`zonesblanches.geodata.thematiques` (column
   ``regle_categorie``); a mobility service no rule places is rejected with its reason.
6. **Location**: given coordinates (``precision = coordonnees_fournies``) must fall in
   metropolitan France, else the row is rejected (overseas services are outside the tool's
   scope); rows without coordinates are geocoded from their address (Géoplateforme batch
   geocoder, :mod:`zonesblanches.geodata.geocodage`: ``adresse``, ``rue`` or ``commune``
   precision), else placed at their commune's point (``commune``); offline, or when the geocoder
   fails or scores under its threshold, the row falls back on its commune and the warning says
   so. A declared commune that disagrees with the coordinates is flagged (both communes named),
   the coordinates are kept.
7. ``zone``: only services inside the given geometry (territory plus margin) are kept.
8. **Duplicates**: two rows of the same category within 50 m that share their ``structure_id``
   or their normalised name are one service; the one kept has the best ``score_qualite``, then
   the latest ``date_maj``; its ``sources`` lists every source merged. Merged rows are listed.

Accounting (asserted by the tests): ``lus = retenus + fusionnes + rejetes + a_distance +
hors_mobilite + hors_zone + avant_depuis``; every rejected row is in ``rejects`` with its line,
field and reason.

Provenance: a download records the date and the dataset licence read from the data.gouv.fr API
(``license``), beside the file (``<table>.<format>.json``); :attr:`DataInclusionRead.provenance`
carries them to the outputs.
"""

from __future__ import annotations

import ast
import json
import os
import warnings as warnings_module
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from zonesblanches import settings
from zonesblanches._text import fr_count, normalize
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import DataError, NetworkUnavailableError, ParameterError
from zonesblanches.geodata import datagouv
from zonesblanches.geodata.cache import atomic_path, cache_dir
from zonesblanches.geodata.categories import CATEGORIES
from zonesblanches.geodata.thematiques import categorize, is_mobility, mobility_codes

DATASET_ID = "6233723c2c1e4a54af2f6b2d"
"""data.gouv.fr id of « Référentiel de l'offre d'insertion — liste des structures et services
d'insertion » (producer: plateforme de l'inclusion)."""

DATASET_PAGE = f"https://www.data.gouv.fr/fr/datasets/{DATASET_ID}/"

RESOURCES = {
    "services": {
        "parquet": "de4856b8-bb67-4b79-83bd-038e846a1774",
        "geojson": "307529c0-dcc5-449a-a88d-9290a8a86a14",
        "csv": "5abc151a-5729-4055-b0a9-d5691276f461",
        "json": "0eac1faa-66f9-4e49-8fb3-f0721027d89f",
        "xlsx": "de2eb57b-113d-48eb-95d2-59a69ba36eb1",
    },
    "structures": {
        "parquet": "915c05e8-77ea-44f6-9837-0f1eff897a54",
        "geojson": "42d46a21-eeef-433c-b3c3-961e1c37bc93",
        "csv": "fd4cb3ef-5c31-4c99-92fe-2cd8016c0ca5",
        "json": "4fc64287-e869-4550-8fb9-b1e0b7809ffa",
        "xlsx": "fad88958-c9a7-4914-a9b8-89d1285c210a",
    },
}
"""Resource ids of the permalinks ``…/datasets/r/<id>`` (publish_opendata of the producer)."""

HINT = (
    f"Téléchargez à la main la table « services » (format parquet) depuis {DATASET_PAGE} et "
    "passez-la avec --services FICHIER."
)

REQUIRED = ("id", "source", "nom", "thematiques")
"""Columns without which a table is not data·inclusion's ``services`` table."""

USED_COLUMNS = (
    "id",
    "structure_id",
    "source",
    "nom",
    "type",
    "thematiques",
    "modes_accueil",
    "commune",
    "code_postal",
    "code_insee",
    "adresse",
    "longitude",
    "latitude",
    "date_maj",
    "score_qualite",
    "lien_source",
)
LIST_COLUMNS = frozenset(
    {"thematiques", "publics", "mobilisable_par", "modes_accueil", "modes_mobilisation",
     "zone_eligibilite", "reseaux_porteurs"}
)  # fmt: skip

MERGE_DISTANCE_M = 50.0
"""Two rows of one category closer than this, same structure or same name, are one service."""

FRANCE_BBOX = (-5.5, 41.0, 10.0, 51.5)
"""Metropolitan France with Corsica (same box as the services validator)."""

PRECISIONS = ("coordonnees_fournies", "adresse", "rue", "commune")

OUTPUT_COLUMNS = (
    "service_id",
    "nom",
    "categorie",
    "regle_categorie",
    "commune",
    "code_insee",
    "code_postal",
    "adresse",
    "statut",
    "date_maj",
    "source",
    "sources",
    "score_qualite",
    "lien_source",
    "id_data_inclusion",
    "structure_id",
    "siret",
    "reseaux_porteurs",
    "type",
    "thematiques",
    "precision",
    "doublons",
)
"""Columns of :attr:`DataInclusionRead.services` before ``geometry``. ``statut`` is empty: the
planner fills it (actif / fermé / à vérifier)."""

_REJECT_COLUMNS = ("ligne", "champ", "motif", "id", "nom", "source", "commune", "code_insee")


# --------------------------------------------------------------------------------------------
# Download and cache
# --------------------------------------------------------------------------------------------


def permalink(table: str = "services", fmt: str = "parquet", base_url: str | None = None) -> str:
    """Permalink of a published table (``{api}/datasets/r/{resource id}``, answers a redirect)."""
    try:
        rid = RESOURCES[table][fmt]
    except KeyError as exc:
        raise ParameterError(
            f"Table « {table} » au format « {fmt} » inconnue : tables services ou structures, "
            "formats parquet, csv, geojson, json, xlsx."
        ) from exc
    return f"{datagouv.api_url(base_url)}datasets/r/{rid}"


def _download_dir(cache: str | os.PathLike | None) -> Path:
    path = cache_dir("telechargements", base=cache) / "data-inclusion"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_table(
    table: str = "services", fmt: str = "parquet", *, cache: str | os.PathLike | None = None
) -> tuple[Path, dict] | None:
    """The downloaded copy of a table and its record (date, licence), or ``None``."""
    folder = _download_dir(cache)
    path, record = folder / f"{table}.{fmt}", folder / f"{table}.{fmt}.json"
    if not (path.is_file() and record.is_file() and path.stat().st_size):
        return None
    try:
        meta = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return path, meta


def download_table(
    table: str = "services",
    fmt: str = "parquet",
    *,
    cache: str | os.PathLike | None = None,
    base_url: str | None = None,
    progress: bool = True,
    force: bool = False,
) -> tuple[Path, dict]:
    """Download a data·inclusion table through its permalink into the cache, with its record.

    The dataset's API metadata gives the licence and the resource's last modification; a cached
    copy of the same modification is re-used. Offline (``ZONESBLANCHES_HORS_LIGNE=1``) or when
    data.gouv.fr cannot be reached, the cached copy is returned with a warning.

    Returns
    -------
    (pathlib.Path, dict)
        The file and its record: ``jeu``, ``table``, ``format``, ``ressource``, ``url``,
        ``licence``, ``mise_a_jour`` (resource date announced by the API), ``telecharge_le``.

    Raises
    ------
    NetworkUnavailableError
        No network (or offline switch) and no cached copy; the message says where to get the
        file by hand.
    DataError
        The downloaded file is not the announced one (size, checksum).
    """
    url = permalink(table, fmt, base_url)
    cached = cached_table(table, fmt, cache=cache)
    if settings.offline():
        if cached:
            return cached
        raise NetworkUnavailableError(
            "Mode hors ligne (ZONESBLANCHES_HORS_LIGNE=1) et aucune copie de l'inventaire "
            f"data·inclusion en cache. {HINT}"
        )
    try:
        meta = datagouv.get_dataset(DATASET_ID, base_url=base_url, hint=HINT)
    except NetworkUnavailableError:
        if cached and not force:
            warnings_module.warn(
                "data.gouv.fr injoignable : copie de l'inventaire data·inclusion téléchargée le "
                f"{cached[1].get('telecharge_le', '?')[:10]} utilisée.",
                UserWarning,
                stacklevel=2,
            )
            return cached
        raise
    rid = RESOURCES[table][fmt]
    res = next((r for r in meta["resources"] if isinstance(r, dict) and r.get("id") == rid), {})
    modified = str(res.get("last_modified") or "")
    if cached and not force and modified and cached[1].get("mise_a_jour") == modified:
        return cached
    folder = _download_dir(cache)
    dest = folder / f"{table}.{fmt}"
    datagouv.download(
        url,
        dest,
        progress=progress,
        label=f"Inventaire data·inclusion ({table}.{fmt})",
        what=f"la table « {table} » de data·inclusion",
        hint=HINT,
        expected_size=res.get("filesize"),
        checksum=res.get("checksum"),
    )
    record = {
        "jeu": DATASET_ID,
        "titre": meta.get("title"),
        "table": table,
        "format": fmt,
        "ressource": rid,
        "url": url,
        "licence": meta.get("license") or "non indiquée",
        "mise_a_jour": modified,
        "telecharge_le": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with atomic_path(folder / f"{table}.{fmt}.json") as tmp:
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    return dest, record


# --------------------------------------------------------------------------------------------
# Reading a table
# --------------------------------------------------------------------------------------------


def _kind(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(16)
    ext = path.suffix.lower()
    if head.startswith(b"PAR1") or ext == ".parquet":
        return "parquet"
    if head.startswith(b"PK\x03\x04") or ext in {".xlsx", ".xlsm"}:
        return "xlsx"
    if head.lstrip().startswith((b"{", b"[")) or ext in {".json", ".geojson"}:
        return "json"
    return "csv"


def _as_list(value: object) -> list[str]:
    """A list cell as a list of strings: real lists, numpy arrays, or their text form."""
    if value is None:
        return []
    if isinstance(value, np.ndarray):
        return [v for v in value.tolist() if v is not None]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None]
    if isinstance(value, float) and value != value:
        return []
    text = str(value).strip()
    if not text:
        return []
    if text[0] in "[{(":
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        if isinstance(parsed, list | tuple | set):
            return [str(v) for v in parsed if v is not None]
        text = text.strip("[](){}")
    return [t.strip().strip("'\"") for t in text.split(",") if t.strip().strip("'\"")]


def _table_columns(path: Path, kind: str) -> list[str]:
    if kind == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    if kind == "csv":
        return list(pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns)
    if kind == "xlsx":
        return list(pd.read_excel(path, nrows=0, engine="openpyxl").columns)
    frame = _read_json(path)
    return list(frame.columns)


def _read_json(path: Path) -> pd.DataFrame:
    with open(path, encoding="utf-8-sig") as f:
        data = json.load(f)
    if isinstance(data, dict) and isinstance(data.get("features"), list):
        rows = []
        for feat in data["features"]:
            props = dict(feat.get("properties") or {})
            coords = ((feat.get("geometry") or {}).get("coordinates")) or None
            if coords and props.get("longitude") in (None, "") and len(coords) >= 2:
                props["longitude"], props["latitude"] = coords[0], coords[1]
            rows.append(props)
        return pd.DataFrame(rows)
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        rows = data["data"]
        if rows and isinstance(rows[0], list) and isinstance(data.get("columns"), list):
            return pd.DataFrame(rows, columns=data["columns"])  # pandas orient="split"
        data = rows  # orient="table", or {"data": [records]}
    if isinstance(data, list):
        return pd.DataFrame(data)
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        first = next(iter(data.values()))
        if "id" in first and "id" not in data:  # pandas orient="index": {row: {column: value}}
            return pd.DataFrame(list(data.values()))
        return pd.DataFrame(data)  # pandas orient="columns": {column: {row: value}}
    raise ValueError("structure JSON inattendue")


def read_table(
    path: str | os.PathLike,
    *,
    columns: tuple[str, ...] | None = None,
    mobility_only: bool = False,
) -> tuple[pd.DataFrame, str]:
    """Read a data·inclusion table (parquet, csv, geojson, json, xlsx) as published.

    List columns come back as Python lists (parsed from their text form in csv/xlsx).

    Parameters
    ----------
    path : path-like
    columns : tuple of str, optional
        Columns to read when present (others are skipped: faster on the national file).
    mobility_only : bool
        Keep only rows whose ``thematiques`` hold a ``mobilite--`` code, filtered before the
        conversion to pandas (parquet) or before parsing the lists (text formats). The frame then
        has a ``_pos`` column: each row's position in the file (from 0); ``frame.attrs["lus"]``
        is the number of rows in the file.

    Returns
    -------
    (pandas.DataFrame, str)
        The table (index 0…n-1) and the format read (``parquet``, ``csv``, ``json``, ``xlsx``).

    Raises
    ------
    DataError
        Missing, empty, corrupt or truncated file (French message).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Fichier data·inclusion introuvable : {path}")
    if path.stat().st_size == 0:
        raise DataError(f"« {path.name} » est vide.")
    kind = _kind(path)
    wanted = set(columns) if columns else None
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            cols = [c for c in names if wanted is None or c in wanted]
            arrow = pq.read_table(path, columns=cols)
            total = arrow.num_rows
            positions = None
            if mobility_only and "thematiques" in cols:
                positions = _arrow_mobility_rows(arrow.column("thematiques"))
                arrow = arrow.take(positions)
            frame = arrow.to_pandas()
            if positions is not None:
                frame["_pos"] = positions
        elif kind == "csv":
            frame = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                encoding="utf-8-sig",
                usecols=(lambda c: c in wanted) if wanted else None,
            )
        elif kind == "xlsx":
            frame = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
        else:
            frame = _read_json(path)
    except DataError:
        raise
    except Exception as exc:  # pyarrow, pandas, openpyxl, json: corrupt or truncated files
        what = {"parquet": "parquet", "csv": "CSV", "xlsx": "Excel", "json": "JSON"}[kind]
        raise DataError(
            f"« {path.name} » : fichier {what} illisible (tronqué, corrompu ou d'un autre "
            f"format). Détail : {type(exc).__name__}: {str(exc)[:200]}. Téléchargez-le à "
            f"nouveau ({DATASET_PAGE})."
        ) from exc
    if wanted is not None:
        frame = frame[[c for c in frame.columns if c in wanted or c == "_pos"]]
    if kind != "parquet":
        total = len(frame)
        if mobility_only and "thematiques" in frame:
            text = frame["thematiques"].astype(str)
            keep = text.str.contains("mobilite--", regex=False).to_numpy()
            keep = keep | np.array([not isinstance(v, str) for v in frame["thematiques"]])
            frame = frame[keep].assign(_pos=np.flatnonzero(keep))
    if mobility_only and "_pos" not in frame:
        frame["_pos"] = np.arange(len(frame))
    frame.attrs["lus"] = total
    for col in LIST_COLUMNS & set(frame.columns):
        frame[col] = [_as_list(v) for v in frame[col]]
    return frame.reset_index(drop=True), kind


def _arrow_mobility_rows(column) -> np.ndarray:
    """Positions of the rows whose list of thématiques holds a ``mobilite--`` code."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_list(column.type) and not pa.types.is_large_list(column.type):
        text = pc.cast(column, pa.string())
        hit = pc.fill_null(pc.match_substring(text, "mobilite--"), False)
        return np.flatnonzero(hit.to_numpy(zero_copy_only=False))
    flat = pc.list_flatten(column)
    parents = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
    hit = pc.fill_null(pc.starts_with(flat, "mobilite--"), False).to_numpy(zero_copy_only=False)
    return np.unique(parents[hit])


def check_services_table(columns: list[str], name: str) -> None:
    """Raise a French :class:`DataError` unless ``columns`` are those of the services table."""
    columns = [c for c in columns if c != "_pos"]
    missing = [c for c in REQUIRED if c not in columns]
    if not missing:
        return
    shown = ", ".join(map(str, columns[:15])) + (" …" if len(columns) > 15 else "")
    if "siret" in columns and "reseaux_porteurs" in columns:
        raise DataError(
            f"« {name} » est la table « structures » de data·inclusion, pas la table "
            "« services » : passez-la en second (structures=…) et donnez la table des services."
        )
    raise DataError(
        f"« {name} » n'est pas la table « services » de data·inclusion : colonne(s) absente(s) "
        f"{', '.join(missing)}. Colonnes trouvées : {shown or 'aucune'}. {HINT}"
    )


def looks_like_data_inclusion(path: str | os.PathLike) -> bool:
    """True when a file's columns are those of data·inclusion's services table (header only)."""
    path = Path(path)
    try:
        columns = _table_columns(path, _kind(path))
    except Exception:  # any unreadable file is simply not recognised
        return False
    return all(c in columns for c in REQUIRED) and (
        "modes_accueil" in columns or "structure_id" in columns
    )


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass
class DataInclusionRead:
    """What :func:`load_data_inclusion` kept, merged, rejected and counted.

    Attributes
    ----------
    services : geopandas.GeoDataFrame
        EPSG:4326 points, columns :data:`OUTPUT_COLUMNS` + ``geometry``, sorted by id.
    rejects : pandas.DataFrame
        ``ligne`` (row number as a spreadsheet shows it, header = 1; row number from 1 for
        parquet and json), ``champ``, ``motif``, then ``id``, ``nom``, ``source``, ``commune``,
        ``code_insee``.
    merged : pandas.DataFrame
        One row per duplicate merged into a kept service: ``ligne``, ``id``, ``nom``,
        ``source``, ``fusionne_dans`` (id kept).
    remote : pandas.DataFrame
        Remote-only services (``a-distance``): ``ligne``, ``id``, ``nom``, ``categorie``.
    flags : pandas.DataFrame
        Kept rows with a warning (``ligne``, ``id``, ``champ``, ``motif``): declared commune
        not that of the coordinates, geocoder fallback…
    counts : dict
        ``lus``, ``retenus``, ``fusionnes``, ``rejetes``, ``a_distance``, ``hors_mobilite``,
        ``hors_zone``, ``avant_depuis``.
    warnings : list of str
    provenance : dict
        ``fichier``, ``format``, and when downloaded ``licence``, ``telecharge_le``,
        ``mise_a_jour``, ``url``.
    """

    services: gpd.GeoDataFrame
    rejects: pd.DataFrame
    merged: pd.DataFrame
    remote: pd.DataFrame
    flags: pd.DataFrame
    counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def by_category(self) -> dict[str, int]:
        """Kept services per category code (every category, zeros included)."""
        found = self.services["categorie"].value_counts().to_dict()
        return {code: int(found.get(code, 0)) for code in CATEGORIES}

    def by_precision(self) -> dict[str, int]:
        """Kept services per ``precision`` (every value, zeros included)."""
        found = self.services["precision"].value_counts().to_dict()
        return {p: int(found.get(p, 0)) for p in PRECISIONS}

    def summary(self) -> list[str]:
        """French sentences for the CLI and the method notes."""
        c = self.counts
        cats = ", ".join(
            f"{CATEGORIES[k].label.lower()} {v}" for k, v in self.by_category().items() if v
        )
        prec = self.by_precision()
        lines = [
            f"Inventaire data·inclusion : {fr_count(c['lus'], 'service lu', 'services lus')}, "
            f"{fr_count(c['retenus'], 'retenu')} ({cats or 'aucun'}).",
            f"{fr_count(c['fusionnes'], 'doublon fusionné', 'doublons fusionnés')} ; "
            f"{fr_count(c['a_distance'], 'service à distance', 'services à distance')}, non "
            f"cartographié{'s' if c['a_distance'] >= 2 else ''} ; "
            f"{fr_count(c['rejetes'], 'rejeté')} ; hors mobilité "
            f"{c['hors_mobilite']} ; hors zone {c['hors_zone']}"
            + (f" ; antérieurs à la date demandée {c['avant_depuis']}" if c["avant_depuis"] else "")
            + ".",
            f"Localisation : {prec['coordonnees_fournies']} par coordonnées fournies, "
            f"{prec['adresse']} géocodé(s) à l'adresse, {prec['rue']} à la rue, "
            f"{prec['commune']} à la commune.",
        ]
        if self.provenance.get("licence"):
            lines.append(
                f"Source : data·inclusion (data.gouv.fr), licence {self.provenance['licence']}, "
                f"téléchargé le {str(self.provenance.get('telecharge_le', '?'))[:10]}."
            )
        return lines


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _text(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame:
        return np.full(len(frame), "", dtype=object)
    values = frame[col].astype(object).where(frame[col].notna(), "")
    return np.array([str(v).strip() for v in values], dtype=object)


def _clean_code(value: str) -> str:
    code = value.replace(" ", "").upper()
    if code.endswith(".0"):
        code = code[:-2]
    return "0" + code if code.isdigit() and len(code) == 4 else code


def _departement(code: str) -> str:
    return code[:3] if code.startswith("97") else code[:2]


class _Communes:
    """Commune points and polygons for the commune fallback and the declared-commune check."""

    def __init__(self, communes: gpd.GeoDataFrame | None) -> None:
        from zonesblanches.geodata import reference

        self.frame = (reference.load_communes() if communes is None else communes).reset_index(
            drop=True
        )
        codes = self.frame["code_insee"].astype(str).tolist()
        self.by_code = {c: i for i, c in enumerate(codes)}
        former = reference.load_former_communes()
        self.former = {
            old: new
            for old, new in zip(former["code"], former["code_insee"], strict=True)
            if new in self.by_code and old not in self.by_code
        }
        self.departements = {_departement(c) for c in codes}
        self._tree: shapely.STRtree | None = None

    def find(self, code: str) -> int | None:
        code = self.former.get(code, code)
        return self.by_code.get(code)

    def containing(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Index of the commune holding each point, -1 when none."""
        out = np.full(len(lon), -1)
        if not len(lon) or self.frame.geometry.iloc[0].geom_type == "Point":
            return out
        if self._tree is None:
            self._tree = shapely.STRtree(self.frame.geometry.values)
        pts, polys = self._tree.query(shapely.points(lon, lat), predicate="intersects")
        out[pts[::-1]] = polys[::-1]  # first match wins
        return out


def _rejects_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(_REJECT_COLUMNS))


def load_data_inclusion(
    services: str | os.PathLike | None = None,
    structures: str | os.PathLike | None = None,
    *,
    download: bool = False,
    depuis: str | date | None = None,
    zone: shapely.Geometry | None = None,
    departements: list[str] | None = None,
    communes: gpd.GeoDataFrame | None = None,
    geocoder=None,
    geocode: bool = True,
    rejects_path: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
) -> DataInclusionRead:
    """Read data·inclusion services (file, cache or download) into the project's services.

    Parameters
    ----------
    services : path-like, optional
        The ``services`` table (parquet, csv, geojson, json, xlsx). Default: the cached
        download, or (``download=True``) a fresh download.
    structures : path-like, optional
        The ``structures`` table: adds ``siret`` and ``reseaux_porteurs`` (Mob'In, Wimoov…).
    download : bool
        Without ``services``, download the national table when no copy is cached (or when
        the cached copy is older than the published one).
    depuis : str or date, optional
        Keep only services updated (``date_maj``) on or after this date (``"2024-01-01"``).
    zone : shapely geometry (EPSG:4326), optional
        Territory plus margin: services outside are counted ``hors_zone``.
    departements : list of str, optional
        Départements whose rows without coordinates are located (geocoding costs requests);
        default: those of the reference communes meeting ``zone`` (all when no zone).
    communes : geopandas.GeoDataFrame, optional
        Commune points/polygons (``code_insee``, ``nom``, ``lon``, ``lat``); default: the
        bundled communes (Hauts-de-France).
    geocoder : zonesblanches.geodata.geocodage.Geocoder, optional
        Default: a :class:`~zonesblanches.geodata.geocodage.Geocoder` with default settings.
    geocode : bool
        Geocode addresses of rows without coordinates (else: commune level).
    rejects_path : path-like, optional
        Where to write the rejected rows (``;``, UTF-8 with BOM); always written when given.
    cache : path-like, optional
        Cache root (downloads, geocoder answers).
    progress : bool
        Download progress bar.

    Returns
    -------
    DataInclusionRead

    Raises
    ------
    DataError
        Corrupt file, a file that is not the services table, nothing cached and no download.
    NetworkUnavailableError
        A download was asked for while offline and nothing is cached.
    """
    provenance: dict = {}
    if services is None:
        found = (
            download_table(cache=cache, progress=progress)
            if download
            else cached_table(cache=cache)
        )
        if found is None:
            raise DataError(
                "Aucune copie de l'inventaire data·inclusion en cache : téléchargez-le "
                f"(--services data-inclusion en ligne) ou {HINT[0].lower()}{HINT[1:]}"
            )
        services, record = found
        provenance.update(record)
    path = Path(services)
    if not path.is_file():
        raise DataError(f"Fichier data·inclusion introuvable : {path}")
    try:  # header first: a foreign table is refused before the whole file is read
        columns = _table_columns(path, _kind(path)) if _kind(path) != "json" else None
    except Exception:  # unreadable: read_table below gives the French message
        columns = None
    if columns is not None:
        check_services_table(columns, path.name)
    frame, kind = read_table(path, columns=USED_COLUMNS, mobility_only=True)
    check_services_table(list(frame.columns), path.name)
    provenance.update({"fichier": str(path), "format": kind})
    since = _parse_depuis(depuis)
    index = _Communes(communes)
    if departements is None and zone is not None:
        departements = _zone_departements(index, zone)
    result = _Loader(frame, kind, index, since, zone, departements).run(geocoder, geocode, cache)
    if structures is not None:
        _join_structures(result, Path(structures))
    result.provenance = provenance
    if rejects_path is not None:
        _write_rejects(result.rejects, rejects_path)
    return result


def search_zone(geometry: shapely.Geometry, margin_m: float) -> shapely.Geometry:
    """The territory (EPSG:4326) widened by ``margin_m`` metres (buffer in Lambert-93).

    Services are searched in this zone, across EPCI, département and region limits, so that a
    commune at the edge counts a service just over the border. The caller chooses the margin,
    e.g. what the largest threshold reaches at the fastest mode.
    """
    if margin_m < 0:
        raise ParameterError("La marge de recherche des services doit être positive (mètres).")
    if margin_m == 0:
        return geometry
    l93 = gpd.GeoSeries([geometry], crs=WGS84).to_crs(LAMBERT93)
    return l93.buffer(margin_m, quad_segs=8).to_crs(WGS84).iloc[0]


def _parse_depuis(depuis: str | date | None) -> pd.Timestamp | None:
    if depuis is None or depuis == "":
        return None
    try:
        return pd.Timestamp(depuis).normalize()
    except (ValueError, TypeError) as exc:
        raise ParameterError(
            f"Date « {depuis} » illisible pour --depuis : écrivez-la AAAA-MM-JJ (2024-01-01)."
        ) from exc


def _zone_departements(index: _Communes, zone: shapely.Geometry) -> list[str]:
    shapely.prepare(zone)
    tree = shapely.STRtree(index.frame.geometry.values)
    hit = tree.query(zone, predicate="intersects")
    codes = index.frame["code_insee"].astype(str).to_numpy()[hit]
    return sorted({_departement(c) for c in codes})


def _write_rejects(rejects: pd.DataFrame, path: str | os.PathLike) -> Path:
    from zonesblanches.geodata.services import write_rejects

    return write_rejects(rejects, path)


class _Loader:
    """One pass over the table; every row ends in exactly one bucket of ``counts``."""

    def __init__(self, frame, kind, index, since, zone, departements):
        self.frame = frame
        self.n = len(frame)
        # row number as shown: spreadsheet lines for csv/xlsx (header = 1), else from 1
        pos = frame["_pos"].to_numpy() if "_pos" in frame else np.arange(self.n)
        self.lines = pos + (2 if kind in ("csv", "xlsx") else 1)
        self.index = index
        self.since = since
        self.zone = zone
        self.departements = set(departements) if departements is not None else None
        self.rejects: list[dict] = []
        self.flags: list[dict] = []
        self.geocoder_notes: dict[int, str] = {}
        self.warnings: list[str] = []
        self.counts = dict.fromkeys(
            ("lus", "retenus", "fusionnes", "rejetes", "a_distance", "hors_mobilite",
             "hors_zone", "avant_depuis"), 0,
        )  # fmt: skip
        self.counts["lus"] = int(frame.attrs.get("lus", self.n))

    def reject(self, pos: int, champ: str, motif: str) -> None:
        self.rejects.append(
            {"ligne": int(self.lines[pos]), "champ": champ, "motif": motif,
             **{c: self.t[c][pos] for c in ("id", "nom", "source", "commune", "code_insee")}}
        )  # fmt: skip

    def flag(self, pos: int, champ: str, motif: str) -> None:
        self.flags.append(
            {"ligne": int(self.lines[pos]), "id": self.t["id"][pos], "champ": champ, "motif": motif}
        )

    def run(self, geocoder, geocode: bool, cache) -> DataInclusionRead:
        f = self.frame
        them = f["thematiques"].tolist()
        mobile = np.fromiter((is_mobility(t) for t in them), bool, self.n)
        self.counts["hors_mobilite"] = self.counts["lus"] - int(mobile.sum())
        live = np.flatnonzero(mobile)
        sub = f.iloc[live].reset_index(drop=True)
        self.lines = self.lines[live]
        self.n = len(sub)
        t = {c: _text(sub, c) for c in USED_COLUMNS if c not in LIST_COLUMNS}
        t["code_insee"] = np.array([_clean_code(c) for c in t["code_insee"]], dtype=object)
        self.t = t
        them = sub["thematiques"].tolist()
        keep = np.ones(self.n, bool)

        # v0 codes and unknown mobility codes: said once
        v0 = sum(1 for th in them if mobility_codes(th)[1])
        if v0:
            self.warnings.append(
                f"{fr_count(v0, 'service porte', 'services portent')} des thématiques v0 "
                "(fichier ancien) : lues comme leur équivalent v1."
            )

        # depuis
        if self.since is not None:
            dates = pd.to_datetime(pd.Series(t["date_maj"]), errors="coerce", format="mixed")
            old = ~(dates >= self.since).to_numpy()
            self.counts["avant_depuis"] = int(old.sum())
            keep &= ~old

        # category (before remote-only, so that remote services are counted per category)
        cats = np.empty(self.n, dtype=object)
        rules = np.empty(self.n, dtype=object)
        for pos in range(self.n):
            cats[pos], rules[pos] = categorize(them[pos], t["type"][pos], t["nom"][pos],
                                               t["source"][pos])  # fmt: skip

        # remote-only
        modes = sub["modes_accueil"].tolist() if "modes_accueil" in sub else [[]] * self.n
        remote = np.fromiter((bool(m) and set(m) == {"a-distance"} for m in modes), bool, self.n)
        remote &= keep
        self.counts["a_distance"] = int(remote.sum())
        self.remote = pd.DataFrame(
            {"ligne": self.lines[remote], "id": t["id"][remote], "nom": t["nom"][remote],
             "categorie": [c or "" for c in cats[remote]]}
        )  # fmt: skip
        keep &= ~remote

        for pos in np.flatnonzero(keep & (cats == None)):  # noqa: E711 (object array)
            self.reject(pos, "thematiques", _no_category_reason(rules[pos], them[pos]))
            keep[pos] = False

        lon, lat, precision = self._locate_given(keep)
        keep &= self._in_zone(keep, lon, lat, given=True)
        self._geocode(keep, lon, lat, precision, geocoder, geocode, cache)
        self._commune_fallback(keep, lon, lat, precision)
        keep &= self._in_zone(keep & (precision != "coordonnees_fournies"), lon, lat, given=False)
        self._check_declared_commune(keep, lon, lat, precision)
        out = self._build(keep, cats, rules, them, lon, lat, precision)
        services, merged = _merge_duplicates(out)
        rejected = {r["ligne"] for r in self.rejects}
        self.flags = [f for f in self.flags if f["ligne"] not in rejected]
        self.counts["rejetes"] = len(self.rejects)
        self.counts["fusionnes"] = len(merged)
        self.counts["retenus"] = len(services)
        return DataInclusionRead(
            services,
            _rejects_frame(self.rejects).sort_values("ligne", kind="stable").reset_index(drop=True),
            merged,
            self.remote,
            pd.DataFrame(self.flags, columns=["ligne", "id", "champ", "motif"]),
            self.counts,
            self.warnings,
        )

    # -- location ------------------------------------------------------------------------------

    def _locate_given(self, keep):
        sub_lon = np.full(self.n, np.nan)
        sub_lat = np.full(self.n, np.nan)
        src_lon = _text_numbers(self.t["longitude"])
        src_lat = _text_numbers(self.t["latitude"])
        has = np.isfinite(src_lon) & np.isfinite(src_lat)
        inside = (
            has
            & (src_lon >= FRANCE_BBOX[0]) & (src_lon <= FRANCE_BBOX[2])
            & (src_lat >= FRANCE_BBOX[1]) & (src_lat <= FRANCE_BBOX[3])
        )  # fmt: skip
        overseas = np.array([c.startswith(("97", "98")) for c in self.t["code_insee"]])
        for pos in np.flatnonzero(keep & (overseas | (has & ~inside))):
            if overseas[pos]:
                self.reject(pos, "code_insee", "service outre-mer : hors du champ de l'outil "
                            "(France métropolitaine)")  # fmt: skip
            else:
                self.reject(
                    pos,
                    "longitude, latitude",
                    f"coordonnées ({src_lon[pos]:.6g}, {src_lat[pos]:.6g}) hors de France "
                    "métropolitaine",
                )
            keep[pos] = False
        ok = keep & inside
        sub_lon[ok], sub_lat[ok] = src_lon[ok], src_lat[ok]
        precision = np.full(self.n, "", dtype=object)
        precision[ok] = "coordonnees_fournies"
        return sub_lon, sub_lat, precision

    def _in_zone(self, mask, lon, lat, *, given: bool) -> np.ndarray:
        """Mask of rows to keep; rows of ``mask`` outside the zone are counted hors_zone."""
        out = np.ones(self.n, bool)
        rows = np.flatnonzero(mask)
        if given:
            located = rows[np.isfinite(lon[rows])]
            unlocated = rows[~np.isfinite(lon[rows])]
            if self.departements is not None:
                # rows with no code at all go on: their address may still place them, or
                # they are rejected with their reason (never silently counted out of zone)
                far = [p for p in unlocated
                       if (self.t["code_insee"][p] or self.t["code_postal"][p])
                       and _departement(self.t["code_insee"][p] or self.t["code_postal"][p])
                       not in self.departements]  # fmt: skip
                out[far] = False
        else:
            located = rows[np.isfinite(lon[rows])]
        if self.zone is not None and len(located):
            inside = shapely.intersects_xy(self.zone, lon[located], lat[located])
            out[located[~inside]] = False
        elif self.zone is None and self.departements is not None and given and len(located):
            far = [p for p in located if _departement(self.t["code_insee"][p]) not in
                   self.departements]  # fmt: skip
            out[far] = False
        self.counts["hors_zone"] += int((~out).sum())
        return out

    def _geocode(self, keep, lon, lat, precision, geocoder, geocode: bool, cache) -> None:
        todo = np.flatnonzero(keep & ~np.isfinite(lon) & (self.t["adresse"] != ""))
        if not len(todo) or not geocode:
            return
        from zonesblanches.geodata.geocodage import Geocoder, address_key

        geocoder = geocoder or Geocoder(cache=cache)
        addresses = pd.DataFrame(
            {c: self.t[c][todo] for c in ("adresse", "code_postal", "commune", "code_insee")}
        )
        try:
            answer = geocoder.geocode(addresses)
        except NetworkUnavailableError as exc:
            self.warnings.append(
                f"{exc} {fr_count(len(todo), 'service placé', 'services placés')} à leur commune."
            )
            for pos in todo:
                self.geocoder_notes[pos] = "indisponible"
                self.flag(pos, "adresse", "géocodeur indisponible : placé à la commune")
            return
        self.warnings += answer.warnings
        found = answer.table.set_index("cle")
        for pos, a in zip(todo, addresses.itertuples(index=False), strict=True):
            key = address_key(a.adresse, a.code_postal, a.commune, a.code_insee)
            if key not in found.index:
                continue
            hit = found.loc[key]
            if hit["precision"]:
                lon[pos], lat[pos], precision[pos] = hit["lon"], hit["lat"], hit["precision"]
            else:
                self.geocoder_notes[pos] = hit["motif"]
                self.flag(pos, "adresse", f"{hit['motif']} : placé à la commune")

    def _commune_fallback(self, keep, lon, lat, precision) -> None:
        todo = np.flatnonzero(keep & ~np.isfinite(lon))
        frame = self.index.frame
        for pos in todo:
            code = self.t["code_insee"][pos]
            i = self.index.find(code) if code else None
            if i is None:
                if not code:
                    reason = "ni coordonnées, ni adresse géocodée, ni code INSEE de commune"
                elif _departement(code) not in self.index.departements:
                    reason = (
                        f"commune {code} sans coordonnées hors du référentiel des communes "
                        f"embarqué (départements {', '.join(sorted(self.index.departements))}) "
                        "et adresse non géocodée"
                    )
                else:
                    reason = f"code INSEE {code} inconnu"
                note = self.geocoder_notes.get(pos)
                self.reject(pos, "code_insee", reason + (f" ; géocodeur : {note}" if note else ""))
                keep[pos] = False
                continue
            lon[pos], lat[pos] = frame["lon"].iat[i], frame["lat"].iat[i]
            precision[pos] = "commune"
        n = len(todo) - int((~keep[todo]).sum()) if len(todo) else 0
        if n:
            self.warnings.append(
                f"{fr_count(n, 'service placé', 'services placés')} au point de leur commune "
                "(ni coordonnées ni adresse géocodée)."
            )

    def _check_declared_commune(self, keep, lon, lat, precision) -> None:
        rows = np.flatnonzero(keep & (precision == "coordonnees_fournies"))
        declared = np.array([self.index.find(self.t["code_insee"][p]) for p in rows], dtype=object)
        known = np.array([d is not None for d in declared], dtype=bool)
        rows, declared = rows[known], declared[known].astype(int)
        frame = self.index.frame
        if not len(rows) or frame.geometry.iloc[0].geom_type == "Point":
            return
        polys = frame.geometry.values[declared]
        inside = shapely.intersects_xy(polys, lon[rows], lat[rows])
        rows, declared = rows[~inside], declared[~inside]
        where = self.index.containing(lon[rows], lat[rows])
        for pos, d, i in zip(rows, declared, where, strict=True):
            there = (
                f"{frame['nom'].iat[i]} ({frame['code_insee'].iat[i]})"
                if i >= 0
                else "hors des communes du référentiel embarqué"
            )
            self.flag(
                pos,
                "code_insee, longitude, latitude",
                f"commune déclarée {frame['nom'].iat[d]} ({frame['code_insee'].iat[d]}), "
                f"coordonnées {'à ' if i >= 0 else ''}{there} : coordonnées gardées",
            )
        if len(rows):
            self.warnings.append(
                f"{fr_count(len(rows), 'service a', 'services ont')} des coordonnées hors de "
                "la commune déclarée : coordonnées gardées, lignes signalées."
            )

    # -- output --------------------------------------------------------------------------------

    def _build(self, keep, cats, rules, them, lon, lat, precision) -> gpd.GeoDataFrame:
        t, rows = self.t, np.flatnonzero(keep)
        dates = pd.to_datetime(pd.Series(t["date_maj"][rows]), errors="coerce", format="mixed")
        data = {
            "service_id": t["id"][rows],
            "nom": t["nom"][rows],
            "categorie": cats[rows],
            "regle_categorie": rules[rows],
            "commune": t["commune"][rows],
            "code_insee": t["code_insee"][rows],
            "code_postal": t["code_postal"][rows],
            "adresse": t["adresse"][rows],
            "statut": "",
            "date_maj": [d.date().isoformat() if pd.notna(d) else "" for d in dates],
            "source": t["source"][rows],
            "sources": t["source"][rows],
            "score_qualite": _text_numbers(t["score_qualite"][rows]),
            "lien_source": t["lien_source"][rows],
            "id_data_inclusion": t["id"][rows],
            "structure_id": t["structure_id"][rows],
            "siret": "",
            "reseaux_porteurs": "",
            "type": t["type"][rows],
            "thematiques": [
                "; ".join(x for x in them[p] if x.startswith("mobilite--")) for p in rows
            ],  # fmt: skip
            "precision": precision[rows],
            "doublons": 0,
            "_ligne": self.lines[rows],
        }
        return gpd.GeoDataFrame(
            pd.DataFrame(data), geometry=gpd.points_from_xy(lon[rows], lat[rows]), crs=WGS84
        )


def _text_numbers(values: np.ndarray) -> np.ndarray:
    series = pd.Series(values, dtype=object).astype(str).str.strip().str.replace(",", ".")
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def _no_category_reason(rule: str, thematiques: list[str]) -> str:
    mob = ", ".join(c for c in thematiques if c.startswith("mobilite--"))
    if rule == "financer":
        return f"aucune catégorie du projet : aide financière, pas un lieu où se rendre ({mob})"
    if rule == "douce-sans-indice":
        return (
            "aucune catégorie du projet : « mobilité douce, partagée ou collective » sans indice "
            f"dans le nom (ni vélo, ni transport) ({mob})"
        )
    return f"aucune catégorie du projet pour ces thématiques ({mob})"


@cache
def _to_l93() -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(WGS84, LAMBERT93, always_xy=True)


def _merge_duplicates(services: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Merge rows of one category within 50 m sharing a structure id or a normalised name."""
    from scipy.spatial import cKDTree

    merged_cols = ["ligne", "id", "nom", "source", "fusionne_dans"]
    n = len(services)
    if n < 2:
        return _finish(services), pd.DataFrame(columns=merged_cols)
    x, y = _to_l93().transform(services.geometry.x.to_numpy(), services.geometry.y.to_numpy())
    # 1 mm of slack: a pair exactly 50 m apart stays a pair after the WGS84 round trip
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(
        MERGE_DISTANCE_M + 1e-3, output_type="ndarray"
    )
    cat = services["categorie"].to_numpy()
    struct = services["structure_id"].to_numpy()
    names = np.array([normalize(v) for v in services["nom"]], dtype=object)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        same_struct = struct[i] != "" and struct[i] == struct[j]
        same_name = names[i] != "" and names[i] == names[j]
        if cat[i] == cat[j] and (same_struct or same_name):
            parent[root(i)] = root(j)
    groups = np.array([root(i) for i in range(n)])
    rank = {p: k for k, p in enumerate(PRECISIONS)}
    order = services.assign(
        _g=groups,
        _score=services["score_qualite"].fillna(-1.0),
        _prec=services["precision"].map(rank),
    ).sort_values(
        ["_g", "_score", "date_maj", "_prec", "service_id"],
        ascending=[True, False, False, True, True],
        kind="stable",
    )
    first = ~order["_g"].duplicated()
    kept = order[first].copy()
    dropped = order[~first]
    keeper = dict(zip(kept["_g"], kept["service_id"], strict=True))
    sizes = order["_g"].value_counts()
    multi = order[order["_g"].isin(sizes.index[sizes > 1])]
    for g, sub in multi.groupby("_g", sort=False):
        idx = kept.index[kept["_g"] == g][0]
        kept.at[idx, "sources"] = "; ".join(sorted(set(sub["source"])))
        kept.at[idx, "doublons"] = len(sub) - 1
    merged = pd.DataFrame(
        {
            "ligne": dropped["_ligne"].to_numpy(),
            "id": dropped["service_id"].to_numpy(),
            "nom": dropped["nom"].to_numpy(),
            "source": dropped["source"].to_numpy(),
            "fusionne_dans": [keeper[g] for g in dropped["_g"]],
        },
        columns=merged_cols,
    ).sort_values("ligne", kind="stable")
    kept = kept.drop(columns=["_g", "_score", "_prec"])
    return _finish(kept), merged.reset_index(drop=True)


def _finish(services: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = services.drop(columns=["_ligne"], errors="ignore")
    out = out.sort_values("service_id", kind="stable").reset_index(drop=True)
    out["doublons"] = out["doublons"].astype(int)
    return gpd.GeoDataFrame(out[list(OUTPUT_COLUMNS) + ["geometry"]], geometry="geometry",
                            crs=WGS84)  # fmt: skip


def _join_structures(result: DataInclusionRead, path: Path) -> None:
    frame, _ = read_table(path, columns=("id", "siret", "nom", "reseaux_porteurs"))
    if "id" not in frame or "nom" not in frame:
        raise DataError(
            f"« {path.name} » n'est pas la table « structures » de data·inclusion (colonnes id "
            "et nom attendues)."
        )
    ids = frame["id"].astype(str).tolist()
    siret = dict(zip(ids, _text(frame, "siret"), strict=True))
    reseaux = dict(
        zip(ids, ["; ".join(r) for r in frame.get("reseaux_porteurs", [[]] * len(frame))],
            strict=True)
    )  # fmt: skip
    s = result.services
    s["siret"] = [siret.get(k, "") for k in s["structure_id"]]
    s["reseaux_porteurs"] = [reseaux.get(k, "") for k in s["structure_id"]]
    missing = int((~s["structure_id"].isin(siret) & (s["structure_id"] != "")).sum())
    if missing:
        result.warnings.append(
            f"{fr_count(missing, 'service renvoie', 'services renvoient')} à une structure absente "
            f"de « {path.name} » (siret et réseaux laissés vides)."
        )
