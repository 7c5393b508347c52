"""The command line's parser: sub-commands, options, French help and French usage errors.

:mod:`zonesblanches.cli` runs the commands; this module only describes them (and turns option
strings such as ``voiture:20`` or ``10,20,30`` into values).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from zonesblanches._version import __version__
from zonesblanches.errors import ParameterError

EPILOG_ANALYSE = """\
exemples :
  zonesblanches analyse --territoire "valenciennes metropole"
  zonesblanches analyse --territoire 59 --categorie garage_solidaire --mode voiture:20 --mode marche:30
  zonesblanches analyse --territoire 245901160 --services mes_services.csv --sortie resultats_vm
  zonesblanches analyse --territoire "59606,59014" --services sites.xlsx --mode velo --seuil 15
  zonesblanches analyse --territoire 245901160 --mode voiture:20 --mode transport:45 --gtfs tc.zip
                        --gtfs ter.zip --jour 2026-12-01 --arrivee 09:00 --fenetre 120
  zonesblanches analyse --territoire france --sans-carte --workers 2    # un calcul par département
  zonesblanches analyse --territoire "Bretagne, Normandie" --cluster tcp://HOTE:8786
  zonesblanches analyse --territoire "59,62,80" --cluster tcp://HOTE:8786
                        --osm /donnees/hauts-de-france.osm.pbf    # lu par les workers

modes : marche, velo, voiture (aussi walk, bike, car), transport (transports en commun, sur
horaires GTFS : --gtfs ou --telecharger-gtfs, et --jour). Un mode peut porter son seuil
(« voiture:20 ») ; sinon --seuil s'applique. Sans --mode : voiture 20 min et marche 30 min ;
transport sans seuil : 45 min.
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
  synthese_departements.csv, synthese_regions.csv, synthese_territoire.csv
                             sur plusieurs départements : une ligne par département, par
                             région, et pour tout le territoire × catégorie × mode
  services_hors_territoire.csv
                             services utilisés hors du territoire (dans la marge) : commune,
                             département, distance au territoire, source
  zones_blanches.csv         zones blanches contiguës par indicateur ; une seule ligne « zone
                             blanche quasi continue » si une zone regroupe 80 % des habitants
                             sans accès
  diagnostic.xlsx            les tableaux dans un classeur
  diagnostic.gpkg            toutes les couches pour QGIS
  rejets.csv                 avec --services : lignes écartées, avec le numéro et le motif
  signalements.csv           avec --services : lignes gardées mais signalées (commune déclarée
                             ≠ commune des coordonnées, adresse placée à la commune…)
  gtfs_rejets.csv            avec --gtfs : lignes d'horaires écartées (flux, fichier, ligne,
                             champ, motif)
  avec --qpv : les tableaux par QPV (CSV et XLSX) ; avec --sans-carte : les CSV
  communes, synthèses et communes_zone_blanche seulement.
