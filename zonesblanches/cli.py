"""Command line: ``zonesblanches demo | analyse | suggerer | scenario | services | categories |
sources``.

Everything printed is in French; every option is explained by ``--help`` with an example.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from zonesblanches import settings
from zonesblanches._cli_parser import build_parser, parse_minutes, parse_modes, transit_options
from zonesblanches._text import fr_count as _fr_count
from zonesblanches._text import fr_num as _fr_num
from zonesblanches.errors import ParameterError, ZonesBlanchesError
from zonesblanches.transit import TransitOptions, add_transit_model, road_modes


def _print(msg: str = "") -> None:
    print(msg, flush=True)


def _print_written(paths: Sequence[Path]) -> None:
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
        _print(f"  ⚠ {len(rejects)} ligne(s) de carreaux écartée(s), détail dans {target}")
        for _, row in rejects.head(10).iterrows():
            _print(f"    ligne {row['ligne']} — {row['champ']} : {row['motif']}")


def _population_and_qpv(territory, qpv_path: Path | None, carreaux_path: Path | None, sortie: Path):
    """Demand units (grid cells or communes) and QPV, saying which were used."""
    from zonesblanches import api
    from zonesblanches.summaries import format_population

    tty = sys.stderr.isatty()
    demand = (
        None if carreaux_path is None else api.read_demand(territory, carreaux_path, progress=tty)
    )
    qpv = None if qpv_path is None else api.read_qpv(territory, qpv_path, progress=tty)
    if demand is not None:
        _report_grid_rows(demand, carreaux_path, sortie)
    for line in format_population(demand, qpv, carreaux_path, qpv_path):
        _print(line)
    return demand, qpv


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
) -> Inputs:
    """Resolve the territory and read every input, printing in French what was used."""
    from zonesblanches import api
    from zonesblanches.summaries import format_network, format_services

    territory = api.as_territory(territoire)
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
    demand, qpv = _population_and_qpv(territory, qpv_path, carreaux_path, sortie)
    models = None
    modes = road_modes(modes)  # public transport: walking legs, no road network of its own
    if osm is not None or download:
        from zonesblanches.api import network_models

        source = f"fichier {osm.name}" if osm is not None else "téléchargement OpenStreetMap"
        _print(f"Réseau routier : {source} ({', '.join(modes)})…")
        models = network_models(
            territory,
            modes,
            osm=osm,
            download=download,
            progress=sys.stderr.isatty(),
            thresholds=thresholds,
            margin_km=margin_km,
            services=services.services,
        )
        lines, far = format_network(models, services.services)
        for line in lines:
            _print(line)
        problems += far
    return Inputs(territory, services, demand, qpv, models, problems)


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
) -> int:
    """Run an analysis end to end and write its outputs; return the number of problems."""
    from zonesblanches import api
    from zonesblanches.geodata import reference
    from zonesblanches.maps.tables import communes_table, synthesis_table, uncovered_table
    from zonesblanches.summaries import format_qpv_gap, format_results, format_zones
    from zonesblanches.writers import write_csv, write_tables

    t0 = time.perf_counter()
    if isochrone_minutes and osm is None and not download:
        raise ParameterError(
            "Les isochrones demandent un réseau routier : ajoutez --osm FICHIER ou --telecharger."
        )
    inputs = load_inputs(
        territoire,
        list(thresholds),
        sortie,
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
    )
    _warn_absent_categories(categories, inputs.services.services, services_path)
    territory, services, demand = inputs.territory, inputs.services, inputs.demand
    qpv, problems = inputs.qpv, inputs.problems
    models = add_transit_model(territory, transit, inputs.models, sortie, say=_print)
    result = api.diagnostic(
        territory,
        thresholds,
        services=services,
        categories=categories,
        models=models,
        demand=demand,
        margin_km=margin_km,
        market=market,
    )
    principal_spec = api.principal_indicator(result, principal)  # French error before writing
    _print()
    _print("Méthode :")
    for note in result.notes:
        _print(f"  • {note}")
    _print()
    _print(format_results(result, principal_spec))

    written = []
    if qpv is not None:
        tables, qpv = api.qpv_equity(result, qpv)
        text = format_qpv_gap(tables)
        if text:
            _print(text)
        written += write_tables(tables, sortie)
    zones = None
    iso = None
    if isochrone_minutes:
        first_mode = result.modes[0]
        n_services = int(result.services["categorie"].isin(result.categories).sum())
        _print(
            f"Isochrones {', '.join(f'{m:g}' for m in isochrone_minutes)} min "
            f"({first_mode}, {n_services} services)…"
        )
        iso = api.service_isochrones(
            result, models[first_mode], isochrone_minutes, progress=sys.stderr.isatty()
        )
    if with_map:
        zones = api.output_zones(result, territory, qpv)
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
    else:
        written += [
            write_csv(communes_table(result), sortie / "communes.csv"),
            write_csv(synthesis_table(result), sortie / "synthese.csv"),
            write_csv(
                uncovered_table(result, principal_spec), sortie / "communes_zone_blanche.csv"
            ),
        ]
    _print_written(written)
    if services_path is not None:
        _print(f"  {sortie / 'rejets.csv'}")
    _print(f"Problèmes signalés : {problems}")
    _print(f"Terminé en {_fr_num(time.perf_counter() - t0)} s.")
    return problems


def _inputs_of(args: argparse.Namespace, modes: list[str]) -> Inputs:
    """:func:`load_inputs` with the options of ``suggerer`` and ``scenario``."""
    return load_inputs(
        args.territoire,
        modes,
        args.sortie,
        services_path=args.services,
        crs=args.crs,
        osm=args.osm,
        download=args.telecharger,
        qpv_path=args.qpv,
        carreaux_path=args.carreaux,
        filters=_filters(args),
    )


def _filters(args: argparse.Namespace) -> dict:
    """``--depuis`` and ``--exclure-a-verifier`` as :func:`api.resolve_services` options."""
    return {
        "depuis": getattr(args, "depuis", None),
        "exclude_unverified": getattr(args, "exclure_a_verifier", False),
    }


def run_services(args: argparse.Namespace) -> None:
    """``zonesblanches services``: the inventory of a territory's services, written to a file."""
    from zonesblanches import api
    from zonesblanches.summaries import format_services

    out = args.sortie
    resolved = api.service_inventory(
        args.territoire,
        args.services,
        thresholds=parse_modes(args.mode, args.seuil),
        margin_km=args.marge,
        crs=args.crs,
        rejects_path=None if args.services is None else out.with_name(f"{out.stem}_rejets.csv"),
        progress=sys.stderr.isatty(),
        **_filters(args),
    )
    for line in format_services(resolved):
        _print(line)
    _print_written([api.write_service_inventory(resolved, out)])


