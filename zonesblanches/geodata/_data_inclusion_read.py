"""Reading a data·inclusion table as published: parquet, csv, geojson, json or xlsx.

The format is recognised by content, not name; list columns come back as Python lists
(parsed from their text form in csv and xlsx); a file that is not the ``services`` table, or a
corrupt or truncated one, gives a French :class:`~zonesblanches.errors.DataError`. Public
names are re-exported by :mod:`zonesblanches.geodata.data_inclusion`.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from zonesblanches.errors import DataError
from zonesblanches.geodata._data_inclusion_download import DATASET_PAGE, HINT

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
