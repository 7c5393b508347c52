"""The output folder of a command: checked before computing, signed by a manifest at the end.

A run (:func:`prepare` … :meth:`OutputRun.finish`) goes like this:

1. **before any computation**, the folder must be a folder (or creatable) where files can be
   written, no input file may lie inside it (an output could replace it), and no file with the
   name of an output may be there unless a previous run wrote it (listed in its manifest) or
   the user said ``--ecraser``: nothing the user made is overwritten;
2. the previous ``manifeste.json`` is removed (the folder is visibly incomplete while the run
   goes on); the files it listed stay the tool's own, recorded in ``.manifeste_en_cours.json``
   so that an interrupted run is no obstacle to the next one;
3. at the end, files of the previous run that this run did not rewrite are removed (only those
   still identical to what the tool wrote: a file the user edited is kept), and
   ``manifeste.json`` is written **last**: every file with its size and SHA-256, the
   parameters, the version, and the start and end times. A folder without it is incomplete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from zonesblanches._version import __version__
from zonesblanches.errors import DataError

MANIFEST = "manifeste.json"
PENDING = ".manifeste_en_cours.json"

OUTPUT_NAMES = frozenset(
    {
        "carte.html",
        "rapport.html",
        "figures",
        "communes.csv",
        "synthese.csv",
        "synthese_departements.csv",
        "synthese_regions.csv",
        "synthese_territoire.csv",
        "communes_zone_blanche.csv",
        "zones_blanches.csv",
        "services_hors_territoire.csv",
        "diagnostic.gpkg",
        "diagnostic.xlsx",
        "rejets.csv",
        "signalements.csv",
        "rejets_carreaux.csv",
        "gtfs_rejets.csv",
        "couverture.csv",
        "qpv.csv",
        "ecarts_qpv.csv",
        "indicateurs.xlsx",
        "sites_suggeres.csv",
        "sites_suggeres.gpkg",
        "courbe_gain.csv",
        "courbe_gain.png",
        "carte_sites.html",
        "scenario_communes.csv",
        "scenario_epci.csv",
        "scenario_unites.csv",
        "scenario_qpv.csv",
        "scenario.gpkg",
        "carte_scenario.html",
        "valenciennes_reseau",
    }
)
"""Names the commands may write at the top of the output folder (files or folders)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _owned(folder: Path) -> dict[str, str]:
    """Files the tool wrote in ``folder`` (relative name → SHA-256), from its manifests."""
    owned: dict[str, str] = {}
    for name in (PENDING, MANIFEST):
        path = folder / name
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            owned.update({f["nom"]: f["sha256"] for f in record.get("fichiers", [])})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # an unreadable manifest owns nothing: its files count as the user's
    return owned


def _write_json(path: Path, record: dict) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _probe_writable(folder: Path) -> None:
    probe = folder / f".zonesblanches_essai_{os.getpid()}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataError(
            f"Impossible d'écrire dans le dossier de sortie « {folder} » (droits, support en "
            "lecture seule ?) : choisissez un autre dossier avec --sortie. Rien n'a été calculé."
        ) from exc


