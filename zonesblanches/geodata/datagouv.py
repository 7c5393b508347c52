"""A small client for the data.gouv.fr API (v1): find a dataset's file, download it, cache it.

Nothing here knows a file URL in advance: the dataset is looked up by slug or id through the API
(``GET {base}datasets/{dataset}/``), a resource is picked by format and title pattern (newest
first), and its current URL is downloaded. Files land in the cache folder
(:func:`zonesblanches.geodata.cache.cache_dir` ``("telechargements")``), under
``datagouv/<dataset>/<resource id>/``, beside a ``ressource.json`` copy of the resource's
metadata; a later call re-uses the file when it is still valid (same checksum or size as
announced by the API), and falls back on it, with a warning, when the network is down.

The API base URL is, in order: the ``base_url`` argument, the ``ZONESBLANCHES_DATAGOUV_API``
environment variable (the tests point it at a local server), then the real
``https://www.data.gouv.fr/api/1/``.

Payload details follow the udata source (fields ``resources[].format`` free text, ``checksum``,
``filesize`` and ``mime`` possibly null, ``latest`` permalink in two URL forms). Every network
failure becomes a :class:`~zonesblanches.errors.NetworkUnavailableError` whose French message says
where to get the file by hand and how to pass it to the tool (``hint``).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import sys
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import requests
from tqdm.auto import tqdm

from zonesblanches import settings
from zonesblanches._version import __version__
from zonesblanches.errors import DataError, NetworkUnavailableError, ParameterError
from zonesblanches.geodata.cache import atomic_path, cache_dir, file_digest

DEFAULT_API_URL = settings.DATAGOUV_API_URL
"""Real data.gouv.fr API v1 root."""

API_ENV_VAR = settings.DATAGOUV_API_VAR
"""Environment variable that overrides the API root (tests, mirrors)."""

USER_AGENT = f"Mozilla/5.0 (compatible; zonesblanches/{__version__})"
"""Sent with every request; some producers (INSEE) refuse bare HTTP clients."""

TIMEOUT = (15, 120)
"""Connect and read timeouts, in seconds."""

MANIFEST = "ressource.json"

_CHECKSUM_ALGOS = {"sha1": "sha1", "sha2": "sha256", "sha256": "sha256", "md5": "md5"}
_FORMAT_ALIASES = {
    "shapefile": "shp",
    "esri shapefile": "shp",
    "geopackage": "gpkg",
    "json": "json",
    "geo+json": "geojson",
}
_MIME_FORMATS = {
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/geo+json": "geojson",
    "application/geopackage+sqlite3": "gpkg",
    "text/csv": "csv",
}


# --------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------


def api_url(base_url: str | None = None) -> str:
    """Return the API root to use, always ending with ``/``.

    Parameters
    ----------
    base_url : str, optional
        Explicit root; else ``$ZONESBLANCHES_DATAGOUV_API``; else :data:`DEFAULT_API_URL`.
    """
    url = base_url or settings.datagouv_api_url()
    return url if url.endswith("/") else url + "/"


def make_session() -> requests.Session:
    """A :class:`requests.Session` carrying the toolkit's User-Agent."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def _offline_error(
    what: str, exc: BaseException | str, hint: str | None
) -> NetworkUnavailableError:
    reason = exc if isinstance(exc, str) else type(exc).__name__
    msg = f"Impossible de télécharger {what} : réseau ou service indisponible ({reason})."
    if hint:
        msg += " " + hint
    return NetworkUnavailableError(msg)


