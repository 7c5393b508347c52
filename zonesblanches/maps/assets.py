"""Leaflet, inlined: the maps must open without internet (e-mail attachments, offline laptops).

Leaflet's JavaScript, stylesheet and images come from the PyPI package ``XStatic-Leaflet``
(import name ``xstatic.pkg.leaflet``), a plain repackaging of the upstream release files that
pip installs with zonesblanches: nothing is copied into this repository. The few controls the
maps need beyond Leaflet's core (full screen, commune search, print, legends tied to layers) are
small pieces of our own code in :mod:`zonesblanches.maps._mapjs`.

Beyond a few thousand services, markers are grouped by Leaflet.markercluster (MIT licence,
github.com/Leaflet/Leaflet.markercluster, maintained by the Leaflet organisation), inlined the
same way from the PyPI package ``XStatic-Leaflet-MarkerCluster``: thousands of individual
markers would make the page slow to open (issue 16, item 9: 100,000 services took minutes).
"""

from __future__ import annotations

import base64
import importlib
import re
from functools import cache
from pathlib import Path

from zonesblanches.errors import ZonesBlanchesError

_SOURCE_MAP = re.compile(r"\n?//# sourceMappingURL=\S+\s*$")
_CSS_URL = re.compile(r"url\((['\"]?)images/([A-Za-z0-9_.-]+\.png)\1\)")


_PACKAGES = {
    "leaflet": ("XStatic-Leaflet", "La bibliothèque cartographique Leaflet"),
    "leaflet_markercluster": (
        "XStatic-Leaflet-MarkerCluster",
        "Le module de regroupement des marqueurs Leaflet.markercluster",
    ),
}
"""XStatic module name → (PyPI name, what it is, in French)."""


def _xstatic(name: str):
    """The ``xstatic.pkg.<name>`` module, or a French error saying what to install."""
    try:
        return importlib.import_module(f"xstatic.pkg.{name}")
    except ImportError:
        pip_name, what = _PACKAGES[name]
        raise ZonesBlanchesError(
            f"{what} est introuvable : installez le paquet « {pip_name} » (pip install "
            f"{pip_name}), qui l'embarque dans la carte pour qu'elle s'ouvre sans internet."
        ) from None


def _package_dir(name: str) -> Path:
    """Folder of the files of ``xstatic.pkg.<name>``."""
    return Path(_xstatic(name).BASE_DIR)


def _script(name: str, filename: str) -> str:
    """``filename`` of ``xstatic.pkg.<name>``, without its source-map comment (no request to a
    .map), safe inside a ``<script>`` element."""
    text = (_package_dir(name) / filename).read_text(encoding="utf-8")
    return _SOURCE_MAP.sub("\n", text).replace("</script", "<\\/script")


@cache
def leaflet_version() -> str:
    """Version of the inlined Leaflet (e.g. ``"1.9.3"``)."""
    return str(_xstatic("leaflet").VERSION)


@cache
def leaflet_js() -> str:
    """Leaflet's minified JavaScript, without its source-map comment (no request to a .map)."""
    return _script("leaflet", "leaflet.js")


@cache
def leaflet_css() -> str:
    """Leaflet's stylesheet with its images inlined as ``data:`` URIs."""
    folder = _package_dir("leaflet")
    css = (folder / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match) -> str:
        data = (folder / "images" / match.group(2)).read_bytes()
        return "url(data:image/png;base64," + base64.b64encode(data).decode("ascii") + ")"

    return _CSS_URL.sub(inline, css).replace("</style", "<\\/style")


@cache
def markercluster_version() -> str:
    """Version of the inlined Leaflet.markercluster (e.g. ``"1.4.1"``)."""
    return str(_xstatic("leaflet_markercluster").VERSION)


@cache
def markercluster_js() -> str:
    """Leaflet.markercluster's minified JavaScript, without its source-map comment."""
    return _script("leaflet_markercluster", "leaflet.markercluster.js")


@cache
def markercluster_css() -> str:
    """Leaflet.markercluster's stylesheets (animation; default cluster icons)."""
    folder = _package_dir("leaflet_markercluster")
    css = "\n".join(
        (folder / name).read_text(encoding="utf-8")
        for name in ("MarkerCluster.css", "MarkerCluster.Default.css")
    )
    return css.replace("</style", "<\\/style")


def check_assets() -> None:
    """Raise a French :class:`ZonesBlanchesError` now if Leaflet cannot be inlined."""
    leaflet_js()
    leaflet_css()
