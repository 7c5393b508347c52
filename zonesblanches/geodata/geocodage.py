"""Address geocoding through the Géoplateforme CSV batch geocoder (IGN, Base Adresse Nationale).

``POST https://data.geopf.fr/geocodage/search/csv`` takes a multipart form (``data`` = a CSV file,
``columns`` = the columns joined into the query, ``citycode`` = the column holding an INSEE code
to filter on) and answers the same CSV with ``longitude``, ``latitude`` and ``result_*`` columns
appended (addok-csv semantics; columns are read by name, their order and set vary by server).

Decisions
---------
* **Batches** of :data:`BATCH_SIZE` addresses per request; at most :data:`MAX_RATE` requests per
  second (the service allows 50 per IP), and a ``429`` answer is retried after the number of
  seconds of its ``retry-after`` header (5 s when absent); ``5xx`` and time-outs are retried
  :data:`RETRIES` times, then :class:`~zonesblanches.errors.NetworkUnavailableError` (French).
* **citycode filter**: the declared commune's INSEE code, when the row has one, so that a street
  name common to many towns is matched in the right commune.
* **Score threshold** :data:`SCORE_MIN` = 0.6. The service writes nothing at or below its own
  0.5; between 0.5 and 0.6, BAN matches are mostly a homonymous street or only the commune name
  matched by chance (the real ``Place de l Hotel de Ville`` → ``Rue de l'Hôtel de Ville`` answer
  scored 0.80; a street answer on a wrong street typically scores 0.5–0.6). Below the threshold
  the row is not placed by the geocoder: the caller falls back on its commune and flags it.
* **Precision** from ``result_type``: ``housenumber`` → ``adresse``; ``street`` and ``locality``
  → ``rue``; ``municipality`` → ``commune``.
* **Cache** by normalised address (address, postcode, commune, INSEE code, lower-case, no accents),
  in ``geocodage/adresses.json`` of the cache folder, written atomically; not-found answers are
  cached too, so a re-run sends no request.
* **Offline** (``ZONESBLANCHES_HORS_LIGNE=1``): no request; only cached answers are used.

The URL is, in order: the ``url`` argument, ``$ZONESBLANCHES_GEOCODEUR`` (tests point it at a
local server), :data:`DEFAULT_URL`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import requests

from zonesblanches import settings
from zonesblanches._text import fr_count, fr_plural, normalize
from zonesblanches.errors import NetworkUnavailableError, ParameterError
from zonesblanches.geodata.cache import atomic_path, cache_dir
from zonesblanches.geodata.datagouv import make_session

DEFAULT_URL = settings.GEOCODER_URL
URL_ENV_VAR = settings.GEOCODER_URL_VAR
SCORE_MIN = 0.6
"""Lowest ``result_score`` accepted (see the module documentation)."""
BATCH_SIZE = 500
MAX_RATE = 50.0
"""Requests per second at most (the Géoplateforme's limit per IP)."""
RETRIES = 3
TIMEOUT = (10, 60)
DEFAULT_RETRY_AFTER = 5.0
"""Seconds waited after a 429 without ``retry-after`` (the documented lock-out time)."""

PRECISION_BY_TYPE = {
    "housenumber": "adresse",
    "street": "rue",
    "locality": "rue",
    "municipality": "commune",
}

OFFLINE_ENV = settings.OFFLINE_VAR

_CACHE_FILE = "adresses.json"
_INPUT_COLUMNS = ("cle", "adresse", "code_postal", "commune", "code_insee")


def address_key(adresse: object, code_postal: object, commune: object, code_insee: object) -> str:
    """Cache key of an address: its parts normalised (case, accents, punctuation) and joined.

    >>> address_key("1 bis Rue François-Marceau", "59260", "Lille", "59350")
    '1 bis rue francois marceau|59260|lille|59350'
    """
    return "|".join(normalize(v) for v in (adresse, code_postal, commune, code_insee))


@dataclass
class GeocodeResult:
    """Answers of :meth:`Geocoder.geocode`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per distinct key asked: ``cle``, ``lon``, ``lat``, ``score``, ``type``,
        ``label``, ``citycode``, ``precision`` (``adresse``, ``rue``, ``commune``, or empty when
        not found or below :data:`SCORE_MIN`), ``motif`` (French reason when not placed),
        ``depuis_cache`` (bool).
    requests : int
        HTTP requests sent (429 answers included).
    warnings : list of str
        French sentences (offline, service unreachable…).
    """

    table: pd.DataFrame
    requests: int = 0
    warnings: list[str] = field(default_factory=list)


class Geocoder:
    """Client of the Géoplateforme CSV batch geocoder, with a rate limit and a cache.

    Parameters
    ----------
    url : str, optional
        Endpoint; default ``$ZONESBLANCHES_GEOCODEUR``, else :data:`DEFAULT_URL`.
    cache : path-like, optional
        Cache root (default: :func:`~zonesblanches.geodata.cache.cache_dir`).
    score_min : float
        Threshold, see :data:`SCORE_MIN`.
    batch_size : int
        Addresses per request.
    max_rate : float
        Requests per second at most.
    retries : int
        Retries after a time-out or a server error (429 answers are always waited for, up to
        ``retries`` times too).
    timeout : (float, float)
        Connect and read time-outs, seconds.
    session : requests.Session, optional
    sleep : callable, optional
        ``time.sleep`` (replaceable in tests).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        cache: str | os.PathLike | None = None,
        score_min: float = SCORE_MIN,
        batch_size: int = BATCH_SIZE,
        max_rate: float = MAX_RATE,
        retries: int = RETRIES,
        timeout: tuple[float, float] = TIMEOUT,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 <= score_min <= 1:
            raise ParameterError("score_min doit être compris entre 0 et 1.")
        if batch_size < 1 or max_rate <= 0 or retries < 0:
            raise ParameterError("batch_size ≥ 1, max_rate > 0 et retries ≥ 0 sont attendus.")
        self.url = url or settings.geocoder_url()
        self.cache_path = cache_dir("geocodage", base=cache) / _CACHE_FILE
        self.score_min = score_min
        self.batch_size = batch_size
        self.min_interval = 1.0 / max_rate
        self.retries = retries
        self.timeout = timeout
        self.session = session or make_session()
        self.sleep = sleep
        self._last = 0.0
        self._lock = threading.Lock()
        self.requests = 0

    # -- cache --------------------------------------------------------------------------------

    def _load_cache(self) -> dict[str, dict]:
        try:
            data = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_cache(self, data: dict[str, dict]) -> None:
        with atomic_path(self.cache_path) as tmp:
            tmp.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True), encoding="utf-8")

    # -- public -------------------------------------------------------------------------------

    def geocode(self, addresses: pd.DataFrame) -> GeocodeResult:
        """Geocode addresses (cached answers first, then the service in batches).

        Parameters
        ----------
        addresses : pandas.DataFrame
            Columns ``adresse`` (required), ``code_postal``, ``commune``, ``code_insee``
            (optional; the INSEE code becomes the ``citycode`` filter).

        Returns
        -------
        GeocodeResult
            Keyed by :func:`address_key` (column ``cle``).

        Raises
        ------
        NetworkUnavailableError
            The service cannot be reached, or keeps failing after the retries (French message);
            answers obtained before the failure are cached.
        """
        frame = pd.DataFrame({c: addresses.get(c, "") for c in _INPUT_COLUMNS[1:]})
        frame = frame.fillna("").astype(str)
        frame.insert(
            0,
            "cle",
            [address_key(*r) for r in frame[list(_INPUT_COLUMNS[1:])].itertuples(index=False)],
        )
        frame = frame[frame["adresse"].str.strip() != ""].drop_duplicates("cle")
        known = self._load_cache()
        todo = frame[~frame["cle"].isin(known)]
        warnings: list[str] = []
        start = self.requests
        if len(todo) and settings.offline():
            warnings.append(
                f"Mode hors ligne (ZONESBLANCHES_HORS_LIGNE=1) : {fr_count(len(todo), 'adresse')} "
                f"non {fr_plural(len(todo), 'géocodée')} : services placés à leur commune quand "
                "elle est connue."
            )
        elif len(todo):
            try:
                for i in range(0, len(todo), self.batch_size):
                    answers = self._request(todo.iloc[i : i + self.batch_size])
                    known.update(answers)
            finally:
                self._save_cache(known)
        asked = set(todo["cle"])
        rows = [
            {"cle": key, **known[key], "depuis_cache": key not in asked}
            for key in frame["cle"]
            if key in known
        ]
        table = pd.DataFrame(
            rows,
            columns=["cle", "lon", "lat", "score", "type", "label", "citycode", "depuis_cache"],
        )
        self._classify(table)
        return GeocodeResult(table, self.requests - start, warnings)

    def _classify(self, table: pd.DataFrame) -> None:
        precision, motif = [], []
        for score, kind, lon in zip(table["score"], table["type"], table["lon"], strict=True):
            if lon is None or pd.isna(lon):
                precision.append("")
                motif.append("adresse introuvable par le géocodeur")
            elif score < self.score_min:
                precision.append("")
                motif.append(f"score du géocodeur {score:.2f} sous le seuil {self.score_min:.2f}")
            else:
                precision.append(PRECISION_BY_TYPE.get(kind, "commune"))
                motif.append("")
        table["precision"] = precision
        table["motif"] = motif

    # -- HTTP ---------------------------------------------------------------------------------

    def _wait_turn(self) -> None:
        with self._lock:
            now = time.monotonic()
            wait = self._last + self.min_interval - now
            if wait > 0:
                self.sleep(wait)
            self._last = time.monotonic()

    def _request(self, batch: pd.DataFrame) -> dict[str, dict]:
        body = io.StringIO()
        batch[list(_INPUT_COLUMNS)].to_csv(body, index=False, lineterminator="\n")
        form = [("columns", c) for c in ("adresse", "code_postal", "commune")]
        if (batch["code_insee"].str.strip() != "").any():
            form.append(("citycode", "code_insee"))
        files = {"data": ("adresses.csv", body.getvalue().encode("utf-8"), "text/csv")}
        failures = 0
        what = "le géocodeur de la Géoplateforme"
        while True:
            self._wait_turn()
            self.requests += 1
            try:
                resp = self.session.post(self.url, data=form, files=files, timeout=self.timeout)
            except requests.Timeout as exc:
                failures += 1
                if failures > self.retries:
                    raise NetworkUnavailableError(
                        f"Le géocodeur ne répond pas ({self.url}, délai dépassé {failures} fois) : "
                        "adresses non géocodées. Relancez plus tard, ou passez des coordonnées."
                    ) from exc
                continue
            except requests.RequestException as exc:
                raise NetworkUnavailableError(
                    f"Impossible de joindre {what} ({type(exc).__name__}) : adresses non "
                    "géocodées. Vérifiez la connexion, ou passez des coordonnées."
                ) from exc
            if resp.status_code == 429:
                failures += 1
                if failures > self.retries:
                    raise NetworkUnavailableError(
                        f"Le géocodeur refuse les requêtes (HTTP 429, trop de requêtes) après "
                        f"{self.retries} attentes : relancez dans quelques minutes."
                    )
                self.sleep(_retry_after(resp.headers.get("retry-after")))
                continue
            if resp.status_code >= 500:
                failures += 1
                if failures > self.retries:
                    raise NetworkUnavailableError(
                        f"Le géocodeur est en panne (HTTP {resp.status_code}) : relancez plus tard."
                    )
                self.sleep(min(2.0**failures, 30.0))
                continue
            if resp.status_code != 200:
                raise NetworkUnavailableError(
                    f"Le géocodeur a refusé la requête (HTTP {resp.status_code}) : "
                    f"{resp.text[:200]}"
                )
            return _parse_answer(resp.content, set(batch["cle"]))


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(str(value).strip()))
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER


def _number(text: str | None) -> float | None:
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if value == value else None


def _parse_answer(content: bytes, keys: set[str]) -> dict[str, dict]:
    """Read the geocoder's CSV by header name (column order differs between servers)."""
    text = content.decode("utf-8-sig", errors="replace")
    try:
        delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;").delimiter
    except csv.Error:
        delimiter = ","
    out: dict[str, dict] = {}
    for rec in csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter):
        key = rec.get("cle")
        if key not in keys:
            continue
        lon, lat = _number(rec.get("longitude")), _number(rec.get("latitude"))
        found = lon is not None and lat is not None and (rec.get("result_status") or "ok") == "ok"
        out[key] = {
            "lon": lon if found else None,
            "lat": lat if found else None,
            "score": _number(rec.get("result_score")) or 0.0,
            "type": (rec.get("result_type") or "") if found else "",
            "label": (rec.get("result_label") or "") if found else "",
            "citycode": (rec.get("result_citycode") or "") if found else "",
        }
    for key in keys - set(out):  # a row missing from the answer: not found, said so
        out[key] = {"lon": None, "lat": None, "score": 0.0, "type": "", "label": "",
                    "citycode": ""}  # fmt: skip
    return out
