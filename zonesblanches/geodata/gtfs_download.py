"""Find and download the GTFS feeds covering a territory from transport.data.gouv.fr.

The French national access point has no server-side territory filter: ``GET /api/datasets``
returns every dataset at once, and datasets are kept client-side when their ``covered_area``
names one of the territory's communes, EPCIs, départements or its région. ``covered_area``
changed shape on 2025-09-03: it is now a list of ``{"type", "insee", "nom"}`` (types
``commune``, ``epci``, ``departement``, ``region``, ``pays``), and was a single object before
(``{"type": "aom" | "region" | "cities" | "country", …}``); both are read, as are the
``legal_owners`` of type ``region`` (see ``docs/transport.md``).

Files land in the cache (:func:`~zonesblanches.geodata.cache.cache_dir` ``("telechargements")``)
under ``transport/<dataset id>/<resource id>/`` beside a ``ressource.json`` holding the
dataset's title, publisher and licence; a file is downloaded again only when the API announces a
newer ``updated`` date. The dataset list itself is cached for a day. With
``ZONESBLANCHES_HORS_LIGNE=1`` nothing is requested: cached files are used, or a French error
says what to download by hand.

The API root is, in order: the ``base_url`` argument, ``$ZONESBLANCHES_TRANSPORT_API`` (the
tests point it at a local server), then ``https://transport.data.gouv.fr/api/``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from zonesblanches import settings
from zonesblanches.errors import DataError, NetworkUnavailableError
from zonesblanches.geodata.cache import atomic_path, cache_dir
from zonesblanches.geodata.datagouv import TIMEOUT, download, make_session, resource_filename
from zonesblanches.geodata.gtfs import GtfsSource

DEFAULT_API_URL = settings.TRANSPORT_API_URL
API_ENV_VAR = settings.TRANSPORT_API_VAR
OFFLINE_ENV = settings.OFFLINE_VAR
LIST_MAX_AGE_S = 24 * 3600
MANIFEST = "ressource.json"
HINT = (
    "Téléchargez les fichiers GTFS de votre territoire sur https://transport.data.gouv.fr "
    "(rubrique « Transport public collectif – horaires théoriques ») et donnez-les avec "
    "--gtfs FICHIER.zip."
)


@dataclass
class TerritoryCodes:
    """Codes of a territory, as ``covered_area`` writes them."""

    communes: set[str] = field(default_factory=set)
    epcis: set[str] = field(default_factory=set)
    departements: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)

    @classmethod
    def from_communes(cls, communes, region: str | None = "32") -> TerritoryCodes:
        """Codes of a frame with ``code_insee``, ``code_epci``, ``code_departement`` columns
        (the reference communes); ``region`` defaults to Hauts-de-France (32)."""

        def col(name: str) -> set[str]:
            if name not in communes:
                return set()
            return {str(v) for v in communes[name].dropna() if str(v)}

        return cls(
            col("code_insee"),
            col("code_epci"),
            col("code_departement"),
            {region} if region else set(),
        )


def api_url(base_url: str | None = None) -> str:
    url = base_url or settings.transport_api_url()
    return url if url.endswith("/") else url + "/"


def covers(dataset: dict, codes: TerritoryCodes, *, national: bool = False) -> bool:
    """Whether a dataset's ``covered_area`` (either shape) or legal owners touch the territory."""
    by_type = {
        "commune": codes.communes,
        "epci": codes.epcis,
        "departement": codes.departements,
        "region": codes.regions,
    }
    area = dataset.get("covered_area")
    if isinstance(area, list):
        for a in area:
            if not isinstance(a, dict):
                continue
            kind = str(a.get("type", ""))
            if kind == "pays" and national:
                return True
            if str(a.get("insee", "")) in by_type.get(kind, ()):
                return True
    elif isinstance(area, dict):
        kind = area.get("type")
        if kind == "region" and str((area.get("region") or {}).get("insee", "")) in codes.regions:
            return True
        if kind == "aom" and str((area.get("aom") or {}).get("siren", "")) in codes.epcis:
            return True
        if kind == "cities" and any(
            str(c.get("insee", "")) in codes.communes
            for c in area.get("cities") or []
            if isinstance(c, dict)
        ):
            return True
        if kind == "country" and national:
            return True
    for owner in dataset.get("legal_owners") or []:
        if (
            isinstance(owner, dict)
            and owner.get("type") == "region"
            and str(owner.get("insee", "")) in codes.regions
        ):
            return True
    return False


def gtfs_resources(dataset: dict) -> list[dict]:
    """The dataset's GTFS resources (format ``GTFS`` on the NAP, ``gtfs`` on data.gouv),
    available ones first, newest first."""
    res = [
        r
        for r in dataset.get("resources") or []
        if isinstance(r, dict) and str(r.get("format", "")).lower() == "gtfs" and r.get("url")
    ]
    res.sort(
        key=lambda r: (r.get("is_available") is False, str(r.get("updated", ""))), reverse=False
    )
    avail = [r for r in res if r.get("is_available") is not False]
    avail.sort(key=lambda r: str(r.get("updated", "")), reverse=True)
    return avail


