"""End-to-end jobs: a territory and the user's files in, an output folder written, with French
progress lines on the terminal.

These are the workflows of :mod:`zonesblanches.api` chained the way the command line runs them
(``analyse``, ``demo``, and the outputs of ``suggerer`` and ``scenario``); a notebook can call
them too. :mod:`zonesblanches.cli` only parses arguments and calls these.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from zonesblanches import _interrupt, settings
from zonesblanches._api_common import DEFAULT_THRESHOLDS
from zonesblanches._memory import trim
from zonesblanches._text import fr_count as _fr_count
from zonesblanches._text import fr_num as _fr_num
from zonesblanches._text import fr_plural
from zonesblanches.errors import ParameterError
from zonesblanches.transit import REJECTS_FILE as GTFS_REJECTS_FILE
from zonesblanches.transit import TransitOptions, add_transit_model, road_modes


def _print(msg: str = "") -> None:
    _interrupt.check()  # each printed step: a swallowed Ctrl-C stops the command here
    print(msg, flush=True)


def print_written(paths: Sequence[Path]) -> None:
    _print()
    _print("Fichiers écrits :")
    for path in paths:
        _print(f"  {path}")


def _report_grid_rows(cells, path: Path, sortie: Path) -> None:
    """Print the accounting of the grid file's rows and write its rejects file."""
    from zonesblanches.geodata.carreaux import rejects_frame
    from zonesblanches.geodata.services import write_rejects

    stats = cells.attrs.get("lecture", {})
    kept = stats.get("retenus", len(cells))
    rejects = rejects_frame(cells)
    target = write_rejects(rejects, sortie / "rejets_carreaux.csv")

    def agree(n: int, word: str) -> str:
        return f"{n} {word}{'s' if n > 1 else ''}"

    _print(
        f"Carreaux ({path.name}) : {agree(stats.get('lignes', 0), 'ligne')} "
        f"{'lues' if stats.get('lignes', 0) > 1 else 'lue'}, "
        f"{kept} carreau{'x' if kept > 1 else ''} retenu{'s' if kept > 1 else ''}, "
        f"{agree(len(rejects), 'rejetée')}, {stats.get('hors_territoire', 0)} hors du territoire"
    )
    if len(rejects):
        _print(
            f"  ⚠ {_fr_count(len(rejects), 'ligne')} de carreaux {fr_plural(len(rejects), 'écartée')}, détail dans {target}"
        )
        for _, row in rejects.head(10).iterrows():
            _print(f"    ligne {row['ligne']} — {row['champ']} : {row['motif']}")


def _population_and_qpv(
    territory,
    qpv_path: Path | None,
    carreaux_path: Path | None,
    sortie: Path,
    grid_by_workers: bool = False,
):
    """Demand units (grid cells or communes) and QPV, saying which were used.

    ``grid_by_workers``: the grid file is read by the Dask workers of a partitioned run
    (:mod:`zonesblanches.partition_inputs`), not here: its lines come after the run
    (:func:`report_worker_grid`)."""
    from zonesblanches import api
    from zonesblanches.summaries import format_population

    tty = sys.stderr.isatty()
    if carreaux_path is not None and grid_by_workers:
        _print(
            f"Population : carreaux INSEE Filosofi ({carreaux_path.name}), lus par les workers "
            "Dask, une fois par groupe de départements ; le fichier doit être au même chemin "
            "sur chaque worker."
        )
        carreaux_path = None
    demand = (
        None if carreaux_path is None else api.read_demand(territory, carreaux_path, progress=tty)
    )
    qpv = None if qpv_path is None else api.read_qpv(territory, qpv_path, progress=tty)
    if demand is not None:
        _report_grid_rows(demand, carreaux_path, sortie)
    lines = format_population(demand, qpv, carreaux_path, qpv_path)
    for line in lines[1:] if grid_by_workers else lines:
        _print(line)
    return demand, qpv


