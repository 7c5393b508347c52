"""INSEE's Filosofi archives: known URLs, download into the cache, and the data file inside a
zip or a 7z (the 2017/2019 zips hold a ``.7z``). Public names are re-exported by
:mod:`zonesblanches.geodata.carreaux`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from zonesblanches import settings
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata import datagouv
from zonesblanches.geodata.cache import cache_dir

INSEE_BASE_URL = settings.INSEE_FILES_URL
"""Root of INSEE's file downloads."""

INSEE_ENV_VAR = settings.INSEE_URL_VAR
"""Environment variable that overrides :data:`INSEE_BASE_URL` (tests, mirrors)."""

FILOSOFI_ARCHIVES: dict[tuple[int, int, str], tuple[str, str]] = {
    # (vintage, resolution in m, format) -> (path under the base URL, INSEE page)
    (2021, 200, "csv"): (
        "8735162/Filosofi2021_carreaux_200m_csv.zip",
        "https://www.insee.fr/fr/statistiques/8735162",
    ),
    (2021, 200, "gpkg"): (
        "8735162/Filosofi2021_carreaux_200m_gpkg.zip",
        "https://www.insee.fr/fr/statistiques/8735162",
    ),
    (2021, 1000, "gpkg"): (
        "8735171/Filosofi2021_carreaux_1km_gpkg.zip",
        "https://www.insee.fr/fr/statistiques/8735171",
    ),
    (2019, 200, "gpkg"): (
        "7655475/Filosofi2019_carreaux_200m_gpkg.zip",
        "https://www.insee.fr/fr/statistiques/7655475",
    ),
    (2017, 200, "csv"): (
        "6215138/Filosofi2017_carreaux_200m_csv.zip",
        "https://www.insee.fr/fr/statistiques/6215138",
    ),
    (2015, 200, "csv"): (
        "4176290/Filosofi2015_carreaux_200m_csv.zip",
        "https://www.insee.fr/fr/statistiques/4176290",
    ),
}
"""Known INSEE archives (URLs from the format notes; third-party confirmed, see docs)."""


def _member_patterns(resolution: int | None, territory: str, exts: Sequence[str]) -> list[str]:
    tokens = {200: ["200m"], 1000: ["1km", "1000m"]}.get(resolution or 0, ["200m", "1km"])
    pats = [f"*{tok}*{territory}*.{ext}" for ext in exts for tok in tokens]
    pats += [f"*{territory}*.{ext}" for ext in exts]
    pats += [f"*.{ext}" for ext in exts]
    return pats


def _open_archive(
    path: Path, resolution: int | None, territory: str, cache: str | os.PathLike | None
) -> Path:
    """Return the data file inside a zip (possibly holding a .7z) or a .7z archive."""
    exts = ("csv", "gpkg")
    suffix = path.suffix.lower()
    if suffix == ".zip":
        inner = datagouv.extract_from_zip(
            path,
            _member_patterns(resolution, territory, exts) + ["*.7z"],
            dest_dir=datagouv.extraction_dir(path, cache),
            what="l'archive des carreaux",
        )
        if inner.suffix.lower() != ".7z":
            return inner
        path, suffix = inner, ".7z"
    if suffix == ".7z":
        try:
            import py7zr
        except ImportError as exc:  # pragma: no cover - py7zr is a dependency
            raise DataError(
                f"L'archive « {path.name} » est au format 7z : installez le paquet py7zr, ou "
                "décompressez-la vous-même et passez le fichier CSV ou GPKG avec --carreaux."
            ) from exc
        dest = datagouv.extraction_dir(path, cache)
        try:
            with py7zr.SevenZipFile(path, mode="r") as z:
                names = z.getnames()
                member = datagouv.choose_member(
                    names, _member_patterns(resolution, territory, exts)
                )
                if member is None:
                    raise DataError(
                        f"L'archive « {path.name} » ne contient pas de fichier de carreaux "
                        f"(CSV ou GPKG). Contenu : {', '.join(names[:20])}."
                    )
                target = dest / member
                if not target.is_file():
                    z.extract(path=dest, targets=[member])
        except py7zr.exceptions.Bad7zFile as exc:
            raise DataError(f"L'archive « {path.name} » n'est pas un 7z lisible.") from exc
        if not target.is_file():
            raise DataError(f"Extraction de « {member} » depuis « {path.name} » impossible.")
        return target
    return path


def filosofi_hint(vintage: int = 2021, resolution: int = 200, file_format: str = "csv") -> str:
    """French instructions for getting the Filosofi file by hand and passing it."""
    entry = FILOSOFI_ARCHIVES.get((vintage, resolution, file_format))
    page = entry[1] if entry else "https://www.insee.fr/fr/statistiques/8735162"
    name = PurePosixPath(entry[0]).name if entry else "Filosofi2021_carreaux_200m_csv.zip"
    size = "200 m" if resolution == 200 else "1 km"
    return (
        f"Téléchargez à la main l'archive « {name} » (INSEE, Filosofi {vintage}, carreaux de "
        f"{size}) depuis {page}, puis passez-la avec --carreaux FICHIER (l'archive zip, ou le "
        "fichier CSV ou GPKG qu'elle contient). Sans carroyage, la population des communes est "
        "utilisée."
    )


def filosofi_url(
    vintage: int = 2021,
    resolution: int = 200,
    file_format: str = "csv",
    *,
    base_url: str | None = None,
) -> str:
    """URL of INSEE's archive for a vintage, resolution and format.

    The base is ``base_url``, else ``$ZONESBLANCHES_INSEE_URL``, else :data:`INSEE_BASE_URL`.

    Raises
    ------
    ParameterError
        Combination not published (or not known to this toolkit).
    """
    key = (int(vintage), int(resolution), str(file_format).lower())
    if key not in FILOSOFI_ARCHIVES:
        known = ", ".join(f"{v} {r} m {f}" for v, r, f in sorted(FILOSOFI_ARCHIVES))
        raise ParameterError(
            f"Pas d'archive INSEE connue pour Filosofi {vintage}, carreaux de {resolution} m, "
            f"format {file_format}. Combinaisons connues : {known}."
        )
    base = base_url or settings.insee_files_url()
    return base.rstrip("/") + "/" + FILOSOFI_ARCHIVES[key][0]


def download_carreaux(
    vintage: int = 2021,
    resolution: int = 200,
    file_format: str = "csv",
    *,
    base_url: str | None = None,
    cache: str | os.PathLike | None = None,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Download (or re-use from the cache) INSEE's Filosofi archive; return the zip's path.

    The 200 m archives weigh hundreds of megabytes; they are downloaded once into
    ``telechargements/insee/`` of the cache.

    Raises
    ------
    NetworkUnavailableError
        Offline or refused, with the French instructions of :func:`filosofi_hint`.
    """
    url = filosofi_url(vintage, resolution, file_format, base_url=base_url)
    hint = filosofi_hint(vintage, resolution, file_format)
    dest = cache_dir("telechargements", base=cache) / "insee" / PurePosixPath(url).name
    if not force and dest.is_file() and datagouv._check_file(dest, None, None) is None:
        return dest
    return datagouv.download(
        url,
        dest,
        progress=progress,
        label=f"Téléchargement de {dest.name} (INSEE)",
        what=f"l'archive INSEE « {dest.name} »",
        hint=hint,
    )
