"""data·inclusion's published tables: permalinks, download and cache (with the licence).

The producer publishes its ``services`` and ``structures`` tables on data.gouv.fr through
stable permalinks that redirect to the current file (:data:`RESOURCES`). A download records,
beside the file (``<table>.<format>.json``), the download date and the dataset licence read
from the data.gouv.fr API; the offline switch is obeyed. Public names are re-exported by
:mod:`zonesblanches.geodata.data_inclusion`.
"""

from __future__ import annotations

import json
import os
import warnings as warnings_module
from datetime import UTC, datetime
from pathlib import Path

from zonesblanches import settings
from zonesblanches.errors import NetworkUnavailableError, ParameterError
from zonesblanches.geodata import datagouv
from zonesblanches.geodata.cache import atomic_path, cache_dir

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
