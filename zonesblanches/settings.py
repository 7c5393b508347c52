"""Every setting read from the environment, documented in one place.

Like OSMnx's ``settings`` module, this is the one place that knows the environment: the other
modules call the functions below (read at call time, so a test or a notebook can change a
variable between two calls) and never read ``os.environ`` themselves.

=================================  ==========================================================
variable                           effect
=================================  ==========================================================
``ZONESBLANCHES_HORS_LIGNE``       ``1`` (any value but empty or ``0``): no download at all;
                                   the demo keeps straight-line times (the test suite sets it)
``ZONESBLANCHES_CACHE``            cache folder (downloads, built road networks); default
                                   ``$XDG_CACHE_HOME/zonesblanches``, else
                                   ``~/.cache/zonesblanches``
``XDG_CACHE_HOME``                 the usual root of user caches (freedesktop.org convention)
``ZONESBLANCHES_DATAGOUV_API``     root of the data.gouv.fr API v1 (tests, mirrors); default
                                   :data:`DATAGOUV_API_URL`
``ZONESBLANCHES_INSEE_URL``        root of INSEE's file downloads (tests, mirrors); default
                                   :data:`INSEE_FILES_URL`
``ZONESBLANCHES_GEOCODEUR``        URL of the Géoplateforme CSV batch geocoder (tests,
                                   mirrors); default :data:`GEOCODER_URL`
``ZONESBLANCHES_TRANSPORT_API``    root of the transport.data.gouv.fr API (tests, mirrors);
                                   default :data:`TRANSPORT_API_URL`
``ZONESBLANCHES_FILS_HIERARCHIE``  threads of a contraction hierarchy's build (a positive
                                   integer; default every thread numba has, i.e. every core):
                                   ``1`` in each worker of a pool that already runs one
                                   process per core (Dask), so that they do not oversubscribe
=================================  ==========================================================
"""

from __future__ import annotations

import os
from pathlib import Path

OFFLINE_VAR = "ZONESBLANCHES_HORS_LIGNE"
"""Set to 1 to forbid any download (the test suite sets it)."""

CACHE_VAR = "ZONESBLANCHES_CACHE"
"""Cache folder; overrides :data:`XDG_CACHE_VAR`."""

XDG_CACHE_VAR = "XDG_CACHE_HOME"
"""Root of user caches (freedesktop.org); the cache is its ``zonesblanches`` sub-folder."""

DATAGOUV_API_VAR = "ZONESBLANCHES_DATAGOUV_API"
"""Overrides the data.gouv.fr API root (tests, mirrors)."""

INSEE_URL_VAR = "ZONESBLANCHES_INSEE_URL"
"""Overrides the root of INSEE's file downloads (tests, mirrors)."""

GEOCODER_URL_VAR = "ZONESBLANCHES_GEOCODEUR"
"""Overrides the URL of the Géoplateforme CSV batch geocoder (tests, mirrors)."""

DATAGOUV_API_URL = "https://www.data.gouv.fr/api/1/"
"""Real data.gouv.fr API v1 root."""

INSEE_FILES_URL = "https://www.insee.fr/fr/statistiques/fichier/"
"""Root of INSEE's file downloads."""

GEOCODER_URL = "https://data.geopf.fr/geocodage/search/csv"
"""The Géoplateforme's CSV batch geocoder (IGN)."""

TRANSPORT_API_VAR = "ZONESBLANCHES_TRANSPORT_API"
"""Overrides the transport.data.gouv.fr API root (tests, mirrors)."""

TRANSPORT_API_URL = "https://transport.data.gouv.fr/api/"
"""The national access point for public-transport data (GTFS)."""

CH_THREADS_VAR = "ZONESBLANCHES_FILS_HIERARCHIE"
"""Threads of the contraction hierarchy's build by rounds (default: numba's, every core)."""


def offline() -> bool:
    """True when ``ZONESBLANCHES_HORS_LIGNE`` forbids downloads."""
    return os.environ.get(OFFLINE_VAR, "") not in ("", "0")


def cache_root() -> Path:
    """The cache root: ``$ZONESBLANCHES_CACHE``, ``$XDG_CACHE_HOME/zonesblanches`` or
    ``~/.cache/zonesblanches`` (not created here)."""
    if os.environ.get(CACHE_VAR):
        return Path(os.environ[CACHE_VAR])
    xdg = os.environ.get(XDG_CACHE_VAR)
    return (Path(xdg) if xdg else Path.home() / ".cache") / "zonesblanches"


def datagouv_api_url() -> str:
    """The data.gouv.fr API root: ``$ZONESBLANCHES_DATAGOUV_API`` or the real one."""
    return os.environ.get(DATAGOUV_API_VAR) or DATAGOUV_API_URL


def insee_files_url() -> str:
    """The root of INSEE's file downloads: ``$ZONESBLANCHES_INSEE_URL`` or the real one."""
    return os.environ.get(INSEE_URL_VAR) or INSEE_FILES_URL


def geocoder_url() -> str:
    """The batch geocoder's URL: ``$ZONESBLANCHES_GEOCODEUR`` or the real one."""
    return os.environ.get(GEOCODER_URL_VAR) or GEOCODER_URL


def transport_api_url() -> str:
    """The transport.data.gouv.fr API root: ``$ZONESBLANCHES_TRANSPORT_API`` or the real one."""
    return os.environ.get(TRANSPORT_API_VAR) or TRANSPORT_API_URL


def hierarchy_threads() -> int | None:
    """Threads of a contraction hierarchy's build: ``$ZONESBLANCHES_FILS_HIERARCHIE``, or
    ``None`` (numba's default, every core) when unset or empty.

    Raises
    ------
    ParameterError
        If the variable is not a positive integer.
    """
    value = os.environ.get(CH_THREADS_VAR, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        from zonesblanches.errors import ParameterError

        raise ParameterError(
            f"{CH_THREADS_VAR} doit être un nombre entier de fils d'exécution, au moins 1 "
            f"(reçu : « {value} »)."
        )
    return int(value)