def report_worker_grid(run, carreaux_path: Path, sortie: Path) -> None:
    """The lines on the grid file the workers read (as :func:`_population_and_qpv` prints
    them for a file read here), and its rejects file, after a partitioned run."""
    from zonesblanches.summaries import format_population

    rows = pd.DataFrame()
    rows.attrs["lecture"] = run.grid_rows
    _report_grid_rows(rows, carreaux_path, sortie)
    for group in run.grid_reads:
        depts = group["departements"]
        where = (
            ", ".join(depts)
            if len(depts) <= 8
            else f"{len(depts)} départements, de {depts[0]} à {depts[-1]}"
        )
        _print(
            f"  lu par le worker {group['worker']} ({where}) : "
            f"{_fr_count(group['carreaux'], 'carreau', 'carreaux')} en "
            f"{_fr_num(group['secondes'])} s"
        )
    _print(format_population(run.result.units, None, carreaux_path)[0])


@dataclass
class Inputs:
    """What every command needs: territory, services, population units, QPV, network models."""

    territory: object
    services: object
    demand: object
    qpv: object
    models: dict | None
    problems: int


def load_inputs(
    territoire: str | None,
    modes: list[str],
    sortie: Path,
    *,
    services_path: Path | None = None,
    crs: str | None = None,
    osm: Path | None = None,
    download: bool = False,
    qpv_path: Path | None = None,
    carreaux_path: Path | None = None,
    thresholds: dict[str, float | list[float]] | None = None,
    margin_km: float | None = None,
    filters: dict | None = None,
    sheet: str | None = None,
    keep_networks: bool = True,
    network_by_workers: bool = False,
    grid_by_workers: bool = False,
) -> Inputs:
    """Resolve the territory and read every input, printing in French what was used.

    ``keep_networks=False``: the network models let their road networks go once built (see
    :func:`zonesblanches.api.network_models`), except for all of France (partitioned run).
    ``network_by_workers``: the OSM file ``osm`` is read by the Dask workers of a
    partitioned run (:mod:`zonesblanches.partition_osm`), not here (``models`` is None);
    ``grid_by_workers``: likewise the grid file ``carreaux_path``
    (:mod:`zonesblanches.partition_inputs`; ``demand`` is None)."""
    from zonesblanches import api
    from zonesblanches.geodata import reference
    from zonesblanches.partitioned import select_territories
    from zonesblanches.summaries import format_network, format_services

    territory = select_territories(territoire)  # also « france » and lists of régions
    _print(
        f"Territoire : {territory.label} — {_fr_count(len(territory.communes), 'commune')}, "
        f"{_fr_count(territory.population, 'habitant')} (population municipale 2023)"
    )
    sortie.mkdir(parents=True, exist_ok=True)
    resolved = api.resolve_services(
        territory,
        services_path,
        thresholds=thresholds,
        margin_km=margin_km,
        network=osm is not None or download,
        crs=crs,
        rejects_path=None if services_path is None else sortie / "rejets.csv",
        progress=sys.stderr.isatty(),
        sheet=sheet,
        **(filters or {}),
    )
    for line in format_services(resolved):
        _print(line)
    services, problems = resolved, resolved.problems
    demand, qpv = _population_and_qpv(territory, qpv_path, carreaux_path, sortie, grid_by_workers)
    models = None
    modes = road_modes(modes)  # public transport: walking legs, no road network of its own
    if osm is not None and network_by_workers:
        _print(
            f"Réseau routier : fichier {osm.name} ({', '.join(modes)}), lu par les workers "
            "Dask, une fois par groupe de départements (plus les marges) ; il doit être au même "
            "chemin sur chaque worker."
        )
    elif osm is not None or download:
        from zonesblanches.api import network_models

        source = f"fichier {osm.name}" if osm is not None else "téléchargement OpenStreetMap"
        _print(f"Réseau routier : {source} ({', '.join(modes)})…")
        # France's commune polygons, read to find the territory, are not held while the
        # networks are built (the outputs read them again)
        reference.release_cached()
        models = network_models(
            territory,
            modes,
            osm=osm,
            download=download,
            progress=sys.stderr.isatty(),
            thresholds=thresholds,
            margin_km=margin_km,
            services=services.services,
            keep_networks=keep_networks or territory.kind == "france",
        )
        trim()  # what building the networks freed goes back before the travel times
        lines, far = format_network(models, services.services)
        for line in lines:
            _print(line)
        problems += far
    return Inputs(territory, services, demand, qpv, models, problems)