def get_dataset(
    dataset: str,
    *,
    base_url: str | None = None,
    session: requests.Session | None = None,
    hint: str | None = None,
) -> dict:
    """Fetch a dataset's JSON from the API (``GET datasets/{dataset}/``).

    Parameters
    ----------
    dataset : str
        Slug (``quartiers-prioritaires-de-la-politique-de-la-ville-qpv``) or 24-hex id.
    base_url : str, optional
        API root (see :func:`api_url`).
    session : requests.Session, optional
        Session to re-use.
    hint : str, optional
        French sentence appended to error messages: where to get the file by hand.

    Returns
    -------
    dict
        The dataset object, with its ``resources`` list.

    Raises
    ------
    NetworkUnavailableError
        Network down, timeout, server error or refusal.
    DataError
        Dataset unknown (404) or deleted (410), or an answer that is not a dataset.
    """
    if not dataset or "/" in dataset.strip("/"):
        raise ParameterError(
            f"Identifiant de jeu de données data.gouv.fr invalide : « {dataset} »."
        )
    url = f"{api_url(base_url)}datasets/{dataset.strip('/')}/"
    session = session or make_session()
    what = f"la fiche du jeu de données « {dataset} » sur data.gouv.fr"
    try:
        resp = session.get(url, timeout=TIMEOUT, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise _offline_error(what, exc, hint) from exc
    if resp.status_code in (404, 410):
        msg = (
            f"Le jeu de données « {dataset} » est introuvable sur data.gouv.fr "
            f"(HTTP {resp.status_code}) : il a peut-être été renommé ou supprimé."
        )
        raise DataError(msg + (" " + hint if hint else ""))
    if resp.status_code != 200:
        raise _offline_error(what, f"HTTP {resp.status_code}", hint)
    try:
        payload = resp.json()
    except ValueError as exc:
        raise DataError(
            f"Réponse illisible de data.gouv.fr pour « {dataset} » (ce n'est pas du JSON)."
            + (" " + hint if hint else "")
        ) from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("resources"), list):
        raise DataError(
            f"Réponse inattendue de data.gouv.fr pour « {dataset} » (pas de liste de ressources)."
            + (" " + hint if hint else "")
        )
    return payload


# --------------------------------------------------------------------------------------------
# Resource choice
# --------------------------------------------------------------------------------------------


def _url_extension(url: str | None) -> str:
    if not url:
        return ""
    name = PurePosixPath(unquote(urlparse(url).path)).name.lower()
    return name.rsplit(".", 1)[-1] if "." in name else ""


def resource_formats(resource: dict) -> set[str]:
    """Every format a resource may be, read from ``format``, ``mime`` and the URL extension.

    ``format`` is free text typed by the producer (``zip``, ``ZIP``, ``shapefile``…), so the
    three sources are combined, lower-cased.
    """
    found: set[str] = set()
    fmt = str(resource.get("format") or "").strip().lower()
    if fmt:
        found.add(_FORMAT_ALIASES.get(fmt, fmt))
    mime = str(resource.get("mime") or "").strip().lower()
    if mime in _MIME_FORMATS:
        found.add(_MIME_FORMATS[mime])
    for key in ("url", "title"):
        ext = _url_extension(resource.get(key))
        if ext:
            found.add(_FORMAT_ALIASES.get(ext, ext))
    return found


def _parse_date(value: object) -> datetime:
    """Parse udata's ISO dates (with or without offset, ``T`` or space); unknown → oldest."""
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    text = str(value).strip().replace(" ", "T")
    if re.search(r"[+-]\d\d$", text):  # "+02" short offset seen in extras
        text += ":00"
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def pick_resource(
    dataset: dict,
    *,
    formats: Sequence[str] | None = None,
    title_pattern: str | None = None,
    exclude_types: Iterable[str] = ("documentation", "api", "code"),
) -> dict:
    """Choose one resource of a dataset: right format, title matching, newest first.

    Parameters
    ----------
    dataset : dict
        Dataset JSON from :func:`get_dataset` (or any dict with a ``resources`` list).
    formats : sequence of str, optional
        Accepted formats, lower-case (``"zip"``, ``"geojson"``…); matched against ``format``,
        ``mime`` and the URL extension. ``None`` accepts any.
    title_pattern : str, optional
        Regular expression searched (case-insensitively) in the title or the URL file name.
    exclude_types : iterable of str
        Resource ``type`` values never chosen.

    Returns
    -------
    dict
        The resource with the most recent ``last_modified`` (then ``created_at``) among the
        matches. The API order is the producer's, not a date order, so it is not trusted.

    Raises
    ------
    DataError
        No resource matches; the message lists the available titles.
    """
    wanted = {f.lower() for f in formats} if formats else None
    pattern = re.compile(title_pattern, re.IGNORECASE) if title_pattern else None
    excluded = set(exclude_types)
    candidates = []
    for res in dataset.get("resources") or []:
        if not isinstance(res, dict) or not (res.get("url") or res.get("latest")):
            continue
        if str(res.get("type") or "main") in excluded:
            continue
        if wanted is not None and not (resource_formats(res) & wanted):
            continue
        if pattern is not None:
            name = PurePosixPath(unquote(urlparse(str(res.get("url") or "")).path)).name
            if not (pattern.search(str(res.get("title") or "")) or pattern.search(name)):
                continue
        candidates.append(res)
    if not candidates:
        titles = [
            str(r.get("title")) for r in dataset.get("resources") or [] if isinstance(r, dict)
        ]
        crit = []
        if wanted:
            crit.append("format " + "/".join(sorted(wanted)))
        if title_pattern:
            crit.append(f"titre « {title_pattern} »")
        raise DataError(
            f"Aucune ressource du jeu de données « {dataset.get('slug') or dataset.get('id')} » "
            f"ne correspond ({', '.join(crit) or 'aucun critère'}). Ressources disponibles : "
            + ("; ".join(titles) if titles else "aucune")
            + "."
        )
    candidates.sort(
        key=lambda r: (_parse_date(r.get("last_modified")), _parse_date(r.get("created_at"))),
        reverse=True,
    )
    return candidates[0]


