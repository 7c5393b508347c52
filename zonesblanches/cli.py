"""Command line: ``zonesblanches demo | analyse | sources``.

Everything printed is in French; every option is explained by ``--help`` with an example.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from zonesblanches import __version__
from zonesblanches._gpkg import fixed_dates
from zonesblanches._text import fr_count as _fr_count
from zonesblanches._text import fr_int as _fr_int
from zonesblanches._text import fr_num as _fr_num
from zonesblanches._text import fr_pct as _fr_pct
from zonesblanches.errors import ParameterError, ZonesBlanchesError

EPILOG_ANALYSE = """\
exemples :
  zonesblanches analyse --territoire "valenciennes metropole"
  zonesblanches analyse --territoire 59 --categorie garage_solidaire --mode voiture:20 --mode marche:30
  zonesblanches analyse --territoire 245901160 --services mes_services.csv --sortie resultats_vm
  zonesblanches analyse --territoire "59606,59014" --services sites.xlsx --mode velo --seuil 15

modes : marche, velo, voiture (aussi walk, bike, car). Un mode peut porter son seuil
(« voiture:20 ») ; sinon --seuil s'applique. Sans --mode : voiture 20 min et marche 30 min.
catégories : garage_solidaire, location_solidaire, auto_ecole_sociale, atelier_velo,
plateforme_mobilite, transport_solidaire.

