"""Command line: ``zonesblanches demo | analyse | suggerer | scenario | services | categories |
sources``.

Everything printed is in French; every option is explained by ``--help`` with an example.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

# Only light modules here: pandas, GeoPandas and pyarrow are imported inside main(), once its
# Ctrl-C handler is in place (their C code can swallow an interrupt: zonesblanches._interrupt).
from zonesblanches import _interrupt
from zonesblanches._cli_parser import build_parser, parse_minutes, parse_modes, transit_options
from zonesblanches.errors import ParameterError, ZonesBlanchesError

if TYPE_CHECKING:
    from zonesblanches import jobs


def _print(msg: str = "") -> None:
    _interrupt.check()  # each printed step: a swallowed Ctrl-C stops the command here
    print(msg, flush=True)


def _inputs_of(args: argparse.Namespace, modes: list[str]) -> jobs.Inputs:
    """:func:`jobs.load_inputs` with the options of ``suggerer`` and ``scenario``."""
    from zonesblanches import jobs

    return jobs.load_inputs(
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
    from zonesblanches import api, jobs
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
    jobs.print_written([api.write_service_inventory(resolved, out)])


SUGGEST_TRANSIT_REFUSAL = (
    "« suggerer » ne choisit pas encore les sites en transports en commun, car le choix ne "
    "serait pas exact : le temps en transports en commun d'un habitant est la médiane, sur la "
    "fenêtre horaire, de son trajet vers le service le plus proche, et la médiane du meilleur "
    "de plusieurs sites n'est pas le meilleur de leurs médianes (un site ajouté change le "
    "service le plus proche minute par minute). Choisissez les sites en voiture, à vélo ou à "
    "pied (--mode), puis comparez-les en transports en commun avec « analyse --mode transport "
    "--gtfs FICHIER.zip --services … » avant et après l'ajout."
)
"""Why ``suggerer --mode transport`` is refused (French, says what to do instead)."""


def run_suggestion(args: argparse.Namespace) -> None:
    """``zonesblanches suggerer``."""
    from zonesblanches import jobs
    from zonesblanches.api import parse_weights, suggest
    from zonesblanches.modes import mode_code
    from zonesblanches.summaries import format_engine, format_suggestion

    mode = mode_code(args.mode, allow_transit=True)
    if mode == "transport":
        raise ParameterError(SUGGEST_TRANSIT_REFUSAL)
    if args.nombre < 1:
        raise ParameterError(f"--nombre doit être au moins 1 (reçu : {args.nombre}).")
    inputs = _inputs_of(args, [mode])
    origins = [o.strip() for o in args.candidats.split(",") if o.strip()]
    method = {"glouton": "greedy", "exacte": "exact", "les-deux": "both"}[args.methode]
    options = dict(
        seuil=args.seuil,
        services=inputs.services,
        origins=origins,
        premises=args.locaux,
        qpv=inputs.qpv,
        weights=parse_weights(args.ponderation),
        model=(inputs.models or {}).get(mode),
        demand=inputs.demand,
        progress=sys.stderr.isatty(),
        market=args.offre_marchande,
    )
    suggestion = suggest(
        inputs.territory, args.categorie, mode, args.nombre, method=method, **options
    )
    _print()
    _print(format_suggestion(suggestion).rstrip())
    for line in format_engine(suggestion.coverage.models if suggestion.coverage else {}):
        _print(line)
    written = jobs.write_suggestion(
        suggestion,
        inputs.territory,
        args.sortie,
        with_map=not args.sans_carte,
        dpi=getattr(args, "dpi", 150),
    )
    _print_outside(suggestion.coverage)
    jobs.print_written(written)


def run_scenario_command(args: argparse.Namespace) -> None:
    """``zonesblanches scenario``."""
    from zonesblanches import jobs
    from zonesblanches.api import scenario
    from zonesblanches.summaries import format_engine, format_scenario

    if not (args.ajouter or args.retirer or args.deplacer):
        raise ParameterError(
            "Indiquez au moins un changement : --ajouter, --retirer ou --deplacer "
            "(ex. --deplacer HDF-002:62895)."
        )
    thresholds = parse_modes(args.mode, args.seuil)
    if "transport" in thresholds:
        raise ParameterError(
            "« scenario » ne calcule pas encore les transports en commun (il ne lit pas "
            "d'horaires GTFS) : lancez « analyse --mode transport --gtfs FICHIER.zip » avec vos "
            "services avant puis après le changement (--services), et comparez les deux "
            "communes.csv."
        )
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
        market=args.offre_marchande,
    )
    _print()
    _print(format_scenario(res).rstrip())
    for line in format_engine(res.before.models):
        _print(line)
    written = jobs.write_scenario(res, inputs.territory, args.sortie, with_map=not args.sans_carte)
    _print_outside(res.after)
    jobs.print_written(written)


def _print_outside(result) -> None:
    """The services used outside the territory and their list's file (the land-border note is
    among the command's notes already)."""
    from zonesblanches.summaries import format_outside

    if result is not None:
        for line in format_outside(result, borders=False):
            _print(line)


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

    from zonesblanches._memory import fix_mmap_threshold

    with _interrupt.handling(), warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            fix_mmap_threshold()  # large freed arrays go back to the system (region networks)
            parser = build_parser()
            args = parser.parse_args(argv)
            code = _dispatch(parser, args)
            _interrupt.check()  # a Ctrl-C swallowed after the last step: still an interrupt
            return code
        except (KeyboardInterrupt, RuntimeError) as exc:
            # Ctrl-C during a lazy import surfaces as a RuntimeError caused by the interrupt.
            if not isinstance(exc, KeyboardInterrupt) and not isinstance(
                exc.__cause__, KeyboardInterrupt
            ):
                raise
            _interrupt.acknowledge()
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


_INPUT_OPTIONS = ("services", "carreaux", "qpv", "osm", "locaux", "offre_marchande")


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
        f"--{name.replace('_', '-')}": getattr(args, name)
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
        _interrupt.check()  # never sign the outputs of an interrupted run (Ctrl-C swallowed)
    except BaseException:
        run.abort()
        raise
    run.finish()
    return code


def _command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from zonesblanches import jobs

    if args.commande == "demo":
        jobs.run_demo(args.sortie, **_shared_options(args))
        return 0
    if args.commande == "analyse":
        jobs.run_analysis(
            args.territoire,
            parse_modes(args.mode, args.seuil),
            args.sortie,
            services_path=args.services,
            crs=args.crs,
            categories=args.categorie,
            sheet=args.feuille,
            transit=transit_options(args, parse_modes(args.mode, args.seuil)),
            cluster=args.cluster,
            workers=args.workers,
            region_maps=args.cartes_regions,
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