def _release_network_models(result) -> None:
    """Put a stand-in holding only its notes (mode, method, description) in place of each
    road-network model of ``result``: what the outputs read of a model once times are known."""
    from zonesblanches.coverage.network import NetworkModel
    from zonesblanches.partitioned import _Described

    for mode, model in list(result.models.items()):
        if isinstance(model, NetworkModel):
            result.models[mode] = _Described(model)


def _by_departement(territory, thresholds, sortie: Path, cluster, workers, market):
    """The partitioned run of ``run_analysis``, printing one line per département."""
    from zonesblanches.partitioned import format_partition, partitioned_diagnostic

    if market is not None:
        raise ParameterError(
            "--offre-marchande n'est pas encore disponible avec le calcul par département "
            "(--cluster, --workers, --territoire france) : lancez-la par région."
        )
    where = cluster or (
        f"{_fr_count(workers, 'processus', 'processus')} sur cette machine"
        if workers
        else "un processus par cœur de cette machine"
    )
    _print(f"Calcul par département (Dask, {where}) ; points de reprise dans {sortie / 'reprise'}")

    def run(**options):
        return partitioned_diagnostic(
            territory,
            thresholds,
            client=cluster,
            n_workers=workers,
            checkpoint_dir=sortie / "reprise",
            on_partition=lambda event: _print("  " + format_partition(event)),
            **options,
        )

    return run


PARTITIONED_TRANSIT_REFUSAL = (
    "Les transports en commun ne se calculent pas encore par département (--cluster, "
    "--workers, --territoire france) : ce calcul traite chaque "
    "département à part, alors qu'un trajet en bus, en car ou en train passe d'un département "
    "à l'autre et que les horaires GTFS valent pour tout le territoire. Lancez l'analyse des "
    "transports en commun sur une région, un département ou un EPCI, sans --cluster ni "
    "--workers."
)
"""Why ``analyse --mode transport`` refuses the partitioned run (French, says what to do)."""