fichiers écrits dans --sortie :
  carte.html                 carte interactive (s'ouvre sur l'indicateur principal)
  rapport.html               rapport : la réponse d'abord, carte, tableaux, méthode
  figures/*.png              cartes A4 paysage et graphique pour Word (--dpi 300 pour imprimer)
  communes.csv               une ligne par commune : temps (minutes) et zone blanche (0/1)
                             par catégorie et mode
  communes_zone_blanche.csv  communes en zone blanche pour au moins un indicateur, une colonne
                             par indicateur, triées par l'indicateur principal
  synthese.csv               une ligne par EPCI × catégorie × mode
  zones_blanches.csv         zones blanches contiguës par indicateur
  diagnostic.xlsx            les tableaux dans un classeur
  diagnostic.gpkg            toutes les couches pour QGIS
  rejets.csv                 avec --services : lignes écartées, avec le numéro et le motif
  avec --qpv : les tableaux par QPV (CSV et XLSX) ; avec --sans-carte : les trois CSV
  communes, synthese et communes_zone_blanche seulement.
CSV : UTF-8 avec BOM, séparateur virgule, point décimal ; les temps restent des nombres de
minutes (vides si aucun service n'est accessible), là où carte et rapport écrivent « plus de
60 min » au-delà de 60 min ou du double du seuil.
"""


def parse_modes(modes: Sequence[str] | None, seuil: float | None) -> dict[str, float]:
    """Turn ``["voiture:20", "marche"]`` and ``--seuil`` into ``{mode: minutes}``."""
    from zonesblanches.api import DEFAULT_THRESHOLDS
    from zonesblanches.coverage.modes import mode_code

    if not modes:
        if seuil is None:
            return dict(DEFAULT_THRESHOLDS)
        return {mode: seuil for mode in DEFAULT_THRESHOLDS}
    out: dict[str, float] = {}
    for item in modes:
        name, _, minutes = item.partition(":")
        code = mode_code(name)
        if minutes:
            try:
                out[code] = float(minutes.replace(",", "."))
            except ValueError:
                raise ParameterError(
                    f"Seuil illisible dans « {item} » (attendu : mode:minutes)."
                ) from None
        elif seuil is not None:
            out[code] = seuil
        else:
            out[code] = DEFAULT_THRESHOLDS.get(code, 20.0)
    return out


class _FrenchFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's help with its own words in French."""

    def add_usage(self, usage, actions, groups, prefix=None):
        if prefix is None:
            prefix = "utilisation : "
        return super().add_usage(usage, actions, groups, prefix)


_ARGPARSE_FR = (
    ("unrecognized arguments:", "arguments non reconnus :"),
    ("the following arguments are required:", "arguments obligatoires manquants :"),
    ("expected one argument", "une valeur est attendue"),
    ("invalid choice:", "choix invalide :"),
    ("choose from", "choix possibles :"),
    ("invalid float value:", "nombre invalide :"),
    ("argument ", "option "),
)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are in French."""

    def error(self, message: str):  # noqa: D401 - argparse API
        for english, french in _ARGPARSE_FR:
            message = message.replace(english, french)
        message = re.sub(r"(?<=\S): ", " : ", message)  # French spacing before a colon
        self.print_usage(sys.stderr)
        self.exit(2, f"Erreur : {message}\nAide : {self.prog} --help\n")


def _french(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.formatter_class = _FrenchFormatter
    parser._optionals.title = "options"
    parser._positionals.title = "commandes"
    parser.add_argument(
        "-h",
        "--help",
        action="help",
        default=argparse.SUPPRESS,
        help="affiche cette aide et quitte",
    )
    return parser


def parse_minutes(text: str | None) -> list[float] | None:
    """``"10,20,30"`` → ``[10.0, 20.0, 30.0]`` (French error on anything else)."""
    if not text:
        return None
    try:
        values = [float(t.strip()) for t in text.replace(";", ",").split(",") if t.strip()]
    except ValueError:
        raise ParameterError(
            f"Seuils d'isochrones illisibles : « {text} » (ex. 10,20,30)."
        ) from None
    if not values or min(values) <= 0:
        raise ParameterError(f"Les seuils d'isochrones doivent être positifs : « {text} ».")
    return sorted(set(values))


def _add_common(p: argparse.ArgumentParser, *, isochrones: bool = True) -> None:
    p.add_argument(
        "--osm",
        metavar="FICHIER",
        type=Path,
        help="réseau routier OpenStreetMap pour des temps par la route : extrait .osm.pbf "
        "(ex. Geofabrik nord-pas-de-calais), .osm, .osm.gz, .osm.bz2 ou GraphML OSMnx. "
        "Sans --osm ni --telecharger : temps estimés à vol d'oiseau",
    )
    if isochrones:
        p.add_argument(
            "--isochrones",
            metavar="MIN[,MIN…]",
            help="avec un réseau routier (--osm ou --telecharger) : dessine les isochrones de chaque "
            "service et leur union par catégorie, pour ces seuils en minutes et le premier mode "
            "(ex. --isochrones 10,20,30)",
        )
    p.add_argument(
        "--qpv",
        metavar="FICHIER",
        type=Path,
        help="périmètres des quartiers prioritaires (fichier ANCT 2024 ou 2015 : GeoJSON, "
        "GeoPackage, Shapefile ou l'archive zip) : indicateurs par QPV et écart QPV / reste de "
        "l'EPCI",
    )
    p.add_argument(
        "--carreaux",
        metavar="FICHIER",
        type=Path,
        help="population carroyée INSEE Filosofi (200 m ou 1 km ; CSV, GeoPackage ou l'archive "
        "zip) : la population est comptée par carreau au lieu d'un point par commune",
    )
    p.add_argument(
        "--telecharger",
        action="store_true",
        help="télécharge le réseau routier du territoire depuis OpenStreetMap (Overpass ; "
        "taille d'un EPCI au plus ; connexion Internet nécessaire)",
    )
    p.add_argument(
        "--sortie",
        metavar="DOSSIER",
        default="resultats",
        type=Path,
        help="dossier où écrire la carte et les tableaux (créé si besoin ; défaut : %(default)s)",
    )
    p.add_argument(
        "--sans-carte", action="store_true", help="n'écrit que les tableaux (plus rapide)"
    )
    if isochrones:  # demo and analyse: the map and report options
        p.add_argument(
            "--principal",
            metavar="CATEGORIE:MODE",
            help="l'indicateur sur lequel la carte s'ouvre et auquel le rapport répond d'abord "
            "(ex. garage_solidaire:voiture ; défaut : la première catégorie et le premier mode)",
        )
        p.add_argument(
            "--dpi",
            type=int,
            choices=(150, 300),
            default=150,
            help="résolution des figures pour Word (300 pour l'impression ; défaut : 150)",
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = _Parser(
        prog="zonesblanches",
        description="Diagnostic d'accès aux services de mobilité inclusive (garages solidaires, "
        "auto-écoles sociales, ateliers vélo, location solidaire, plateformes de "
        "mobilité) : temps d'accès, zones blanches, cartes.",
        epilog="Aide d'une commande : zonesblanches COMMANDE --help. "
        "Commencez par : zonesblanches demo",
        add_help=False,
    )
    _french(parser)
    parser.add_argument(
        "--version",
        action="version",
        version=f"zonesblanches {__version__}",
        help="affiche la version et quitte",
    )
    sub = parser.add_subparsers(dest="commande", metavar="COMMANDE")

    demo = sub.add_parser(
        "demo",
        help="diagnostic de toute la région sur les données embarquées",
        description="Lance le diagnostic de référence sur les données embarquées : toute la "
        "région Hauts-de-France, toutes les catégories du registre, voiture 20 min "
        "et marche 30 min. Écrit la carte et les tableaux dans --sortie.",
        epilog="exemple :\n  zonesblanches demo --sortie resultats",
        add_help=False,
    )
    _french(demo)
    _add_common(demo)

    analyse = sub.add_parser(
        "analyse",
        help="diagnostic d'un territoire choisi, avec vos propres services",
        description="Calcule, pour chaque commune du territoire, le temps jusqu'au service le "
        "plus proche de chaque catégorie et mode, repère les zones blanches (au-delà "
        "du seuil), et écrit carte et tableaux.",
        epilog=EPILOG_ANALYSE,
        add_help=False,
    )
    _french(analyse)
    analyse.add_argument(
        "--territoire",
        metavar="TERRITOIRE",
        default="region",
        help="EPCI (nom sans accents accepté, ou SIREN), code de département, "
        "liste de codes INSEE séparés par des virgules, ou « region » "
        "(défaut)",
    )
    analyse.add_argument(
        "--services",
        metavar="FICHIER",
        type=Path,
        help="vos services : CSV (, ou ;), XLSX, GeoJSON ou GeoPackage ; "
        "coordonnées lon/lat, x/y avec --crs, ou seulement la commune. "
        "Défaut : le registre embarqué",
    )
    analyse.add_argument(
        "--crs",
        metavar="CRS",
        help="système de coordonnées des colonnes x/y du fichier de services "
        "(ex. EPSG:2154 pour Lambert-93)",
    )
    analyse.add_argument(
        "--categorie",
        metavar="CATEGORIE",
        action="append",
        help="catégorie à analyser (répétable) ; défaut : toutes celles présentes",
    )
    analyse.add_argument(
        "--mode",
        metavar="MODE[:MIN]",
        action="append",
        help="mode de déplacement et, optionnellement, son seuil en minutes "
        "(répétable) : marche, velo, voiture ; ex. --mode voiture:20",
    )
    analyse.add_argument(
        "--seuil",
        metavar="MIN",
        type=float,
        help="seuil en minutes pour les modes donnés sans seuil",
    )
    _add_common(analyse)

    suggest = sub.add_parser(
        "suggerer",
        help="où implanter de nouveaux services pour couvrir le plus d'habitants",
        description="Choisit k nouveaux sites pour une catégorie (les services existants sont "
        "gardés) afin de maximiser la population nouvellement à moins du seuil : sélection "
        "gloutonne (garantie imprimée) et, si l'instance est assez petite, solution exacte "
        "(programme linéaire en nombres entiers, CBC) avec l'écart de la sélection gloutonne.",
        epilog=EPILOG_SUGGERER,
        add_help=False,
    )
    _french(suggest)
    suggest.add_argument(
        "--territoire",
        metavar="TERRITOIRE",
        default="region",
        help="comme pour « analyse » (défaut : region)",
    )
    suggest.add_argument(
        "--categorie",
        metavar="CATEGORIE",
        required=True,
        help="catégorie du service à implanter (ex. garage_solidaire)",
    )
    suggest.add_argument(
        "--mode",
        metavar="MODE",
        default="voiture",
        help="mode de déplacement (défaut : %(default)s)",
    )
    suggest.add_argument(
        "--seuil",
        metavar="MIN",
        type=float,
        help="seuil en minutes (défaut : 20 en voiture, 30 à pied)",
    )
    suggest.add_argument(
        "--nombre",
        metavar="K",
        type=int,
        default=1,
        help="nombre de sites à choisir (défaut : %(default)s)",
    )
    suggest.add_argument(
        "--candidats",
        metavar="ORIGINES",
        default="commune",
        help="sites possibles, séparés par des virgules : commune (point de "
        "chaque commune), qpv (centre des QPV, avec --qpv), grille (carrés "
        "habités), fichier (avec --locaux) ; défaut : %(default)s",
    )
    suggest.add_argument(
        "--locaux",
        metavar="FICHIER",
        type=Path,
        help="vos locaux possibles (CSV, XLSX, GeoJSON… comme un fichier de services)",
    )
    suggest.add_argument(
        "--ponderation",
        metavar="POIDS",
        default="population",
        help="ce qu'on maximise : population, qpv (habitants des QPV, avec "
        "--qpv et --carreaux), men_pauv (ménages pauvres, avec --carreaux) ou "
        "un mélange « population:1+qpv:2 » ; défaut : %(default)s",
    )
    suggest.add_argument(
        "--methode",
        choices=["glouton", "exacte", "les-deux"],
        default="les-deux",
        help="glouton (rapide), exacte, ou les deux avec l'écart (défaut)",
    )
    suggest.add_argument(
        "--services",
        metavar="FICHIER",
        type=Path,
        help="services existants (défaut : registre embarqué)",
    )
    suggest.add_argument("--crs", metavar="CRS", help="CRS des colonnes x/y de --services")
    _add_common(suggest, isochrones=False)

    scen = sub.add_parser(
        "scenario",
        help="avant / après : ajouter, retirer ou déplacer des services",
        description="Compare la couverture avant et après des changements de services : qui "
        "gagne l'accès, qui le perd (un déplacement peut faire les deux), par commune, EPCI et "
        "QPV.",
        epilog=EPILOG_SCENARIO,
        add_help=False,
    )
    _french(scen)
    scen.add_argument(
        "--territoire",
        metavar="TERRITOIRE",
        default="region",
        help="comme pour « analyse » (défaut : region)",
    )
    scen.add_argument(
        "--ajouter",
        metavar="CATEGORIE:LIEU",
        action="append",
        help="ajoute un service : catégorie et code INSEE (ou lon,lat), ex. "
        "garage_solidaire:62895 ; répétable",
    )
    scen.add_argument(
        "--retirer",
        metavar="ID",
        action="append",
        help="retire le service d'identifiant ID (ex. HDF-002) ; répétable",
    )
    scen.add_argument(
        "--deplacer",
        metavar="ID:LIEU",
        action="append",
        help="déplace un service vers une commune (code INSEE) ou lon,lat, ex. "
        "HDF-002:62895 ; répétable",
    )
    scen.add_argument(
        "--categorie",
        metavar="CATEGORIE",
        action="append",
        help="catégories à comparer (défaut : celles touchées par les changements)",
    )
    scen.add_argument(
        "--mode",
        metavar="MODE[:MIN]",
        action="append",
        help="comme pour « analyse » (défaut : voiture 20 min, marche 30 min)",
    )
    scen.add_argument(
        "--seuil",
        metavar="MIN",
        type=float,
        help="seuil en minutes pour les modes donnés sans seuil",
    )
    scen.add_argument(
        "--services",
        metavar="FICHIER",
        type=Path,
        help="services d'aujourd'hui (défaut : registre embarqué)",
    )
    scen.add_argument("--crs", metavar="CRS", help="CRS des colonnes x/y de --services")
    _add_common(scen, isochrones=False)

    _french(
        sub.add_parser(
            "sources",
            help="affiche la provenance des données embarquées",
            description="Affiche la source, la licence, la date et les traitements de chaque jeu "
            "de données embarqué.",
            epilog="exemple :\n  zonesblanches sources",
            add_help=False,
        )
    )
    return parser


EPILOG_SUGGERER = """\
exemples :
  zonesblanches suggerer --territoire 62 --categorie garage_solidaire --mode voiture --seuil 20 --nombre 3
  zonesblanches suggerer --territoire "valenciennes metropole" --categorie atelier_velo --mode marche --nombre 2
  zonesblanches suggerer --territoire 59 --categorie auto_ecole_sociale --candidats commune,fichier --locaux locaux.csv

fichiers écrits dans --sortie : carte_sites.html (sites proposés et communes gagnées),
sites_suggeres.csv (sites classés : population gagnée, couverture cumulée),
sites_suggeres.gpkg (sites et unités nouvellement couvertes, pour QGIS).
"""

EPILOG_SCENARIO = """\
exemples :
  zonesblanches scenario --deplacer HDF-002:62895          (Lens → Wingles, 2025)
  zonesblanches scenario --territoire 62 --ajouter garage_solidaire:62119 --retirer HDF-013
  zonesblanches scenario --deplacer HDF-002:2.86,50.49 --mode voiture:15

fichiers écrits dans --sortie : carte_scenario.html (qui gagne, qui perd l'accès),
scenario_communes.csv, scenario_epci.csv, scenario_qpv.csv
(avec --qpv et --carreaux), scenario_unites.csv (chaque unité : temps avant / après, gagne /
perd), scenario.gpkg (couche des évolutions pour QGIS).
"""


def _print(msg: str = "") -> None:
    print(msg, flush=True)


MAX_ZONE_UNITS = 1000
"""Above this many units, zones are dissolved for the first category only (each takes seconds)."""


def _population_and_qpv(territory, qpv_path: Path | None, carreaux_path: Path | None):
    """Demand units (grid cells or communes) and QPV, saying which were used."""
    from zonesblanches.geodata import reference

    demand = None
    if carreaux_path is not None:
        from zonesblanches.geodata.carreaux import carreaux_demand, load_carreaux

        cells = load_carreaux(carreaux_path, mask=territory.geometry, progress=sys.stderr.isatty())
        demand = carreaux_demand(cells, territory.communes)
        _print(
            f"Population : carreaux INSEE Filosofi ({carreaux_path.name}) — "
            f"{_fr_int(len(demand))} carreaux habités, {_fr_int(demand['population'].sum())} "
            "habitants (population des ménages fiscaux, arrondie par l'INSEE)"
        )
    else:
        _print(
            "Population : un point par commune (population municipale 2023) ; pas de "
            "carroyage fourni (--carreaux FICHIER pour compter par carreau de 200 m)."
        )
    qpv = None
    if qpv_path is not None:
        from zonesblanches.geodata.qpv import load_qpv

        qpv = load_qpv(
            qpv_path,
            communes=reference.load_communes(),
            mask=territory.geometry,
            progress=sys.stderr.isatty(),
        )
        _print(f"QPV : {len(qpv)} quartier(s) prioritaire(s) dans le territoire ({qpv_path.name})")
    else:
        _print(
            "QPV : pas de fichier des quartiers prioritaires (--qpv FICHIER pour les "
            "indicateurs par QPV)."
        )
    return demand, qpv


def _report_qpv(result, qpv, sortie: Path) -> tuple[list[Path], object]:
    """QPV equity tables (CSV + XLSX), their headline lines, and the QPV frame with its
    indicators as columns (for the map popups)."""
    from zonesblanches.coverage.equity import equity_tables, write_tables
    from zonesblanches.coverage.modes import MODES
    from zonesblanches.geodata.categories import category_label

    tables = equity_tables(result.units, qpv, thresholds=result.thresholds, kind=result.unit_kind)
    per_qpv = tables.get("qpv")
    warning = per_qpv.attrs.get("avertissement") if per_qpv is not None else None
    if warning:
        _print(f"  ⚠ {warning}")
    gap = tables.get("ecarts_qpv")
    if gap is not None and len(gap):
        whole = gap[(gap["niveau"] == "territoire") & gap["ecart_points"].notna()]
        if len(whole):
            _print("Habitants des QPV à portée, comparés au reste du territoire :")
        for _, r in whole.iterrows():
            _print(
                f"  {category_label(r['categorie'])}, {MODES[r['mode']].label} : QPV "
                f"{_fr_num(r['pct_dans_seuil_qpv'])} % / hors QPV "
                f"{_fr_num(r['pct_dans_seuil_hors_qpv'])} % (écart "
                f"{_fr_num(r['ecart_points'])} points)"
            )
    enriched = qpv
    if per_qpv is not None and len(per_qpv) and "pct_population_dans_seuil" in per_qpv:
        wide = per_qpv.pivot_table(
            index="code_qp",
            columns=["categorie", "mode"],
            values="pct_population_dans_seuil",
            aggfunc="first",
        )
        wide.columns = [
            f"% à portée — {category_label(c)}, {MODES[m].label}" for c, m in wide.columns
        ]
        enriched = qpv.merge(wide.reset_index(), on="code_qp", how="left")
    return write_tables(tables, sortie), enriched


def _zones(result, territory, qpv):
    from zonesblanches.api import zones_by_indicator

    pairs = None
    if len(result.units) > MAX_ZONE_UNITS:
        pairs = [(result.categories[0], m) for m in result.modes]
    return zones_by_indicator(result, territory.communes, qpv=qpv, pairs=pairs)


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
) -> Inputs:
    """Resolve the territory and read every input, printing in French what was used."""
    from zonesblanches.geodata import reference
    from zonesblanches.geodata.territory import select_territory

    territory = select_territory(territoire)
    _print(
        f"Territoire : {territory.label} — {_fr_count(len(territory.communes), 'commune')}, "
        f"{_fr_count(territory.population, 'habitant')} (population municipale 2023)"
    )
    sortie.mkdir(parents=True, exist_ok=True)
    problems = 0
    if services_path is None:
        services = reference.load_registry()
        _print(
            f"Services : registre embarqué ({len(services)} services documentés, "
            "échantillon non exhaustif)"
        )
    else:
        from zonesblanches.geodata.services import read_services

        read = read_services(
            services_path, crs=crs, territory=territory.geometry, rejects_path=sortie / "rejets.csv"
        )
        services = read.services
        problems = read.problems
        _print(f"Services : {len(services)} lus dans {services_path.name}")
        for warning in read.warnings:
            _print(f"  ⚠ {warning}")
        if len(read.rejects):
            _print(
                f"  ⚠ {len(read.rejects)} ligne(s) écartée(s), détail dans {sortie / 'rejets.csv'}"
            )
            for _, row in read.rejects.head(10).iterrows():
                _print(f"    ligne {row['ligne']} — {row['champ']} : {row['motif']}")
    demand, qpv = _population_and_qpv(territory, qpv_path, carreaux_path)
    models = None
    if osm is not None or download:
        from zonesblanches.api import network_models

        source = f"fichier {osm.name}" if osm is not None else "téléchargement OpenStreetMap"
        _print(f"Réseau routier : {source} ({', '.join(modes)})…")
        models = network_models(
            territory, modes, osm=osm, download=download, progress=sys.stderr.isatty()
        )
        for mode, model in models.items():
            net = model.network
            _print(f"  {mode} : {_fr_int(net.n_nodes)} nœuds, {_fr_int(net.n_edges)} tronçons")
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
    principal: str | None = None,
    dpi: int = 150,
) -> int:
    """Run an analysis end to end and write its outputs; return the number of problems."""
    from zonesblanches.api import diagnostic
    from zonesblanches.geodata import reference
    from zonesblanches.maps.tables import (
        communes_table,
        synthesis_table,
        uncovered_table,
        write_csv,
    )

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
    )
    territory, services, demand, qpv, models = (
        inputs.territory,
        inputs.services,
        inputs.demand,
        inputs.qpv,
        inputs.models,
    )
    problems = inputs.problems
    result = diagnostic(
        territory,
        thresholds,
        services=services,
        categories=categories,
        models=models,
        demand=demand,
    )
    _print()
    _print("Méthode :")
    for note in result.notes:
        _print(f"  • {note}")
    _print()
    _print("Résultats (part de la population à moins du seuil du service le plus proche) :")
    overall = result.summary(by=None)
    from zonesblanches.coverage.modes import MODES
    from zonesblanches.geodata.categories import category_label
    from zonesblanches.maps.style import unit_words

    words = unit_words(result.unit_kind)
    for _, r in overall.iterrows():
        _print(
            f"  {category_label(r['categorie'])}, {MODES[r['mode']].label} "
            f"(≤ {_fr_num(r['seuil_min'], 0)} min) : {_fr_pct(r['part_couverte'])} couverts ; "
            f"{_fr_count(r['population_zone_blanche'], 'habitant')} en zone blanche "
            f"({words.count(r['unites_zone_blanche'])}) ; temps médian "
            f"{_fr_num(r['temps_median_min'])} min"
        )
    first_cat, first_mode = result.categories[0], result.modes[0]
    worst = result.uncovered(first_cat, first_mode).head(5)
    if len(worst):
        _print(
            f"  {words.title} en zone blanche les plus {words.agree('peuplé')}"
            f" ({category_label(first_cat)}, "
            f"{MODES[first_mode].label}) : "
            + ", ".join(
                f"{n} ({_fr_int(p)} hab., {_fr_num(m, 0)} min)"
                for n, p, m in zip(
                    worst["nom"], worst["population"], worst["temps_min"], strict=True
                )
            )
        )

    principal_spec = _principal(result, principal)  # a French error now, not after writing
    written = []
    if qpv is not None:
        paths, qpv = _report_qpv(result, qpv, sortie)
        written += paths
    zones = None
    iso = None
    if isochrone_minutes:
        from zonesblanches.coverage.isochrones import isochrones

        first_mode = result.modes[0]
        subset = result.services[result.services["categorie"].isin(result.categories)]
        _print(
            f"Isochrones {', '.join(f'{m:g}' for m in isochrone_minutes)} min "
            f"({first_mode}, {len(subset)} services)…"
        )
        iso = isochrones(
            models[first_mode], subset, isochrone_minutes, progress=sys.stderr.isatty()
        )
    if with_map:
        zones = _zones(result, territory, qpv)
        if zones:
            import pandas as pd

            from zonesblanches.maps.findings import indicator_label, zones_note

            first_name, first = next(iter(zones.items()))
            label = next(
                (
                    indicator_label(c, m)
                    for c in result.categories
                    for m in result.modes
                    if f"{c}_{m}" == first_name
                ),
                first_name,
            )
            note = zones_note(first, result.unit_kind)[1]
            _print(
                f"{label} — {note}"
                if note
                else f"{label} — zones blanches contiguës : {_fr_count(len(first), 'zone')}"
                + (
                    f", la plus peuplée : {_fr_count(first['population'].iloc[0], 'habitant')}"
                    if len(first)
                    else ""
                )
            )
            table = pd.concat(
                [
                    pd.DataFrame(z.drop(columns=z.geometry.name)).assign(indicateur=name)
                    for name, z in zones.items()
                ],
                ignore_index=True,
            )
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
                    epci=reference.load_epci(),
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
    _print()
    _print("Fichiers écrits :")
    for path in written:
        _print(f"  {path}")
    if services_path is not None:
        _print(f"  {sortie / 'rejets.csv'}")
    _print(f"Problèmes signalés : {problems}")
    _print(f"Terminé en {_fr_num(time.perf_counter() - t0)} s.")
    return problems


def run_suggestion(args: argparse.Namespace) -> None:
    """``zonesblanches suggerer``."""
    from zonesblanches.coverage.modes import mode_code
    from zonesblanches.coverage.sites import format_suggestion, parse_weights, suggest_for_territory
    from zonesblanches.maps.tables import write_csv

    mode = mode_code(args.mode)
    if args.nombre < 1:
        raise ParameterError(f"--nombre doit être au moins 1 (reçu : {args.nombre}).")
    inputs = load_inputs(
        args.territoire,
        [mode],
        args.sortie,
        services_path=args.services,
        crs=args.crs,
        osm=args.osm,
        download=args.telecharger,
        qpv_path=args.qpv,
        carreaux_path=args.carreaux,
    )
    origins = [o.strip() for o in args.candidats.split(",") if o.strip()]
    method = {"glouton": "greedy", "exacte": "exact", "les-deux": "both"}[args.methode]
    demand = inputs.demand
    suggestion = suggest_for_territory(
        None if args.territoire == "region" else args.territoire,
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
        demand=demand,
        unit_kind="carreau" if demand is not None else "commune",
        progress=sys.stderr.isatty(),
    )
    _print()
    _print(format_suggestion(suggestion).rstrip())
    written = [write_csv(suggestion.table, args.sortie / "sites_suggeres.csv")]
    gpkg = args.sortie / "sites_suggeres.gpkg"
    gpkg.unlink(missing_ok=True)
    with fixed_dates():
        suggestion.sites.to_file(gpkg, layer="sites", driver="GPKG")
        if len(suggestion.catchments):
            suggestion.catchments.to_file(gpkg, layer="unites_couvertes", driver="GPKG")
    written.append(gpkg)
    if not args.sans_carte:
        from zonesblanches.geodata import reference
        from zonesblanches.maps import save_map, suggestion_map

        written.append(
            save_map(
                suggestion_map(suggestion, inputs.territory.communes, epci=reference.load_epci()),
                args.sortie / "carte_sites.html",
            )
        )
    _print()
    _print("Fichiers écrits :")
    for path in written:
        _print(f"  {path}")


def run_scenario_command(args: argparse.Namespace) -> None:
    """``zonesblanches scenario``."""
    from zonesblanches.coverage.scenarios import format_scenario, scenario_for_territory
    from zonesblanches.maps.tables import write_csv

    if not (args.ajouter or args.retirer or args.deplacer):
        raise ParameterError(
            "Indiquez au moins un changement : --ajouter, --retirer ou --deplacer "
            "(ex. --deplacer HDF-002:62895)."
        )
    thresholds = parse_modes(args.mode, args.seuil)
    inputs = load_inputs(
        args.territoire,
        list(thresholds),
        args.sortie,
        services_path=args.services,
        crs=args.crs,
        osm=args.osm,
        download=args.telecharger,
        qpv_path=args.qpv,
        carreaux_path=args.carreaux,
    )
    res = scenario_for_territory(
        None if args.territoire == "region" else args.territoire,
        ajouter=args.ajouter,
        retirer=args.retirer,
        deplacer=args.deplacer,
        thresholds=thresholds,
        services=inputs.services,
        categories=args.categorie,
        models=inputs.models,
        qpv=inputs.qpv,
        demand=inputs.demand,
        unit_kind="carreau" if inputs.demand is not None else "commune",
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
    gpkg = out / "scenario.gpkg"
    gpkg.unlink(missing_ok=True)
    with fixed_dates():
        for cat in res.after.categories:
            for mode in res.after.modes:
                layer = res.diff_layer(cat, mode)
                if len(layer):
                    layer.to_file(gpkg, layer=f"evolution_{cat}_{mode}", driver="GPKG")
    if gpkg.exists():
        written.append(gpkg)
    if not args.sans_carte:
        from zonesblanches.geodata import reference
        from zonesblanches.maps import save_map, scenario_map

        written.append(
            save_map(
                scenario_map(res, inputs.territory.communes, epci=reference.load_epci()),
                out / "carte_scenario.html",
            )
        )
    _print()
    _print("Fichiers écrits :")
    for path in written:
        _print(f"  {path}")


DEMO_EPCI = "245901160"
"""CA Valenciennes Métropole: the EPCI the demo analyses on the real road network."""

OFFLINE_ENV = "ZONESBLANCHES_HORS_LIGNE"
"""Set to 1 to forbid any download (the test suite sets it)."""


def run_demo(
    sortie: Path,
    *,
    with_map: bool = True,
    osm: Path | None = None,
    download: bool = False,
    qpv_path: Path | None = None,
    carreaux_path: Path | None = None,
    isochrone_minutes: list[float] | None = None,
    principal: str | None = None,
    dpi: int = 150,
) -> None:
    """The regional overview, then a road-network analysis of CA Valenciennes Métropole.

    The network part uses ``osm`` when given; otherwise it tries a download (unless
    ``ZONESBLANCHES_HORS_LIGNE=1``) and, offline, says so and keeps the straight-line model.
    """
    import os

    from zonesblanches.errors import NetworkUnavailableError

    _print("=== Vue régionale (temps estimés à vol d'oiseau) ===")
    run_analysis(
        None,
        parse_modes(None, None),
        sortie,
        with_map=with_map,
        qpv_path=qpv_path,
        carreaux_path=carreaux_path,
        principal=principal,
        dpi=dpi,
    )
    _print()
    _print("=== CA Valenciennes Métropole sur le réseau routier OpenStreetMap ===")
    target = sortie / "valenciennes_reseau"
    offline = os.environ.get(OFFLINE_ENV, "") not in ("", "0")
    if osm is None and offline and not download:
        _print(
            f"Mode hors ligne ({OFFLINE_ENV}=1) : analyse sur réseau routier non lancée ; "
            "les temps restent estimés à vol d'oiseau."
        )
        return
    try:
        if osm is None:
            from zonesblanches.geodata.osm import check_overpass

            check_overpass(timeout=5)
        run_analysis(
            DEMO_EPCI,
            parse_modes(None, None),
            target,
            with_map=with_map,
            osm=osm,
            download=osm is None,
            qpv_path=qpv_path,
            carreaux_path=carreaux_path,
            isochrone_minutes=isochrone_minutes,
            principal=principal,
            dpi=dpi,
        )
    except NetworkUnavailableError as exc:
        _print(f"Pas de réseau routier : {exc}")
        _print(
            "Les temps de la démonstration restent estimés à vol d'oiseau. Avec un extrait "
            "OpenStreetMap : zonesblanches demo --osm nord-pas-de-calais-latest.osm.pbf"
        )


def _principal(result, principal: str | None) -> tuple[str, str]:
    from zonesblanches.maps.carto import principal_index_of

    specs = [(c, m) for c in result.categories for m in result.modes]
    return specs[principal_index_of(principal, specs)]


def _shared_options(args: argparse.Namespace) -> dict:
    """Options that ``demo`` and ``analyse`` share (see :func:`_add_common`)."""
    return {
        "with_map": not args.sans_carte,
        "osm": args.osm,
        "download": args.telecharger,
        "qpv_path": args.qpv,
        "carreaux_path": args.carreaux,
        "isochrone_minutes": parse_minutes(args.isochrones),
        "principal": args.principal,
        "dpi": args.dpi,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zonesblanches`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.commande == "sources":
            from zonesblanches.geodata.reference import format_sources

            _print(format_sources().rstrip())
            return 0
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
    except ZonesBlanchesError as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"Erreur : fichier introuvable : {exc.filename}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