def resource_filename(resource: dict) -> str:
    """A safe local file name for a resource: its URL's file name, else its title."""
    name = PurePosixPath(unquote(urlparse(str(resource.get("url") or "")).path)).name
    if not name or "." not in name:
        title = str(resource.get("title") or resource.get("id") or "ressource")
        name = title
        fmt = str(resource.get("format") or "").strip().lower()
        if fmt and not name.lower().endswith("." + fmt):
            name = f"{name}.{fmt}"
    name = re.sub(r"[^\w.\-]+", "_", name, flags=re.UNICODE).strip("._") or "ressource"
    return name[:150]


# --------------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------------


def _progress_disabled(progress: bool) -> bool | None:
    # None lets tqdm switch itself off when stderr is not a terminal.
    return None if progress else True


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    session: requests.Session | None = None,
    progress: bool = True,
    label: str | None = None,
    what: str | None = None,
    hint: str | None = None,
    expected_size: int | None = None,
    checksum: dict | None = None,
) -> Path:
    """Download ``url`` to ``dest`` (streamed, atomic, with a progress bar), then verify it.

    Parameters
    ----------
    url : str
        Address to fetch; redirects are followed (data.gouv.fr permalinks answer 302).
    dest : path-like
        Final path. The file only appears there once complete and verified.
    session : requests.Session, optional
        Session to re-use.
    progress : bool
        Show a progress bar (French label; hidden anyway when not in a terminal).
    label : str, optional
        Progress-bar label.
    what : str, optional
        French noun phrase naming the file in error messages.
    hint : str, optional
        French sentence added to error messages (where to get the file by hand).
    expected_size : int, optional
        Size announced by the API, checked when given.
    checksum : dict, optional
        ``{"type": "sha1" | "sha256" | "md5", "value": ...}`` as in the API, checked when given.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    NetworkUnavailableError
        Network down, refusal, server error or a transfer cut short.
    DataError
        Downloaded file not what was announced (size or checksum).
    """
    dest = Path(dest)
    what = what or f"« {dest.name} »"
    session = session or make_session()
    try:
        with session.get(url, stream=True, timeout=TIMEOUT) as resp:
            if resp.status_code != 200:
                raise _offline_error(what, f"HTTP {resp.status_code}", hint)
            total = int(resp.headers.get("Content-Length") or 0) or expected_size or None
            with atomic_path(dest) as tmp:
                with (
                    open(tmp, "wb") as out,
                    tqdm(
                        total=total,
                        unit="o",
                        unit_scale=True,
                        unit_divisor=1024,
                        desc=label or f"Téléchargement de {dest.name}",
                        disable=_progress_disabled(progress),
                        file=sys.stderr,
                    ) as bar,
                ):
                    for chunk in resp.iter_content(chunk_size=1 << 16):
                        if chunk:
                            out.write(chunk)
                            bar.update(len(chunk))
                problem = _check_file(tmp, expected_size, checksum)
                if problem:
                    raise DataError(
                        f"Le fichier téléchargé {what} est incomplet ou altéré ({problem}). "
                        "Relancez le téléchargement." + (" " + hint if hint else "")
                    )
    except requests.RequestException as exc:
        raise _offline_error(what, exc, hint) from exc
    return dest