def run_analysis(
    territoire: str | None,
    thresholds: dict[str, float],
    sortie: Path,
    *,
    services_path: Path | None = None,
    crs: str | None = None,
    categories: list[str] | None = None,
    with_map: bool = True,
    osm: Path | None = None,
    download: bool = False,
    qpv_path: Path | None = None,
    carreaux_path: Path | None = None,
    isochrone_minutes: list[float] | None = None,
    margin_km: float | None = None,
    filters: dict | None = None,
    market: Path | None = None,
    sheet: str | None = None,
    principal: str | None = None,
    dpi: int = 150,
    transit: TransitOptions | None = None,
    cluster: str | None = None,
    workers: int | None = None,
    region_maps: bool = False,
) -> int:
    """Run an analysis end to end and write its outputs; return the number of problems.

    ``transit``: the checked public-transport options
    (:func:`zonesblanches.transit.check_transit_options`) when ``thresholds`` has
    ``transport``. With ``cluster`` (a Dask scheduler address) or ``workers``, or for all of
    France, the analysis runs one Dask task per département (:mod:`zonesblanches.partitioned`;
    same numbers), checkpointed in ``sortie/reprise``. A territory of several départements
    or régions (or all of France) gets the national map and report
    (:mod:`zonesblanches.maps.national`), and with ``region_maps`` one map per région."""
    from zonesblanches import api
    from zonesblanches.geodata import reference
    from zonesblanches.summaries import (
        format_outside,
        format_problems,
        format_qpv_gap,
        format_results,
        format_zones,
    )
    from zonesblanches.writers import write_csv, write_tables

    t0 = time.perf_counter()
    from zonesblanches.partitioned import is_france

    partitioned = cluster is not None or workers is not None or is_france(territoire)
    if partitioned and transit is not None:
        raise ParameterError(PARTITIONED_TRANSIT_REFUSAL)  # before anything is read
    if isochrone_minutes and osm is None and not download:
        raise ParameterError(
            "Les isochrones demandent un réseau routier : ajoutez --osm FICHIER ou --telecharger."
        )
    # A partitioned run reads an OSM file on its workers (a national extract does not fit
    # this process); isochrones still need the network here.
    by_workers = osm is not None and not isochrone_minutes and partitioned
    inputs = load_inputs(
        territoire,
        list(thresholds),
        sortie,
        network_by_workers=by_workers,
        grid_by_workers=partitioned and carreaux_path is not None,
        services_path=services_path,
        crs=crs,
        osm=osm,
        download=download,
        qpv_path=qpv_path,
        carreaux_path=carreaux_path,
        thresholds={m: [t, *(isochrone_minutes or [])] for m, t in thresholds.items()},
        margin_km=margin_km,
        filters=filters,
        sheet=sheet,
        # isochrones and the partitioned run read the networks' edges
        keep_networks=bool(isochrone_minutes) or partitioned,
    )
    warn_absent_categories(categories, inputs.services.services, services_path)
    territory, services, demand = inputs.territory, inputs.services, inputs.demand
    qpv, problems = inputs.qpv, inputs.problems
    national = territory.kind in ("france", "liste")  # the national map and report
    if region_maps and not national:
        raise ParameterError(
            "--cartes-regions s'utilise avec plusieurs départements ou régions, ou "
            "--territoire france."
        )
    models, gtfs_rejected = add_transit_model(territory, transit, inputs.models, sortie, say=_print)
    problems += gtfs_rejected
    options = {"services": services, "categories": categories, "models": models}
    options.update(demand=demand, margin_km=margin_km)
    if by_workers:
        options["osm"] = osm
    if partitioned and carreaux_path is not None:  # read by the workers
        options.update(demand=None, carreaux=carreaux_path)
    if partitioned:
        run = _by_departement(territory, thresholds, sortie, cluster, workers, market)
        run = run(**options)
        result = run.result
        if run.network_reads is not None:  # read by the workers: their lines, their count
            from zonesblanches.summaries import format_worker_network

            lines, far = format_worker_network(run.network_reads)
            for line in lines:
                _print(line)
            problems += far
        if run.grid_rows is not None:
            report_worker_grid(run, carreaux_path, sortie)
    else:
        result = api.diagnostic(territory, thresholds, market=market, **options)
    principal_spec = api.principal_indicator(result, principal)  # French error before writing
    written = _write_outside(result, sortie)
    _print()
    _print("Méthode :")
    for note in result.notes:
        _print(f"  • {note}")
    _print()
    _print(format_results(result, principal_spec))
    for line in format_outside(result):
        _print(line)

    if qpv is not None:
        tables, qpv = api.qpv_equity(result, qpv)
        text = format_qpv_gap(tables)
        if text:
            _print(text)
        written += write_tables(tables, sortie)
    zones = None
    iso = None
    if isochrone_minutes:
        first_mode = next((m for m in result.modes if m in road_modes(result.modes)), None)
        if first_mode is None:
            raise ParameterError("Les isochrones se tracent pour la marche, le vélo ou la voiture.")
        n_services = int(result.services["categorie"].isin(result.categories).sum())
        _print(
            f"Isochrones {', '.join(f'{m:g}' for m in isochrone_minutes)} min "
            f"({first_mode}, {n_services} services)…"
        )
        iso = api.service_isochrones(
            result, models[first_mode], isochrone_minutes, progress=sys.stderr.isatty()
        )
    if not partitioned:
        # the times are computed: the outputs read only the models' notes, so the networks
        # (a region's three: about 0.5 GB even without their edges) go before the outputs
        _release_network_models(result)
        del models, options, inputs
        trim()
    if with_map and national and result.unit_kind != "commune":
        _print(
            "  La carte et le rapport nationaux se font par commune : pour des carreaux, les "
            "tableaux sont écrits (communes.csv, synthèses)."
        )
        with_map = False
    elif with_map and national:
        written += _write_national(result, sortie, principal_spec, region_maps)
        with_map = False
    elif with_map:
        zones = api.output_zones(result, territory, qpv, principal_spec)
        if zones:
            _print(format_zones(result, zones))
            table = api.zones_table(zones, result.unit_kind)
            written.append(write_csv(table, sortie / "zones_blanches.csv"))
    if with_map:
        from zonesblanches.maps import write_outputs

        _print()
        _print("Écriture de la carte, du rapport et des exports…")
        written = (
            list(
                write_outputs(
                    result,
                    territory.communes,
                    sortie,
                    epci=reference.load_epci(territory.region),
                    progress=sys.stderr.isatty(),
                    zones=zones,
                    qpv=qpv,
                    isochrones=iso,
                    principal=principal_spec,
                    dpi=dpi,
                ).values()
            )
            + written
        )
    if not with_map:
        from zonesblanches.maps.tables import communes_table, synthesis_table, uncovered_table

        written += [
            write_csv(communes_table(result), sortie / "communes.csv"),
            write_csv(synthesis_table(result), sortie / "synthese.csv"),
            write_csv(
                uncovered_table(result, principal_spec), sortie / "communes_zone_blanche.csv"
            ),
        ]
    written += write_level_syntheses(result, sortie)
    print_written(written)
    if services_path is not None:
        _print(f"  {sortie / 'rejets.csv'}")
        _print(f"  {sortie / 'signalements.csv'}")
    if gtfs_rejected:
        _print(f"  {sortie / GTFS_REJECTS_FILE}")
    _print(format_problems(problems, result))
    _print(f"Terminé en {_fr_num(time.perf_counter() - t0)} s.")
    return problems


