"""Which services an analysis uses, and the planner's inventory of them.

:func:`resolve_services` turns whatever the user gave (nothing: the bundled example registry,
labelled as such; ``"data-inclusion"``: the national inventory, cached or downloaded; an inventory
written by ``zonesblanches services``; a data·inclusion table; any services file) into one
:class:`ResolvedServices`: the points, what was read, kept, merged and rejected, and the caveat
every output repeats. :func:`service_inventory` and :func:`write_service_inventory` are what the
``services`` command writes. :func:`outside_table` lists the services an analysis used outside
its territory; :func:`say_borders` says when the margin crosses a land border (foreign services
are in no French inventory). Part of the workflow layer: the names are re-exported by
:mod:`zonesblanches.api`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import geopandas as gpd
import pandas as pd

from zonesblanches import settings
from zonesblanches._api_common import TerritoryLike, analysis_margin, as_territory, km_text
from zonesblanches._text import fr_count, fr_plural
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.coverage.traveltime import TravelTimeModel
from zonesblanches.geodata import reference
from zonesblanches.geodata.territory import Territory

_SERVICE_FILE_SUFFIXES = {
    ".csv",
    ".tsv",
    ".txt",
    ".xlsx",
    ".xls",
    ".ods",
    ".geojson",
    ".json",
    ".gpkg",
}


def points_of(item: object) -> object:
    """A services file (path) read into its points; anything else unchanged."""
    if isinstance(item, PathLike) or (
        isinstance(item, str)
        and (Path(item).suffix.lower() in _SERVICE_FILE_SUFFIXES or Path(item).is_file())
    ):
        return read_services(item).services
    return item


DATA_INCLUSION = "data-inclusion"
"""The ``--services`` value that names data·inclusion's national inventory (cached file,
downloaded when online)."""

REGISTRY_CAVEAT = (
    "Registre d'exemple : {n} services, non exhaustif — pour un diagnostic, utilisez "
    "l'inventaire data·inclusion ou votre fichier"
)
"""Shown next to the headline figures of every output built on the bundled registry."""


@dataclass
class ResolvedServices:
    """The services of an analysis and what was done to get them (see :func:`resolve_services`).

    Attributes
    ----------
    services : geopandas.GeoDataFrame
        EPSG:4326 points with at least ``service_id``, ``nom``, ``categorie``, ``statut``.
    kind : str
        ``registre``, ``data-inclusion``, ``inventaire``, ``fichier`` or ``donnees`` (a
        GeoDataFrame given by the caller).
    label : str
        French name of the source (« registre embarqué », the file name…).
    lines : list of str
        French sentences on what was read, kept, merged, left out (CLI and method notes).
    warnings : list of str
        French warnings (corrections, fallbacks).
    rejects : pandas.DataFrame
        Rows that could not be used: ``ligne``, ``champ``, ``motif``…
    caveat : str
        The example-registry caveat (:data:`REGISTRY_CAVEAT`), empty for real inventories.
    margin_km : float
        Margin (km) around the territory in which services were searched.
    rejects_path : pathlib.Path or None
        Where the rejects were written.
    flags : pandas.DataFrame
        Kept rows that were corrected or flagged (``ligne``, ``champ``, ``motif``…): declared
        commune ≠ coordinates (both named), swapped coordinates, geocoder fallback.
    flags_path : pathlib.Path or None
        Where the flags were written (:func:`flags_path_of`, beside the rejects).
    """

    services: gpd.GeoDataFrame
    kind: str
    label: str
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rejects: pd.DataFrame = field(default_factory=pd.DataFrame)
    caveat: str = ""
    margin_km: float = 0.0
    rejects_path: Path | None = None
    flags: pd.DataFrame = field(default_factory=pd.DataFrame)
    flags_path: Path | None = None

    @property
    def problems(self) -> int:
        """Rejected rows plus kept rows that were corrected or flagged (distinct rows)."""
        flagged = int(self.flags["ligne"].nunique()) if "ligne" in self.flags else 0
        return len(self.rejects) + flagged


def _is_data_inclusion_name(value: object) -> bool:
    return isinstance(value, str | PathLike) and str(value).strip().lower() in {
        DATA_INCLUSION,
        "data_inclusion",
        "datainclusion",
    }


def resolve_services(
    territory: TerritoryLike,
    services: object = None,
    *,
    thresholds: Mapping[str, float | list[float]] | None = None,
    models: Mapping[str, TravelTimeModel] | None = None,
    margin_km: float | None = None,
    network: bool = False,
    depuis: str | None = None,
    exclude_unverified: bool = False,
    crs: str | None = None,
    rejects_path: str | PathLike | None = None,
    progress: bool = False,
    sheet: str | int | None = None,
) -> ResolvedServices:
    """The services an analysis uses, from whatever the user gave (the ``--services`` option).

    Parameters
    ----------
    territory : Territory, str or list of str or None
        The territory; data·inclusion services are searched in it plus the margin.
    services : None, ``"data-inclusion"``, path-like, GeoDataFrame or ResolvedServices
        ``None``: the bundled example registry (labelled as such, :data:`REGISTRY_CAVEAT`);
        ``"data-inclusion"``: the cached national inventory, downloaded first when online
        (``ZONESBLANCHES_HORS_LIGNE`` unset) and no copy is cached; a file: an inventory written
        by ``zonesblanches services`` (recognised by its columns; rows « fermé » left out and
        counted), a data·inclusion ``services`` table (recognised by its columns: parquet, csv,
        geojson, json, xlsx), else a services file (:func:`read_services`).
    thresholds, models, margin_km, network
        Give the margin (:func:`analysis_margin`).
    depuis : str, optional
        ``AAAA-MM-JJ``: keep only the services updated on or after this date (``date_maj``, or
        the registry's ``date_source``); services without a date are left out and counted.
    exclude_unverified : bool
        Leave out the services whose ``statut`` is « à vérifier » (counted).
    crs : str, optional
        CRS of the x/y columns of a services file.
    rejects_path : path-like, optional
        Where to write the rejected rows (written whenever a file is read).
    sheet : str or int, optional
        Sheet of an XLSX services file (``--feuille``).
    """
    from zonesblanches.geodata import data_inclusion as di
    from zonesblanches.geodata.inventory import looks_like_inventory, read_inventory

    if isinstance(services, ResolvedServices):
        return services
    territory = as_territory(territory)
    margin = analysis_margin(thresholds, models, margin_km, network=network)
    national = territory.region != reference.DEFAULT_REGION
    since = di._parse_depuis(depuis)
    path = None if services is None or isinstance(services, gpd.GeoDataFrame) else services
    named = _is_data_inclusion_name(path) and not Path(path).exists()
    if services is None:
        frame = reference.load_registry()
        out = ResolvedServices(frame, "registre", "registre embarqué")
        out.caveat = REGISTRY_CAVEAT.format(n=len(frame))
    elif isinstance(services, gpd.GeoDataFrame):
        out = ResolvedServices(services, "donnees", "services fournis")
    elif named or (Path(path).is_file() and di.looks_like_data_inclusion(path)):
        given = None if named else path
        read = di.load_data_inclusion(
            given,
            download=given is None and not settings.offline(),
            depuis=since,
            zone=di.search_zone(territory.geometry, margin * 1000.0),
            communes=reference.load_communes(None) if national else None,
            rejects_path=rejects_path,
            progress=progress,
        )
        label = Path(given).name if given else "inventaire data·inclusion (national)"
        out = ResolvedServices(read.services, DATA_INCLUSION, label, read.summary())
        out.warnings, out.rejects, out.flags = list(read.warnings), read.rejects, read.flags
        since = None  # applied by the loader, counted in its summary
    elif Path(path).is_file() and looks_like_inventory(path):
        read = read_inventory(path)
        out = ResolvedServices(read.services, "inventaire", Path(path).name)
        out.warnings, out.rejects = list(read.warnings), read.rejects
        if rejects_path is not None:
            _write_rejects(read.rejects, rejects_path)
    else:
        read = read_services(
            path,
            crs=crs,
            territory=territory.geometry,
            rejects_path=rejects_path,
            communes=reference.load_communes(None) if national else None,
            sheet=sheet,
        )
        out = ResolvedServices(read.services, "fichier", Path(path).name)
        out.warnings, out.rejects, out.flags = list(read.warnings), read.rejects, read.flags
        out.lines += _precision_line(read.services)
    out.margin_km = margin
    out.rejects_path = Path(rejects_path) if rejects_path is not None and path is not None else None
    if out.rejects_path is not None:
        out.flags_path = flags_path_of(out.rejects_path)
        _write_rejects(out.flags, out.flags_path)
    out.services = _filter_services(out, since, exclude_unverified)
    return out


def _precision_line(services: gpd.GeoDataFrame) -> list[str]:
    """« Localisation : 5 par coordonnées fournies, 2 géocodés à l'adresse, 1 à la rue, 3 à la
    commune. » for a user's file whose addresses were geocoded (the method notes then sum the
    precisions, as data·inclusion's summary does); nothing when none was."""
    count = services["precision"].value_counts() if "precision" in services else pd.Series()
    n = {p: int(count.get(p, 0)) for p in ("coordonnees", "adresse", "rue", "commune")}
    if not n["adresse"] + n["rue"]:
        return []
    return [
        f"Localisation : {n['coordonnees']} par coordonnées fournies, {n['adresse']} "
        f"{fr_plural(n['adresse'], 'géocodé')} à l'adresse, {n['rue']} à la rue, "
        f"{n['commune']} à la commune."
    ]


def flags_path_of(rejects_path: str | PathLike) -> Path:
    """Where the kept-but-flagged rows go, beside the rejects: ``rejets.csv`` →
    ``signalements.csv``, ``inventaire_rejets.csv`` → ``inventaire_signalements.csv``."""
    path = Path(rejects_path)
    if "rejets" in path.name:
        return path.with_name(path.name.replace("rejets", "signalements"))
    return path.with_name(f"{path.stem}_signalements{path.suffix}")


def _write_rejects(rejects: pd.DataFrame, path: str | PathLike) -> None:
    from zonesblanches.geodata.services import write_rejects

    write_rejects(rejects, path)


def _filter_services(
    out: ResolvedServices, since: pd.Timestamp | None, exclude_unverified: bool
) -> gpd.GeoDataFrame:
    """``--depuis`` (for sources whose loader did not apply it) and ``--exclure-a-verifier``,
    each counted in ``out.lines``."""
    frame = out.services
    if since is not None:
        col = "date_maj" if "date_maj" in frame else "date_source"
        dates = pd.to_datetime(
            frame[col].astype(str) if col in frame else pd.Series("", index=frame.index),
            errors="coerce",
            format="mixed",
        )
        old = ~(dates >= since).to_numpy()
        if old.any():
            out.lines.append(
                f"--depuis {since.date().isoformat()} : "
                f"{fr_count(int(old.sum()), 'service écarté', 'services écartés')} (mis à jour "
                "avant cette date, ou sans date)."
            )
        frame = frame.loc[~old]
    if exclude_unverified and "statut" in frame:
        unverified = (frame["statut"].astype(str) == "a_verifier").to_numpy()
        out.lines.append(
            "--exclure-a-verifier : "
            + fr_count(
                int(unverified.sum()),
                "service « à vérifier » écarté",
                "services « à vérifier » écartés",
            )  # fmt: skip
            + "."
        )
        frame = frame.loc[~unverified]
    if out.caveat:
        out.caveat = REGISTRY_CAVEAT.format(n=len(frame))
    return frame


def label_result(result: CoverageResult, resolved: ResolvedServices) -> None:
    """Carry the services' caveat and counts into a result's notes (every output repeats them);
    the example-registry caveat also goes to ``services_caveat``, shown by the headline."""
    if resolved.caveat:
        result.services_caveat = resolved.caveat
        result.notes.insert(0, resolved.caveat + ".")
    result.notes.extend(n for n in resolved.lines if n not in result.notes)


def read_services(path: str | PathLike, **kwargs):
    """Read a user's services file (see :func:`zonesblanches.geodata.services.read_services`)."""
    from zonesblanches.geodata.services import read_services as _read

    return _read(path, **kwargs)


def service_inventory(
    territory: TerritoryLike, services: object = None, **options
) -> ResolvedServices:
    """The services an analysis of ``territory`` would use: those of :func:`resolve_services`
    (same ``options``) lying in the territory or its margin. What ``zonesblanches services``
    writes with :func:`write_service_inventory`."""
    from zonesblanches.coverage.margin import distance_to_territory

    territory = as_territory(territory)
    resolved = resolve_services(territory, services, **options)
    frame = resolved.services
    if len(frame):
        distance = distance_to_territory(frame, territory.communes)
        outside = int(((distance > 0) & (distance <= resolved.margin_km)).sum())
        frame = frame.loc[distance <= resolved.margin_km]
        resolved.lines.append(
            f"{fr_count(len(frame), 'service')} dans le territoire et sa marge de "
            f"{km_text(resolved.margin_km)} km (dont {outside} hors du territoire)."
        )
    resolved.services = frame.sort_values("service_id", kind="stable").reset_index(drop=True)
    if resolved.caveat:
        resolved.caveat = REGISTRY_CAVEAT.format(n=len(frame))
    return resolved


def inventory_table(services: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Services in the inventory's columns (:data:`~zonesblanches.geodata.inventory.COLUMNS`):
    data·inclusion columns kept; for the registry or a services file, ``date_maj`` from
    ``date_source``, ``regle_categorie`` « fichier » (category given by the file), the others
    empty. ``statut`` in words (« à vérifier », « fermé »), as the planner writes it."""
    from zonesblanches.geodata.data_inclusion import OUTPUT_COLUMNS

    table = pd.DataFrame(index=services.index)
    for col in OUTPUT_COLUMNS:
        if col in services:
            table[col] = services[col]
        elif col == "date_maj" and "date_source" in services:
            table[col] = services["date_source"]
        elif col == "regle_categorie":
            table[col] = "fichier"
        elif col == "sources" and "source" in services:
            table[col] = services["source"]
        elif col == "score_qualite":
            table[col] = float("nan")
        elif col == "doublons":
            table[col] = 0
        else:
            table[col] = ""
    table["statut"] = table["statut"].replace(STATUS_WORDS)
    return gpd.GeoDataFrame(table, geometry=services.geometry.values, crs=services.crs)


STATUS_WORDS = {"a_verifier": "à vérifier", "ferme": "fermé"}
"""How stored ``statut`` values read in outputs (``actif`` reads as is)."""


def write_service_inventory(resolved: ResolvedServices, path: str | PathLike) -> Path:
    """Write the planner's inventory (``.xlsx``, ``.csv`` or ``.gpkg``; never over an existing
    file), see :func:`zonesblanches.geodata.inventory.write_inventory`."""
    from zonesblanches.geodata.inventory import write_inventory

    return write_inventory(inventory_table(resolved.services), path)


def demo_services(*, progress: bool = True) -> str | None:
    """The services of the demo: :data:`DATA_INCLUSION` when a copy of the national inventory is
    cached or, online, can be downloaded now (with a progress bar); else ``None``, the example
    registry, labelled as such next to the figures (:data:`REGISTRY_CAVEAT`)."""
    from zonesblanches.errors import ZonesBlanchesError
    from zonesblanches.geodata.data_inclusion import cached_table, download_table

    if cached_table() is not None:
        return DATA_INCLUSION
    if settings.offline():
        return None
    try:
        download_table(progress=progress)
    except (ZonesBlanchesError, OSError):
        return None
    return DATA_INCLUSION


OUTSIDE_COLUMNS = (
    "service_id",
    "nom",
    "categorie",
    "commune",
    "code_insee",
    "code_departement",
    "departement",
    "distance_territoire_km",
    "source",
    "unites_servies",
    "population_servie",
)
"""Columns of ``services_hors_territoire.csv`` (:attr:`CoverageResult.services_outside`)."""


def outside_table(services, distance, result: CoverageResult, margin: float, label: str):
    """The services used outside the territory (:attr:`CoverageResult.services_outside`): those
    of ``services`` at ``0 < distance ≤ margin`` km, placed in their commune and département
    (the commune their point lies in, national reference; the declared one for a point in no
    commune, e.g. over a land border); ``source`` defaults to ``label``, the source's name."""
    from zonesblanches.coverage.margin import outside_services

    table = outside_services(services, distance, result.units, margin)
    communes = reference.load_communes(None)
    where = gpd.sjoin(
        table[[table.geometry.name]].to_crs(communes.crs),
        communes[["code_insee", "nom", "code_departement", "geometry"]],
        how="left",
        predicate="within",
    )
    where = where[~where.index.duplicated()]
    declared = table.get("commune", pd.Series("", index=table.index)).fillna("").astype(str)
    table["commune"] = where["nom"].fillna(declared).astype(str)
    code = table.get("code_insee", pd.Series("", index=table.index)).fillna("").astype(str)
    table["code_insee"] = where["code_insee"].fillna(code).astype(str)
    deps = reference.load_departements(None).set_index("code_departement")["nom"]
    table["code_departement"] = where["code_departement"].fillna("").astype(str)
    table["departement"] = table["code_departement"].map(deps).fillna("hors de France")
    source = table.get("source", pd.Series("", index=table.index)).fillna("").astype(str)
    table["source"] = source.where(source.str.strip() != "", label)
    for col in OUTSIDE_COLUMNS:
        if col not in table:
            table[col] = ""
    return table[[*OUTSIDE_COLUMNS, table.geometry.name]].reset_index(drop=True)


def list_outside(result: CoverageResult, territory: Territory, resolved: ResolvedServices) -> None:
    """Set ``result.services_outside`` (:func:`outside_table`) from the services ``result``
    used: what ``suggerer`` and ``scenario`` list, as ``analyse`` does (issue 12 §3)."""
    from zonesblanches.coverage.margin import distance_to_territory

    services = result.services
    if "geometry" not in getattr(services, "columns", ()) or not len(services):
        return
    distance = distance_to_territory(services, territory.communes)
    result.services_outside = outside_table(
        services, distance, result, resolved.margin_km, resolved.label
    )


def say_borders(result: CoverageResult, territory: Territory, margin: float) -> str:
    """The land borders the territory and its margin reach, and the method note saying that
    no French inventory holds the services beyond them (returned, empty when none)."""
    from zonesblanches.coverage.margin import borders_reached
    from zonesblanches.geodata.borders import PRECISION_KM, load_land_borders
    from zonesblanches.summaries import border_note

    result.border_countries = borders_reached(
        territory.communes, margin, load_land_borders(), tolerance_km=PRECISION_KM
    )
    if not result.border_countries:
        return ""
    note = border_note(result.border_countries)
    result.notes.append(note)
    return note