def _check_file(path: Path, expected_size: int | None, checksum: dict | None) -> str | None:
    """Return a French reason when ``path`` is not the announced file, else ``None``."""
    if not path.is_file():
        return "fichier absent"
    size = path.stat().st_size
    if expected_size and size != int(expected_size):
        return f"{size} octets au lieu de {int(expected_size)}"
    if checksum and checksum.get("value") and str(checksum.get("type")).lower() in _CHECKSUM_ALGOS:
        algo = _CHECKSUM_ALGOS[str(checksum["type"]).lower()]
        if file_digest(path, algo) != str(checksum["value"]).lower():
            return f"empreinte {algo} différente"
    if size == 0:
        return "fichier vide"
    if path.suffix.lower() == ".zip" and not zipfile.is_zipfile(path):
        return "archive zip illisible"
    return None


def _dataset_dir(dataset: str, cache: str | os.PathLike | None) -> Path:
    safe = re.sub(r"[^\w.\-]+", "_", dataset.strip("/"))
    path = cache_dir("telechargements", base=cache) / "datagouv" / safe
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cached_resources(folder: Path) -> list[dict]:
    """Resources already downloaded into ``folder`` and still valid (with ``_path``)."""
    found = []
    for manifest in sorted(folder.glob(f"*/{MANIFEST}")):
        try:
            res = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        path = manifest.parent / resource_filename(res)
        if _check_file(path, res.get("filesize"), res.get("checksum")) is None:
            res["_path"] = str(path)
            found.append(res)
    return found


def fetch_resource(
    dataset: str,
    *,
    formats: Sequence[str] | None = None,
    title_pattern: str | None = None,
    base_url: str | None = None,
    cache: str | os.PathLike | None = None,
    session: requests.Session | None = None,
    progress: bool = True,
    force: bool = False,
    hint: str | None = None,
) -> Path:
    """Find a dataset's file through the API, download it into the cache, return its path.

    Parameters
    ----------
    dataset : str
        Dataset slug or id.
    formats, title_pattern
        Resource choice, see :func:`pick_resource`.
    base_url : str, optional
        API root (see :func:`api_url`).
    cache : path-like, optional
        Cache root (default: :func:`~zonesblanches.geodata.cache.cache_dir`).
    session : requests.Session, optional
        Session to re-use.
    progress : bool
        Show a download progress bar.
    force : bool
        Download again even when a valid copy is cached.
    hint : str, optional
        French sentence for error messages: where to get the file by hand and how to pass it.

    Returns
    -------
    pathlib.Path
        Local path of the downloaded (or cached) file.

    Raises
    ------
    NetworkUnavailableError
        Network down and no valid cached copy.
    DataError
        Dataset or matching resource not found, or a corrupt download.

    Notes
    -----
    When the API cannot be reached but a valid copy of a matching resource is in the cache,
    that copy is returned and a :class:`UserWarning` (French) says so.
    """
    folder = _dataset_dir(dataset, cache)
    session = session or make_session()
    try:
        payload = get_dataset(dataset, base_url=base_url, session=session, hint=hint)
    except NetworkUnavailableError:
        cached = _cached_resources(folder)
        if not cached or force:
            raise
        res = pick_resource(
            {"slug": dataset, "resources": cached}, formats=formats, title_pattern=title_pattern
        )
        warnings.warn(
            f"data.gouv.fr injoignable : utilisation de la copie en cache de « {res.get('title')} » "
            f"(mise à jour du {str(res.get('last_modified') or '?')[:10]}).",
            UserWarning,
            stacklevel=2,
        )
        return Path(res["_path"])

    try:
        res = pick_resource(payload, formats=formats, title_pattern=title_pattern)
    except DataError as exc:
        raise DataError(f"{exc} {hint}" if hint else str(exc)) from exc
    res_dir = folder / re.sub(r"[^\w.\-]+", "_", str(res.get("id") or "sans-id"))
    dest = res_dir / resource_filename(res)
    size, checksum = res.get("filesize"), res.get("checksum")
    if not force and _check_file(dest, size, checksum) is None:
        return dest

    what = f"« {res.get('title') or dest.name} » (data.gouv.fr)"
    urls = [u for u in (res.get("url"), res.get("latest")) if u]
    last_exc: Exception | None = None
    for url in dict.fromkeys(urls):
        try:
            download(
                url,
                dest,
                session=session,
                progress=progress,
                label=f"Téléchargement de {dest.name}",
                what=what,
                hint=hint,
                expected_size=size,
                checksum=checksum,
            )
            break
        except NetworkUnavailableError as exc:
            last_exc = exc
    else:
        assert last_exc is not None
        raise last_exc
    with atomic_path(res_dir / MANIFEST) as tmp:
        tmp.write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
    return dest