def _write_national(result, sortie: Path, principal, region_maps: bool) -> list[Path]:
    """The national map and report of a multi-département run (EPCI, communes on demand),
    and one map per région when asked; the tables are written by the caller."""
    from zonesblanches.maps.national import write_national_map, write_region_maps
    from zonesblanches.maps.national_report import write_national_report

    _print()
    _print("Écriture de la carte nationale (EPCI, communes par département) et du rapport…")
    written = [write_national_map(result, sortie / "carte.html", principal)]
    written.append(write_national_report(result, sortie, principal))
    if region_maps:
        written += write_region_maps(result, sortie / "cartes_regions", principal)
    return written


def _write_outside(result, sortie: Path) -> list[Path]:
    """``services_hors_territoire.csv``: the services used outside the territory (header only
    when there are none, so the folder never keeps an earlier run's list); the method notes
    then say where the list is. Written by ``analyse``, ``suggerer`` (the coverage the
    suggestion starts from) and ``scenario`` (the services after the change), before their
    map, whose notes repeat the one added here."""
    from zonesblanches.api import OUTSIDE_COLUMNS
    from zonesblanches.summaries import OUTSIDE_FILE, outside_note
    from zonesblanches.writers import write_csv

    table = result.services_outside
    if table is None:
        import pandas as pd

        table = pd.DataFrame(columns=list(OUTSIDE_COLUMNS))
    note = outside_note(result)
    if note:
        result.notes.append(note)
    return [write_csv(table, sortie / OUTSIDE_FILE)]