@dataclass
class OutputRun:
    """An output folder being written (see the module documentation)."""

    folder: Path
    owned: dict[str, str]
    start: dt.datetime
    start_ns: int
    command: str = ""
    parameters: dict = field(default_factory=dict)

    def _written(self) -> dict[str, Path]:
        out = {}
        for path in sorted(self.folder.rglob("*")):
            if path.name in (MANIFEST, PENDING) or not path.is_file() or path.is_symlink():
                continue
            if path.stat().st_mtime_ns >= self.start_ns:
                out[path.relative_to(self.folder).as_posix()] = path
        return out

    def abort(self) -> None:
        """After a failure or Ctrl-C: what was written so far stays the tool's own."""
        try:
            files = [
                {"nom": name, "sha256": _sha256(path)} for name, path in self._written().items()
            ]
            known = {f["nom"] for f in files}
            files += [{"nom": n, "sha256": h} for n, h in self.owned.items() if n not in known]
            _write_json(self.folder / PENDING, {"fichiers": files})
        except OSError:
            pass  # the run already failed: its own error is the one to show

    def finish(self) -> Path:
        """Remove the previous run's leftovers, then write the manifest; return its path."""
        written = self._written()
        for name, sha in self.owned.items():
            path = self.folder / name
            if name in written or not path.is_file():
                continue
            if _sha256(path) == sha:  # still the tool's file: remove; edited by the user: keep
                path.unlink()
                parent = path.parent
                while parent != self.folder and not any(parent.iterdir()):
                    parent.rmdir()
                    parent = parent.parent
        files = [
            {"nom": name, "taille_octets": path.stat().st_size, "sha256": _sha256(path)}
            for name, path in written.items()
        ]
        end = dt.datetime.now(dt.UTC)
        record = {
            "logiciel": "zonesblanches",
            "version": __version__,
            "commande": self.command,
            "parametres": self.parameters,
            "debut": self.start.isoformat(timespec="seconds"),
            "fin": end.isoformat(timespec="seconds"),
            "fichiers": files,
        }
        path = self.folder / MANIFEST
        _write_json(path, record)
        (self.folder / PENDING).unlink(missing_ok=True)
        return path


def prepare(
    folder: str | os.PathLike,
    inputs: Mapping[str, str | os.PathLike | None] = (),
    *,
    overwrite: bool = False,
    command: str = "",
    parameters: Mapping | None = None,
) -> OutputRun:
    """Check ``folder`` before computing and mark it as being written.

    Parameters
    ----------
    folder : path-like
        The output folder (``--sortie``); created if needed.
    inputs : mapping
        Option name → input file (``{"--services": path}``); none may lie inside ``folder``.
    overwrite : bool
        ``--ecraser``: files with an output's name that no manifest lists may be replaced.
    command, parameters
        Written in the manifest.

    Raises
    ------
    DataError
        ``folder`` is a file or cannot be created or written, an input lies inside it, or it
        holds outputs of unknown origin (without ``overwrite``).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(
            f"--sortie « {folder} » existe et n'est pas un dossier : indiquez un dossier (il est "
            "créé s'il n'existe pas)."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"Impossible de créer le dossier de sortie « {folder} » (un élément du chemin est un "
            "fichier, ou droits insuffisants) : choisissez un autre --sortie."
        ) from exc
    _probe_writable(folder)
    for option, path in dict(inputs).items():
        if path is not None and _inside(Path(path), folder):
            raise DataError(
                f"Le fichier {option} « {path} » est dans le dossier de sortie « {folder} » : "
                "les résultats pourraient le remplacer. Déplacez-le, ou choisissez un autre "
                "dossier avec --sortie."
            )
    owned = _owned(folder)
    conflicts = [
        name
        for name in sorted(OUTPUT_NAMES)
        if (folder / name).exists()
        and not (
            name in owned
            or ((folder / name).is_dir() and any(n.startswith(name + "/") for n in owned))
        )
    ]
    if conflicts and not overwrite:
        raise DataError(
            f"Le dossier de sortie « {folder} » contient déjà {', '.join(conflicts)}, qu'aucun "
            f"{MANIFEST} de zonesblanches ne liste : rien n'est écrasé. Choisissez un autre "
            "dossier avec --sortie, ou ajoutez --ecraser pour les remplacer."
        )
    start = dt.datetime.now(dt.UTC)
    _write_json(folder / PENDING, {"fichiers": [{"nom": n, "sha256": h} for n, h in owned.items()]})
    (folder / MANIFEST).unlink(missing_ok=True)
    return OutputRun(
        folder,
        owned,
        start,
        (folder / PENDING).stat().st_mtime_ns,
        command,
        dict(parameters or {}),
    )