def _folder(cache) -> Path:
    return cache_dir("telechargements", base=cache) / "transport"


def list_datasets(
    *, base_url: str | None = None, cache=None, session: requests.Session | None = None
) -> list[dict]:
    """Every dataset of the NAP (``GET datasets``), cached for a day; offline, the cached copy."""
    path = _folder(cache) / "datasets.json"
    fresh = path.is_file() and time.time() - path.stat().st_mtime < LIST_MAX_AGE_S
    if fresh or (settings.offline() and path.is_file()):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            if settings.offline():
                raise DataError(f"Copie en cache illisible : {path}. {HINT}") from None
    if settings.offline():
        raise NetworkUnavailableError(
            f"Mode hors ligne ({OFFLINE_ENV}=1) : liste des jeux de données de "
            f"transport.data.gouv.fr non téléchargée et absente du cache. {HINT}"
        )
    session = session or make_session()
    url = api_url(base_url) + "datasets"
    try:
        resp = session.get(url, timeout=TIMEOUT, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise NetworkUnavailableError(
            f"transport.data.gouv.fr injoignable ({type(exc).__name__}). {HINT}"
        ) from exc
    if resp.status_code != 200:
        raise NetworkUnavailableError(
            f"transport.data.gouv.fr a répondu HTTP {resp.status_code}. {HINT}"
        )
    try:
        payload = resp.json()
    except ValueError:
        raise DataError(
            f"Réponse illisible de transport.data.gouv.fr (pas du JSON). {HINT}"
        ) from None
    if not isinstance(payload, list):
        raise DataError(f"Réponse inattendue de transport.data.gouv.fr (pas une liste). {HINT}")
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return payload


def _safe(text: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", str(text)).strip("._") or "sans-id"


def download_territory_gtfs(
    codes: TerritoryCodes,
    *,
    national: bool = False,
    base_url: str | None = None,
    cache=None,
    session: requests.Session | None = None,
    progress: bool = True,
) -> list[GtfsSource]:
    """Download (or take from the cache) the newest GTFS of every public-transit dataset
    covering the territory.

    Returns
    -------
    list of GtfsSource
        One per dataset, named after the dataset slug, with its licence and publisher.

    Raises
    ------
    NetworkUnavailableError
        Offline or unreachable, and nothing cached.
    DataError
        No dataset covers the territory.
    """
    datasets = list_datasets(base_url=base_url, cache=cache, session=session)
    chosen = [
        d
        for d in datasets
        if isinstance(d, dict)
        and d.get("type", "public-transit") == "public-transit"
        and covers(d, codes, national=national)
        and gtfs_resources(d)
    ]
    if not chosen:
        raise DataError(
            "Aucun jeu de données GTFS de transport.data.gouv.fr ne couvre ce territoire. " + HINT
        )
    session = session or make_session()
    out: list[GtfsSource] = []
    for ds in sorted(chosen, key=lambda d: str(d.get("slug") or d.get("id"))):
        res = gtfs_resources(ds)[0]
        folder = (
            _folder(cache) / _safe(ds.get("id") or ds.get("datagouv_id")) / _safe(res.get("id"))
        )
        name = resource_filename(
            {"title": res.get("title"), "url": res.get("url"), "format": "zip"}
        )
        if not name.lower().endswith(".zip"):
            name += ".zip"
        dest = folder / name
        manifest = folder / MANIFEST
        cached = None
        if manifest.is_file() and dest.is_file():
            try:
                cached = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                cached = None
        publisher = str((ds.get("publisher") or {}).get("name") or "")
        licence = str(ds.get("licence") or "non précisée")
        if not (cached and cached.get("updated") == res.get("updated")):
            if settings.offline():
                raise NetworkUnavailableError(
                    f"Mode hors ligne ({OFFLINE_ENV}=1) : « {ds.get('title')} » n'est pas dans "
                    f"le cache. {HINT}"
                )
            download(
                res["url"],
                dest,
                session=session,
                progress=progress,
                what=f"« {ds.get('title')} » (transport.data.gouv.fr)",
                hint=HINT,
                expected_size=None,
            )
            meta = {
                "dataset": ds.get("id"),
                "slug": ds.get("slug"),
                "title": ds.get("title"),
                "publisher": publisher,
                "licence": licence,
                "url": res.get("url"),
                "updated": res.get("updated"),
                "page_url": ds.get("page_url"),
            }
            with atomic_path(manifest) as tmp:
                tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        out.append(
            GtfsSource(
                dest,
                name=_safe(ds.get("slug") or ds.get("id")),
                licence=licence,
                publisher=publisher,
            )
        )
    return out


def datasets_covering(
    datasets: Iterable[dict], codes: TerritoryCodes, national: bool = False
) -> list[str]:
    """Slugs of the datasets covering a territory (for messages and tests)."""
    return [str(d.get("slug")) for d in datasets if covers(d, codes, national=national)]