def _warn_absent_categories(categories, services, services_path: Path | None) -> None:
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


def run_suggestion(args: argparse.Namespace) -> None:
    """``zonesblanches suggerer``."""
    from zonesblanches.api import parse_weights, suggest
    from zonesblanches.modes import mode_code
    from zonesblanches.summaries import format_suggestion
    from zonesblanches.writers import write_csv, write_gpkg

    mode = mode_code(args.mode)
    if args.nombre < 1:
        raise ParameterError(f"--nombre doit être au moins 1 (reçu : {args.nombre}).")
    inputs = _inputs_of(args, [mode])
    origins = [o.strip() for o in args.candidats.split(",") if o.strip()]
    method = {"glouton": "greedy", "exacte": "exact", "les-deux": "both"}[args.methode]
    suggestion = suggest(
        inputs.territory,
        args.categorie,
        mode,
        args.nombre,
        seuil=args.seuil,
        services=inputs.services,
        origins=origins,
        premises=args.locaux,
        qpv=inputs.qpv,
        weights=parse_weights(args.ponderation),
        method=method,
        model=(inputs.models or {}).get(mode),
        demand=inputs.demand,
        progress=sys.stderr.isatty(),
    )
    _print()
    _print(format_suggestion(suggestion).rstrip())
    written = [write_csv(suggestion.table, args.sortie / "sites_suggeres.csv")]
    layers = {"sites": suggestion.sites}
    if len(suggestion.catchments):
        layers["unites_couvertes"] = suggestion.catchments
    written.append(write_gpkg(layers, args.sortie / "sites_suggeres.gpkg"))
    if not args.sans_carte:
        from zonesblanches.geodata import reference
        from zonesblanches.maps import save_map, suggestion_map

        epci = reference.load_epci(inputs.territory.region)
        plan = suggestion_map(suggestion, inputs.territory.communes, epci=epci)
        written.append(save_map(plan, args.sortie / "carte_sites.html"))
    _print_written(written)