LEVEL_FILES = {
    "code_departement": "synthese_departements.csv",
    "code_region": "synthese_regions.csv",
    None: "synthese_territoire.csv",
}
"""One synthesis file per level above the EPCI (``synthese.csv``), issue 18."""


def write_level_syntheses(result, sortie: Path) -> list[Path]:
    """``synthese_departements.csv``, ``synthese_regions.csv`` and ``synthese_territoire.csv``
    when the units span several départements (a région, several, all of France); none
    otherwise."""
    from zonesblanches.geodata import reference
    from zonesblanches.maps.tables import level_syntheses
    from zonesblanches.writers import write_csv

    units = result.units
    if "code_departement" not in units or units["code_departement"].nunique() < 2:
        return []
    deps = pd.DataFrame(
        reference.load_departements(None)[["code_departement", "nom", "code_region"]]
    )
    regions = pd.DataFrame(reference.load_regions()[["code_region", "nom"]])
    deps = deps.merge(regions.rename(columns={"nom": "nom_region"}), on="code_region", how="left")
    tables = level_syntheses(result, deps)
    return [write_csv(tables[level], sortie / name) for level, name in LEVEL_FILES.items()]


def warn_absent_categories(categories, services, services_path: Path | None) -> None:
    """Say when a requested category has no service at all: every unit is then in zone
    blanche for it, which is a fact about the file, not about the territory."""
    from zonesblanches.geodata.categories import category_code, category_label

    present = set(services["categorie"].astype(str))
    source = services_path.name if services_path is not None else "le registre embarqué"
    for name in categories or []:
        code = category_code(name)
        if code is not None and code not in present:
            _print(
                f"  ⚠ Aucun service « {category_label(code)} » dans {source} : pour cette "
                "catégorie, toute la population est comptée en zone blanche (temps "
                "« inaccessible »)."
            )


DEMO_EPCI = "245901160"
"""CA Valenciennes Métropole: the EPCI the demo analyses on the real road network."""

OFFLINE_ENV = settings.OFFLINE_VAR


def run_demo(sortie: Path, **options) -> None:
    """The regional overview, then a road-network analysis of CA Valenciennes Métropole.

    ``options`` are those of :func:`run_analysis` that ``demo`` shares with ``analyse``
    (``cli._shared_options``); the regional overview takes only the map and population ones.
    The network part uses ``osm`` when given; otherwise it tries a download (unless
    ``ZONESBLANCHES_HORS_LIGNE=1``) and, offline, says so and keeps the straight-line model.
    """
    from zonesblanches import api
    from zonesblanches.errors import NetworkUnavailableError

    options["services_path"] = api.demo_services(progress=sys.stderr.isatty())
    _print("=== Vue régionale (temps estimés à vol d'oiseau) ===")
    regional = ("with_map", "qpv_path", "carreaux_path", "margin_km", "services_path")
    regional += ("principal", "dpi", "market")
    run_analysis(None, dict(DEFAULT_THRESHOLDS), sortie, **{k: options[k] for k in regional})
    _print()
    _print("=== CA Valenciennes Métropole sur le réseau routier OpenStreetMap ===")
    target = sortie / "valenciennes_reseau"
    osm = options["osm"]
    if osm is None and settings.offline() and not options["download"]:
        _print(
            f"Mode hors ligne ({OFFLINE_ENV}=1) : analyse sur réseau routier non lancée ; "
            "les temps restent estimés à vol d'oiseau."
        )
        return
    try:
        if osm is None:
            from zonesblanches.geodata.osm import check_overpass

            check_overpass(timeout=5)
        network = {**options, "download": osm is None}
        run_analysis(DEMO_EPCI, dict(DEFAULT_THRESHOLDS), target, **network)
    except NetworkUnavailableError as exc:
        _print(f"Pas de réseau routier : {exc}")
        _print(
            "Les temps de la démonstration restent estimés à vol d'oiseau. Avec un extrait "
            "OpenStreetMap : zonesblanches demo --osm nord-pas-de-calais-latest.osm.pbf"
        )