# --------------------------------------------------------------------------------------------
# Archives
# --------------------------------------------------------------------------------------------

_SHP_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx")


def choose_member(names: Iterable[str], patterns: Sequence[str]) -> str | None:
    """First archive member matching the first pattern that matches anything.

    Patterns are shell globs matched case-insensitively against the member's file name and its
    full path (``"*wgs84*.geojson"``, ``"*.gpkg"``); patterns are tried in order of preference.
    Folders and macOS metadata (``__MACOSX/``) are ignored.
    """
    members = [
        n for n in names if not n.endswith("/") and "__macosx" not in n.lower() and n.strip()
    ]
    for pattern in patterns:
        pat = pattern.lower()
        hits = [
            n
            for n in members
            if fnmatch.fnmatch(n.lower(), pat)
            or fnmatch.fnmatch(PurePosixPath(n).name.lower(), pat)
        ]
        if hits:
            return sorted(hits, key=lambda n: (len(n), n))[0]
    return None


def extraction_dir(archive: str | os.PathLike, cache: str | os.PathLike | None = None) -> Path:
    """Cache folder where the members of ``archive`` are extracted (see :func:`extract_from_zip`)."""
    archive = Path(archive).resolve()
    stat = archive.stat()
    key = hashlib.sha1(f"{archive}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    safe = re.sub(r"[^\w.\-]+", "_", archive.stem)[:80]
    return cache_dir("telechargements", base=cache) / "extraits" / f"{safe}-{key}"


def extract_from_zip(
    archive: str | os.PathLike,
    patterns: Sequence[str],
    *,
    dest_dir: str | os.PathLike | None = None,
    what: str = "l'archive",
) -> Path:
    """Extract the preferred member of a zip archive and return its path.

    Parameters
    ----------
    archive : path-like
        Zip file.
    patterns : sequence of str
        Globs in order of preference (see :func:`choose_member`).
    dest_dir : path-like, optional
        Where to extract. Default: a folder of the cache (``telechargements/extraits/``) named
        after the archive and keyed on its path, size and date, so that a user's folder is
        never written to. An extracted file of the right size is re-used.
    what : str
        French noun phrase for error messages.

    Returns
    -------
    pathlib.Path
        The extracted file. For a shapefile, its sidecars (``.dbf``, ``.shx``, ``.prj``,
        ``.cpg``…) are extracted beside it.

    Raises
    ------
    DataError
        Not a readable zip, or no member matches.
    """
    archive = Path(archive)
    dest = Path(dest_dir) if dest_dir else extraction_dir(archive)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(
            f"{what.capitalize()} « {archive.name} » n'est pas un zip lisible."
        ) from exc
    with zf:
        names = zf.namelist()
        member = choose_member(names, patterns)
        if member is None:
            raise DataError(
                f"{what.capitalize()} « {archive.name} » ne contient aucun fichier attendu "
                f"({', '.join(patterns)}). Contenu : {', '.join(names[:20]) or 'vide'}."
            )
        wanted = [member]
        if member.lower().endswith(".shp"):
            stem = member[:-4].lower()
            wanted = [
                n for n in names if n.lower()[:-4] == stem and n.lower()[-4:] in _SHP_SIDECARS
            ]
        dest.mkdir(parents=True, exist_ok=True)
        for name in wanted:
            info = zf.getinfo(name)
            target = dest / PurePosixPath(name).name  # flat: no path from the archive is trusted
            if target.is_file() and target.stat().st_size == info.file_size:
                continue
            try:
                with atomic_path(target) as tmp, zf.open(info) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise DataError(
                    f"{what.capitalize()} « {archive.name} » est abîmée : impossible d'en extraire "
                    f"« {name} »."
                ) from exc
    return dest / PurePosixPath(member).name