CSV : UTF-8 avec BOM, séparateur virgule, point décimal ; les temps restent des nombres de
minutes (vides si aucun service n'est accessible), là où carte et rapport écrivent « plus de
60 min » au-delà de 60 min ou du double du seuil.
"""


def parse_modes(modes: Sequence[str] | None, seuil: float | None) -> dict[str, float]:
    """Turn ``["voiture:20", "marche"]`` and ``--seuil`` into ``{mode: minutes}``."""
    from zonesblanches.api import DEFAULT_THRESHOLDS
    from zonesblanches.modes import mode_code
    from zonesblanches.transit import DEFAULT_TRANSIT_MINUTES

    defaults = {**DEFAULT_THRESHOLDS, "transport": DEFAULT_TRANSIT_MINUTES}

    if not modes:
        if seuil is None:
            return dict(DEFAULT_THRESHOLDS)
        return {mode: seuil for mode in DEFAULT_THRESHOLDS}
    out: dict[str, float] = {}
    for item in modes:
        name, _, minutes = item.partition(":")
        code = mode_code(name, allow_transit=True)
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
            out[code] = defaults.get(code, 20.0)
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


def _command(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    """Sub-command ``name`` of ``sub`` (``add_parser`` keywords), with the French help."""
    return _french(sub.add_parser(name, add_help=False, **kwargs))


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


SERVICES_HELP = (
    "services : « data-inclusion » (inventaire national data·inclusion, en cache ou téléchargé "
    "en ligne), un fichier data·inclusion (parquet, csv, geojson, xlsx : reconnu à ses "
    "colonnes), un inventaire écrit par « zonesblanches services » (lignes « fermé » écartées), "
    "ou vos services : CSV (, ou ;), XLSX, GeoJSON ou GeoPackage ; coordonnées lon/lat, x/y avec "
    "--crs, ou seulement la commune. Défaut : le registre d'exemple embarqué (non exhaustif)"
)


def _add_services(p: argparse.ArgumentParser) -> None:
    """``--services``, ``--crs``, ``--depuis`` and ``--exclure-a-verifier``."""
    p.add_argument("--services", metavar="SOURCE", type=Path, help=SERVICES_HELP)
    p.add_argument(
        "--crs",
        metavar="CRS",
        help="système de coordonnées des colonnes x/y du fichier de services "
        "(ex. EPSG:2154 pour Lambert-93)",
    )
    p.add_argument(
        "--depuis",
        metavar="AAAA-MM-JJ",
        help="ne garde que les services mis à jour depuis cette date (ex. 2024-01-01) ; les "
        "services sans date sont écartés et comptés",
    )
    p.add_argument(
        "--exclure-a-verifier",
        action="store_true",
        help="écarte les services dont le statut est « à vérifier » (comptés)",
    )


def _add_market(p: argparse.ArgumentParser, what: str) -> None:
    """``--offre-marchande``: the INSEE BPE as context, ``what`` it gives in this command."""
    p.add_argument(
        "--offre-marchande",
        metavar="FICHIER",
        type=Path,
        help=f"base permanente des équipements INSEE (BPE : CSV, zip ou parquet) : {what} ; "
        "jamais comptés comme services solidaires",
    )


def _add_common(
    p: argparse.ArgumentParser, *, isochrones: bool = True, margin: bool = True
) -> None:
    p.add_argument(
        "--osm",
        metavar="FICHIER",
        type=Path,
        help="réseau routier OpenStreetMap pour des temps par la route : extrait .osm.pbf "
        "(ex. Geofabrik nord-pas-de-calais), .osm, .osm.gz, .osm.bz2 ou GraphML OSMnx (.graphml, .graphml.gz). "
        "Sans --osm ni --telecharger : temps estimés à vol d'oiseau",
    )
    if isochrones:
        p.add_argument(
            "--isochrones",
            metavar="MIN[,MIN…]",
            help="avec un réseau routier (--osm ou --telecharger) : dessine les isochrones de chaque "
            "service et leur union par catégorie, pour ces seuils en minutes et le premier mode "
            "(ex. --isochrones 10,20,30). Avec le calcul par département (--cluster, "
            "--workers, --territoire france), le réseau de --osm est alors lu en entier sur ce "
            "poste (les isochrones en ont besoin) et envoyé aux workers, au lieu d'être lu par "
            "eux : prévoir la mémoire du réseau de tout le territoire ici",
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
    if margin:
        p.add_argument(
            "--marge",
            metavar="KM",
            type=float,
            help="marge autour du territoire (km) où les services et le réseau routier sont pris en "
            "compte, au-delà des limites de département et de région ; défaut : la portée du seuil "
            "le plus long au mode le plus rapide (0 : le territoire seul)",
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
    p.add_argument(
        "--ecraser",
        action="store_true",
        help="remplace, dans --sortie, les fichiers portant le nom d'un résultat qu'aucun "
        "manifeste.json de zonesblanches ne liste (sans cette option, la commande refuse)",
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


def _add_territory(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--territoire", metavar="TERRITOIRE", default="region", help=what)


def _add_planning(p: argparse.ArgumentParser, market: str) -> None:
    """Services, ordinary market (``market``: its help) and common options of ``suggerer`` and
    ``scenario`` (no isochrones, no margin)."""
    _add_services(p)
    _add_market(p, market)
    _add_common(p, isochrones=False, margin=False)


def _add_transit(p: argparse.ArgumentParser) -> None:
    """Public-transport options (``--mode transport:45``)."""
    g = p.add_argument_group(
        "transports en commun (--mode transport:45)",
        "Temps porte à porte sur des horaires GTFS : marche jusqu'à l'arrêt (20 min au plus), "
        "attente, trajet et correspondances, marche jusqu'au service ; médiane (ou --centile) "
        "sur une fenêtre d'horaires, chaque minute comptée, de sorte qu'un seul bus "
        "chanceux ne décide pas.",
    )
    g.add_argument(
        "--gtfs",
        metavar="FICHIER",
        type=Path,
        action="append",
        help="horaires GTFS (zip ou dossier ; répétable : TER, réseau urbain, cars…) ; "
        "téléchargeables sur transport.data.gouv.fr",
    )
    g.add_argument(
        "--telecharger-gtfs",
        action="store_true",
        help="télécharge les horaires GTFS qui couvrent le territoire sur transport.data.gouv.fr "
        "(connexion Internet ; mis en cache)",
    )
    g.add_argument(
        "--jour",
        metavar="AAAA-MM-JJ",
        help="jour étudié (ex. 2026-12-01) : un jour ordinaire de la période des horaires",
    )
    g.add_argument(
        "--depart",
        metavar="HH:MM",
        help="« en partant à 8 h » : heure de départ du domicile, début de la fenêtre",
    )
    g.add_argument(
        "--arrivee",
        metavar="HH:MM",
        help="« pour arriver avant 9 h à l'ouverture » : heure limite d'arrivée au service, fin "
        "de la fenêtre (défaut : --arrivee 09:00)",
    )
    g.add_argument(
        "--fenetre",
        metavar="MIN",
        type=float,
        help="largeur de la fenêtre d'horaires en minutes (défaut : 120)",
    )
    g.add_argument(
        "--centile",
        metavar="Q",
        type=float,
        help="temps retenu sur la fenêtre : 50 la médiane (défaut), 80 un temps atteint 4 fois "
        "sur 5",
    )


def transit_options(args: argparse.Namespace, modes: Sequence[str]):
    """The checked public-transport options of ``analyse`` (None without the transport mode;
    French errors, see :func:`zonesblanches.transit.check_transit_options`)."""
    from zonesblanches.transit import check_transit_options

    return check_transit_options(
        list(modes),
        gtfs=getattr(args, "gtfs", None),
        download=getattr(args, "telecharger_gtfs", False),
        day=getattr(args, "jour", None),
        depart=getattr(args, "depart", None),
        arrive=getattr(args, "arrivee", None),
        window_min=getattr(args, "fenetre", None),
        percentile=getattr(args, "centile", None),
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

    demo = _command(
        sub,
        "demo",
        help="diagnostic de toute la région sur les données embarquées",
        description="Lance le diagnostic de référence sur les données embarquées : toute la "
        "région Hauts-de-France, toutes les catégories du registre, voiture 20 min "
        "et marche 30 min. Écrit la carte et les tableaux dans --sortie.",
        epilog="exemple :\n  zonesblanches demo --sortie resultats",
    )
    _add_common(demo)
    _add_market(
        demo,
        "temps de chaque commune jusqu'à l'école de conduite et au garage ordinaires les plus "
        "proches, en colonnes de contexte de communes.csv (vue régionale et Valenciennes)",
    )

    analyse = _command(
        sub,
        "analyse",
        help="diagnostic d'un territoire choisi, avec vos propres services",
        description="Calcule, pour chaque commune du territoire, le temps jusqu'au service le "
        "plus proche de chaque catégorie et mode, repère les zones blanches (au-delà "
        "du seuil), et écrit carte et tableaux.",
        epilog=EPILOG_ANALYSE,
    )
    analyse.add_argument(
        "--territoire",
        metavar="TERRITOIRE",
        default="region",
        help="EPCI (nom sans accents accepté, ou SIREN), code de département, "
        "liste de codes INSEE séparés par des virgules, « region » (défaut), « france » "
        "(France métropolitaine), ou plusieurs régions ou départements séparés par des "
        "virgules (« 59,62,80 », « Bretagne, Normandie »)",
    )
    analyse.add_argument(
        "--cluster",
        metavar="tcp://HOTE:8786",
        help="calcul par département sur un ordonnanceur Dask existant (workers avec "
        "zonesblanches installé) ; avec --osm FICHIER, ce sont les workers qui lisent le "
        "fichier, une fois par groupe de départements : il doit être au même chemin sur "
        "chaque worker (disque partagé, volume ou copie), ce poste ne le lit pas (sauf avec "
        "--isochrones : réseau lu ici puis envoyé aux workers) ; voir "
        "docs/dask.md",
    )
    analyse.add_argument(
        "--workers",
        metavar="N",
        type=int,
        help="calcul par département sur N processus de cette machine (cluster Dask local) ; "
        "implicite pour --territoire france (un par cœur) ; avec --osm FICHIER, chaque "
        "worker lit le fichier pour son groupe de départements (sauf avec --isochrones)",
    )
    analyse.add_argument(
        "--cartes-regions",
        action="store_true",
        help="avec plusieurs départements ou --territoire france : écrit aussi une carte par "
        "région (dossier cartes_regions/)",
    )
    _add_services(analyse)
    _add_market(
        analyse,
        "temps de chaque commune jusqu'à l'école de conduite (A304) et au garage (A301) "
        "ordinaires les plus proches, en colonnes de contexte de communes.csv",
    )
    analyse.add_argument(
        "--feuille",
        metavar="FEUILLE",
        help="feuille du classeur XLSX de --services à lire (nom, ou numéro à partir de 1) ; "
        "défaut : la première",
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
        "(répétable) : marche, velo, voiture, transport (transports en commun, avec --gtfs) ; "
        "ex. --mode voiture:20 --mode transport:45",
    )
    analyse.add_argument(
        "--seuil",
        metavar="MIN",
        type=float,
        help="seuil en minutes pour les modes donnés sans seuil",
    )
    _add_common(analyse)
    _add_transit(analyse)

    suggest = _command(
        sub,
        "suggerer",
        help="où implanter de nouveaux services pour couvrir le plus d'habitants",
        description="Choisit k nouveaux sites pour une catégorie (les services existants sont "
        "gardés) afin de maximiser la population nouvellement à moins du seuil : sélection "
        "gloutonne (garantie imprimée) et, si l'instance est assez petite, solution exacte "
        "(programme linéaire en nombres entiers, CBC) avec l'écart de la sélection gloutonne.",
        epilog=EPILOG_SUGGERER,
    )
    _add_territory(suggest, "comme pour « analyse » (défaut : region)")
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
    _add_planning(
        suggest,
        "temps de chaque site proposé jusqu'à l'école de conduite et au garage ordinaires les "
        "plus proches, en colonnes de contexte de sites_suggeres.csv (un partenaire possible, "
        "pas un service : ni le choix des sites ni la population gagnée n'en tiennent compte)",
    )

    scen = _command(
        sub,
        "scenario",
        help="avant / après : ajouter, retirer ou déplacer des services",
        description="Compare la couverture avant et après des changements de services : qui "
        "gagne l'accès, qui le perd (un déplacement peut faire les deux), par commune, EPCI et "
        "QPV.",
        epilog=EPILOG_SCENARIO,
    )
    _add_territory(scen, "comme pour « analyse » (défaut : region)")
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
    _add_planning(
        scen,
        "temps de chaque unité jusqu'à l'école de conduite et au garage ordinaires les plus "
        "proches (mode de la ligne), en colonnes de contexte de scenario_unites.csv : qui perd "
        "l'accès a-t-il une offre ordinaire proche ? (identiques avant et après)",
    )

    inv = _command(
        sub,
        "services",
        help="écrit l'inventaire des services d'un territoire (fichier de travail à compléter)",
        description="Écrit les services qu'une analyse du territoire utiliserait (territoire et "
        "marge), un par ligne, avec catégorie, règle, précision, source, date, et une colonne "
        "« statut » vide à remplir (actif, fermé, à vérifier). Redonné avec --services, il donne "
        "exactement les mêmes services, sans les lignes « fermé ».",
        epilog="exemples :\n  zonesblanches services --territoire 60 --services data-inclusion "
        "--sortie inventaire.xlsx\n  zonesblanches analyse --territoire 60 --services "
        "inventaire.xlsx",
    )
    _add_territory(inv, "comme pour « analyse »")
    _add_services(inv)
    inv.add_argument(
        "--mode",
        metavar="MODE[:MIN]",
        action="append",
        help="modes et seuils de l'analyse prévue, qui donnent la marge (défaut : voiture 20 "
        "min, marche 30 min)",
    )
    inv.add_argument("--seuil", metavar="MIN", type=float, help="comme pour « analyse »")
    inv.add_argument("--marge", metavar="KM", type=float, help="comme pour « analyse »")
    inv.add_argument(
        "--sortie",
        metavar="FICHIER",
        type=Path,
        required=True,
        help="inventaire à écrire : .xlsx, .csv ou .gpkg (jamais par-dessus un fichier existant)",
    )
    _command(
        sub,
        "categories",
        help="affiche la table thématiques data·inclusion → catégories",
        description="Affiche la règle qui place chaque service data·inclusion de mobilité "
        "dans une catégorie du projet (docs/categories.md).",
    )
    _command(
        sub,
        "sources",
        help="affiche la provenance des données embarquées",
        description="Affiche la source, la licence, la date et les traitements de chaque jeu "
        "de données embarqué.",
        epilog="exemple :\n  zonesblanches sources",
    )
    return parser


EPILOG_SUGGERER = """\
exemples :
  zonesblanches suggerer --territoire 62 --categorie garage_solidaire --mode voiture --seuil 20 --nombre 3
  zonesblanches suggerer --territoire "valenciennes metropole" --categorie atelier_velo --mode marche --nombre 2
  zonesblanches suggerer --territoire 59 --categorie auto_ecole_sociale --candidats commune,fichier --locaux locaux.csv

fichiers écrits dans --sortie : carte_sites.html (sites proposés et communes gagnées),
sites_suggeres.csv (sites classés : population gagnée, couverture cumulée),
sites_suggeres.gpkg (sites et unités nouvellement couvertes, pour QGIS),
courbe_gain.csv et courbe_gain.png (habitants gagnés par le 1er, 2e… 10e site de la
sélection gloutonne : où la courbe s'aplatit, un site de plus vaut moins),
services_hors_territoire.csv (services utilisés hors du territoire, dans la marge : commune,
département, distance au territoire, source ; vide s'il n'y en a pas).
"""

EPILOG_SCENARIO = """\
exemples :
  zonesblanches scenario --deplacer HDF-002:62895          (Lens → Wingles, 2025)
  zonesblanches scenario --territoire 62 --ajouter garage_solidaire:62119 --retirer HDF-013
  zonesblanches scenario --deplacer HDF-002:2.86,50.49 --mode voiture:15

fichiers écrits dans --sortie : carte_scenario.html (qui gagne, qui perd l'accès),
scenario_communes.csv, scenario_epci.csv, scenario_qpv.csv
(avec --qpv et --carreaux), scenario_unites.csv (chaque unité : temps avant / après, gagne /
perd), scenario.gpkg (couche des évolutions pour QGIS), services_hors_territoire.csv
(services utilisés hors du territoire après le changement, dans la marge ; vide s'il n'y en
a pas).
"""