def run_scenario_command(args: argparse.Namespace) -> None:
    """``zonesblanches scenario``."""
    from zonesblanches.api import scenario
    from zonesblanches.summaries import format_scenario
    from zonesblanches.writers import write_csv, write_gpkg

    if not (args.ajouter or args.retirer or args.deplacer):
        raise ParameterError(
            "Indiquez au moins un changement : --ajouter, --retirer ou --deplacer "
            "(ex. --deplacer HDF-002:62895)."
        )
    thresholds = parse_modes(args.mode, args.seuil)
    inputs = _inputs_of(args, list(thresholds))
    res = scenario(
        inputs.territory,
        add=args.ajouter,
        remove=args.retirer,
        move=args.deplacer,
        thresholds=thresholds,
        services=inputs.services,
        categories=args.categorie,
        models=inputs.models,
        qpv=inputs.qpv,
        demand=inputs.demand,
    )
    _print()
    _print(format_scenario(res).rstrip())
    out = args.sortie
    written = [
        write_csv(res.by_commune(), out / "scenario_communes.csv"),
        write_csv(res.by_epci(), out / "scenario_epci.csv"),
        write_csv(res.diff, out / "scenario_unites.csv"),
    ]
    by_qpv = res.by_qpv()
    if by_qpv is not None and len(by_qpv):
        written.append(write_csv(by_qpv, out / "scenario_qpv.csv"))
    layers = {
        f"evolution_{cat}_{mode}": layer
        for cat in res.after.categories
        for mode in res.after.modes
        for layer in [res.diff_layer(cat, mode)]
        if len(layer)
    }
    gpkg = out / "scenario.gpkg"
    gpkg.unlink(missing_ok=True)  # an earlier scenario's layers must not remain
    if layers:
        written.append(write_gpkg(layers, gpkg))
    if not args.sans_carte:
        from zonesblanches.geodata import reference
        from zonesblanches.maps import save_map, scenario_map

        epci = reference.load_epci(inputs.territory.region)
        plan = scenario_map(res, inputs.territory.communes, epci=epci)
        written.append(save_map(plan, out / "carte_scenario.html"))
    _print_written(written)


DEMO_EPCI = "245901160"
"""CA Valenciennes Métropole: the EPCI the demo analyses on the real road network."""

OFFLINE_ENV = settings.OFFLINE_VAR


def run_demo(sortie: Path, **options) -> None:
    """The regional overview, then a road-network analysis of CA Valenciennes Métropole.

    ``options`` are those of :func:`run_analysis` that ``demo`` shares with ``analyse``
    (:func:`_shared_options`); the regional overview takes only the map and population ones.
    The network part uses ``osm`` when given; otherwise it tries a download (unless
    ``ZONESBLANCHES_HORS_LIGNE=1``) and, offline, says so and keeps the straight-line model.
    """
    from zonesblanches import api
    from zonesblanches.errors import NetworkUnavailableError

    options["services_path"] = api.demo_services(progress=sys.stderr.isatty())
    _print("=== Vue régionale (temps estimés à vol d'oiseau) ===")
    regional = ("with_map", "qpv_path", "carreaux_path", "margin_km", "services_path")
    regional += ("principal", "dpi")
    run_analysis(None, parse_modes(None, None), sortie, **{k: options[k] for k in regional})
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
        run_analysis(DEMO_EPCI, parse_modes(None, None), target, **network)
    except NetworkUnavailableError as exc:
        _print(f"Pas de réseau routier : {exc}")
        _print(
            "Les temps de la démonstration restent estimés à vol d'oiseau. Avec un extrait "
            "OpenStreetMap : zonesblanches demo --osm nord-pas-de-calais-latest.osm.pbf"
        )


def _shared_options(args: argparse.Namespace) -> dict:
    """Options that ``demo`` and ``analyse`` share (see :func:`_add_common`)."""
    return {
        "with_map": not args.sans_carte,
        "osm": args.osm,
        "download": args.telecharger,
        "qpv_path": args.qpv,
        "carreaux_path": args.carreaux,
        "isochrone_minutes": parse_minutes(args.isochrones),
        "margin_km": args.marge,
        "principal": args.principal,
        "dpi": args.dpi,
        "filters": _filters(args),
        "market": getattr(args, "offre_marchande", None),
    }