def write_suggestion(
    suggestion, territory, sortie: Path, *, with_map: bool = True, dpi: int = 150
) -> list[Path]:
    """The files of ``zonesblanches suggerer``: the table, the services used outside the
    territory (:data:`~zonesblanches.summaries.OUTSIDE_FILE`), the GeoPackage, the map and, when
    the suggestion carries the greedy selection (its ``gain_table``, up to
    :data:`~zonesblanches.coverage.sites.GAIN_CURVE_K` sites from the same greedy run as the
    picks), the gain curve k = 1…10 as a table and a figure (« combien de sites valent la
    peine »); none with the exact method alone (see ``SiteSuggestion.gain_table``)."""
    from zonesblanches.writers import write_csv, write_gpkg

    written = [write_csv(suggestion.table, sortie / "sites_suggeres.csv")]
    if suggestion.coverage is not None:
        written += _write_outside(suggestion.coverage, sortie)
    layers = {"sites": suggestion.sites}
    if len(suggestion.catchments):
        layers["unites_couvertes"] = suggestion.catchments
    written.append(write_gpkg(layers, sortie / "sites_suggeres.gpkg"))
    greedy = suggestion.gain_table
    if greedy is not None and len(greedy):
        from zonesblanches.geodata.categories import category_label
        from zonesblanches.maps import gain_curve, gain_curve_chart

        table = gain_curve(suggestion)
        written.append(write_csv(table, sortie / "courbe_gain.csv"))
        title = f"{category_label(suggestion.categorie)} : habitants gagnés par site ajouté"
        written.append(gain_curve_chart(table, sortie / "courbe_gain.png", title=title, dpi=dpi))
    if with_map:
        from zonesblanches.geodata import reference
        from zonesblanches.maps import save_map, suggestion_map

        epci = reference.load_epci(territory.region)
        plan = suggestion_map(suggestion, territory.communes, epci=epci)
        written.append(save_map(plan, sortie / "carte_sites.html"))
    return written


def write_scenario(res, territory, sortie: Path, *, with_map: bool = True) -> list[Path]:
    """The files of ``zonesblanches scenario``: tables per commune, EPCI, unit and QPV, the
    services used outside the territory after the change (:data:`~zonesblanches.summaries.
    OUTSIDE_FILE`), the GeoPackage of changes (an earlier scenario's layers removed) and the
    map."""
    from zonesblanches.writers import write_csv, write_gpkg

    written = [
        write_csv(res.by_commune(), sortie / "scenario_communes.csv"),
        write_csv(res.by_epci(), sortie / "scenario_epci.csv"),
        write_csv(res.diff, sortie / "scenario_unites.csv"),
    ]
    written += _write_outside(res.after, sortie)
    by_qpv = res.by_qpv()
    if by_qpv is not None and len(by_qpv):
        written.append(write_csv(by_qpv, sortie / "scenario_qpv.csv"))
    layers = {
        f"evolution_{cat}_{mode}": layer
        for cat in res.after.categories
        for mode in res.after.modes
        for layer in [res.diff_layer(cat, mode)]
        if len(layer)
    }
    gpkg = sortie / "scenario.gpkg"
    gpkg.unlink(missing_ok=True)  # an earlier scenario's layers must not remain
    if layers:
        written.append(write_gpkg(layers, gpkg))
    if with_map:
        from zonesblanches.geodata import reference
        from zonesblanches.maps import save_map, scenario_map

        epci = reference.load_epci(territory.region)
        plan = scenario_map(res, territory.communes, epci=epci)
        written.append(save_map(plan, sortie / "carte_scenario.html"))
    return written