INTERRUPTED_EXIT = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells expect."""


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings (French, from the toolkit) printed as the other notes: « ⚠ … »."""
    print(f"  ⚠ {message}", file=sys.stderr, flush=True)


def os_error_message(exc: OSError) -> str:
    """A French sentence for an operating-system error on a file (no English strerror)."""
    import errno

    name = exc.filename or exc.filename2
    where = f"« {name} »" if name else "un fichier"
    messages = {
        errno.EACCES: f"permission refusée sur {where} : vérifiez les droits de lecture ou "
        "d'écriture du fichier et de son dossier",
        errno.EPERM: f"opération non permise sur {where} (droits insuffisants)",
        errno.EROFS: f"{where} est sur un support en lecture seule : choisissez un autre dossier",
        errno.ENOSPC: f"disque plein en écrivant {where} : libérez de la place",
        errno.EISDIR: f"{where} est un dossier, pas un fichier",
        errno.ENOTDIR: f"{where} : un élément du chemin est un fichier, pas un dossier",
        errno.EEXIST: f"{where} existe déjà et n'est pas un dossier",
        errno.ENOENT: f"fichier introuvable : {name}",
        errno.ENAMETOOLONG: f"nom de fichier trop long : {where}",
    }
    return messages.get(exc.errno, f"erreur du système sur {where} (code {exc.errno})")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zonesblanches`` command."""
    import warnings

    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return _dispatch(parser, args)
        except (KeyboardInterrupt, RuntimeError) as exc:
            # Ctrl-C during a lazy import surfaces as a RuntimeError caused by the interrupt.
            if not isinstance(exc, KeyboardInterrupt) and not isinstance(
                exc.__cause__, KeyboardInterrupt
            ):
                raise
            print(
                "\nErreur : calcul interrompu (Ctrl-C). Les fichiers déjà écrits dans le dossier "
                "de sortie sont incomplets : relancez la commande.",
                file=sys.stderr,
            )
            return INTERRUPTED_EXIT
        except ZonesBlanchesError as exc:
            print(f"Erreur : {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"Erreur : {os_error_message(exc)}.", file=sys.stderr)
            return 2
        except MemoryError:
            print(
                "Erreur : mémoire insuffisante : un fichier d'entrée est trop gros pour cette "
                "machine (réduisez le territoire ou le fichier).",
                file=sys.stderr,
            )
            return 2


_INPUT_OPTIONS = ("services", "carreaux", "qpv", "osm", "locaux")


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the command chosen on the command line; the output folder is checked before any
    computation and signed by its manifest at the end (:mod:`zonesblanches._outputs`)."""
    from zonesblanches import _outputs

    if args.commande in ("sources", "categories"):
        from zonesblanches.geodata.reference import format_sources
        from zonesblanches.geodata.thematiques import format_table

        _print((format_sources() if args.commande == "sources" else format_table()).rstrip())
        return 0
    if args.commande == "services":  # --sortie is the inventory file, never overwritten
        run_services(args)
        return 0
    if args.commande not in ("demo", "analyse", "suggerer", "scenario"):
        parser.print_help()
        return 0
    inputs = {
        f"--{name}": getattr(args, name)
        for name in _INPUT_OPTIONS
        if getattr(args, name, None) is not None
    } | {f"--gtfs {path}": path for path in getattr(args, "gtfs", None) or ()}
    parameters = {
        k: ([str(p) for p in v] if isinstance(v, list) else str(v) if isinstance(v, Path) else v)
        for k, v in sorted(vars(args).items())
        if k not in ("commande", "ecraser")
    }
    run = _outputs.prepare(
        args.sortie,
        inputs,
        overwrite=args.ecraser,
        command=args.commande,
        parameters=parameters,
    )
    try:
        code = _command(parser, args)
    except BaseException:
        run.abort()
        raise
    run.finish()
    return code


def _command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.commande == "demo":
        run_demo(args.sortie, **_shared_options(args))
        return 0
    if args.commande == "analyse":
        run_analysis(
            args.territoire,
            parse_modes(args.mode, args.seuil),
            args.sortie,
            services_path=args.services,
            crs=args.crs,
            categories=args.categorie,
            sheet=args.feuille,
            transit=transit_options(args, parse_modes(args.mode, args.seuil)),
            **_shared_options(args),
        )
        return 0
    if args.commande == "suggerer":
        run_suggestion(args)
        return 0
    if args.commande == "scenario":
        run_scenario_command(args)
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
