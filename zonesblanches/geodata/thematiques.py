"""data·inclusion mobility thématiques → the project's six categories, one documented rule table.

data·inclusion describes a service by ``thematiques`` (a list), a ``type`` and its ``source``; the
project places every service in exactly one of :data:`~zonesblanches.geodata.categories.CATEGORIES`.
Two thématiques are ambiguous (see ``docs/categories.md``):

* ``mobilite--acceder-a-un-vehicule`` covers rental and loan of vehicles, but also the garages of
  France Travail's « Mes aides » list that sell cars (source ``mes-aides``, type
  ``aide-materielle``);
* ``mobilite--mobilite-douce-partagee-collective`` mixes bike workshops and transport services,
  and the producer's pipeline tags with it every service whose name contains « vélo ».

The rules of :data:`RULES` are tried in order; the first that matches places the service, and
its code is written in the service's ``regle_categorie`` column. A mobility service no rule
places (a financial aid, a transport service with no clue in its name) is not a point of any
category: it is counted (« sans catégorie ») and listed with its reason, never dropped silently.

Older files carry the v0 codes (dropped from the API in 2026): :data:`V0_TO_V1` maps them first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from zonesblanches._text import normalize
from zonesblanches.geodata.categories import CATEGORIES

PREFIX = "mobilite--"

ACCEDER = "mobilite--acceder-a-un-vehicule"
REPARER = "mobilite--entretenir-reparer-son-vehicule"
ACCOMPAGNE = "mobilite--etre-accompagne-dans-son-parcours-mobilite"
FINANCER = "mobilite--financer-ma-mobilite"
DOUCE = "mobilite--mobilite-douce-partagee-collective"
PERMIS = "mobilite--preparer-un-permis"

V1_THEMATIQUES = {
    ACCEDER: "Accéder à un véhicule",
    REPARER: "Entretenir et réparer son véhicule",
    ACCOMPAGNE: "Être accompagné dans son parcours mobilité",
    FINANCER: "Financer ma mobilité",
    DOUCE: "Utiliser des services de mobilité douce, partagée ou collective",
    PERMIS: "Préparer un permis",
}
"""The six v1 mobility thématiques (gip-inclusion/data-inclusion, seeds/schema/v1, MIT)."""

V0_TO_V1 = {
    "mobilite--louer-un-vehicule": ACCEDER,
    "mobilite--acheter-un-vehicule-motorise": ACCEDER,
    "mobilite--acheter-un-velo": DOUCE,
    "mobilite--apprendre-a-utiliser-un-deux-roues": DOUCE,
    "mobilite--se-deplacer-sans-permis-et-ou-sans-vehicule-personnel": DOUCE,
    "mobilite--comprendre-et-utiliser-les-transports-en-commun": ACCOMPAGNE,
    "mobilite--financer-mon-projet-mobilite": FINANCER,
    "mobilite--aides-a-la-reprise-demploi-ou-a-la-formation": FINANCER,
    "mobilite--preparer-son-permis-de-conduire-se-reentrainer-a-la-conduite": PERMIS,
    "mobilite--preparer-un-permis-de-conduire": PERMIS,
}
"""v0 mobility codes (data·inclusion schema before 2026) → the v1 code read in their place.

The v0 list is the schema's enumeration (``mobilite--louer-un-vehicule`` « Louer un véhicule
(voiture, vélo, scooter..) », etc.); the correspondence is this project's reading of the labels:
learning to ride a two-wheeler and getting about without a licence or a vehicle are soft or
shared mobility; help with public transport is mobility support; help to resume work is a
financial aid."""

_VELO = re.compile(r"\b(velo|velos|bicyclette|cycl\w*|biclou)\b")
_ATELIER = re.compile(
    r"\b(atelier|ateliers|repar\w*|autorepar\w*|auto repar\w*|recyclerie|ecole|remise en selle)\b"
)
_LOCATION = re.compile(r"\b(location|louer|pret|prets|preter|mise a disposition)\b")
_TRANSPORT = re.compile(
    r"\b(transport|transports|chauffeur|chauffeurs|navette|covoiturage|a la demande|tad|"
    r"accompagnement vehicule|conduite accompagnee solidaire)\b"
)
_GARAGE = re.compile(r"\bgarages?\b")
_AUTO_ECOLE = re.compile(r"\b(auto ecoles?|ecoles? de conduite)\b")
_PLATEFORME = re.compile(r"\b(plateformes? (de )?mobilite|conseil\w* en mobilite)\b")


@dataclass(frozen=True)
class Service:
    """What the rules look at: v1 thématiques (mobility only), ``type``, name and source."""

    thematiques: frozenset[str]
    type: str
    nom: str
    """Normalised name (lower case, no accents, see :func:`zonesblanches._text.normalize`)."""
    source: str


@dataclass(frozen=True)
class Rule:
    """One line of the mapping table."""

    code: str
    """Written in ``regle_categorie``."""
    categorie: str | None
    """Category placed, or ``None`` (service counted « sans catégorie »)."""
    condition: str
    """French description, as printed by ``zonesblanches categories`` and in the docs."""
    test: Callable[[Service], bool]


def _has(*codes: str) -> Callable[[Service], bool]:
    return lambda s: any(c in s.thematiques for c in codes)


RULES: tuple[Rule, ...] = (
    Rule(
        "mes-aides-garage",
        "garage_solidaire",
        "source « mes-aides » (liste France Travail des garages solidaires), type "
        "aide-materielle, thématique « accéder à un véhicule » ou « entretenir et réparer »",
        lambda s: (
            s.source == "mes-aides"
            and s.type == "aide-materielle"
            and bool(s.thematiques & {ACCEDER, REPARER})
        ),
    ),
    Rule(
        "nom-garage",
        "garage_solidaire",
        "nom contenant « garage », thématique « accéder à un véhicule » ou « entretenir et "
        "réparer »",
        lambda s: bool(_GARAGE.search(s.nom)) and bool(s.thematiques & {ACCEDER, REPARER}),
    ),
    Rule(
        "nom-auto-ecole",
        "auto_ecole_sociale",
        "nom contenant « auto-école » ou « école de conduite »",
        lambda s: bool(_AUTO_ECOLE.search(s.nom)),
    ),
    Rule(
        "nom-plateforme",
        "plateforme_mobilite",
        "nom contenant « plateforme (de) mobilité » ou « conseil en mobilité »",
        lambda s: bool(_PLATEFORME.search(s.nom)),
    ),
    Rule(
        "reparer-velo",
        "atelier_velo",
        "« entretenir et réparer son véhicule », nom contenant « vélo » (ou cycle, bicyclette)",
        lambda s: REPARER in s.thematiques and bool(_VELO.search(s.nom)),
    ),
    Rule(
        "reparer",
        "garage_solidaire",
        "« entretenir et réparer son véhicule » (autres cas)",
        _has(REPARER),
    ),
    Rule("permis", "auto_ecole_sociale", "« préparer un permis »", _has(PERMIS)),
    Rule(
        "vehicule-atelier-velo",
        "atelier_velo",
        "« accéder à un véhicule », nom contenant « vélo » et « atelier » (ou réparation, école)",
        lambda s: (
            ACCEDER in s.thematiques and bool(_VELO.search(s.nom)) and bool(_ATELIER.search(s.nom))
        ),
    ),
    Rule(
        "vehicule",
        "location_solidaire",
        "« accéder à un véhicule » (location, prêt ; autres cas)",
        _has(ACCEDER),
    ),
    Rule(
        "douce-atelier-velo",
        "atelier_velo",
        "« mobilité douce, partagée ou collective », nom contenant « vélo » et « atelier » (ou "
        "réparation, école, remise en selle), ou type « atelier » et nom contenant « vélo »",
        lambda s: (
            DOUCE in s.thematiques
            and bool(_VELO.search(s.nom))
            and (bool(_ATELIER.search(s.nom)) or s.type == "atelier")
        ),
    ),
    Rule(
        "douce-location-velo",
        "location_solidaire",
        "« mobilité douce, partagée ou collective », nom contenant « vélo » et « location » "
        "(ou prêt)",
        lambda s: (
            DOUCE in s.thematiques and bool(_VELO.search(s.nom)) and bool(_LOCATION.search(s.nom))
        ),
    ),
    Rule(
        "douce-transport",
        "transport_solidaire",
        "« mobilité douce, partagée ou collective », nom contenant « transport », « chauffeur », "
        "« navette », « covoiturage » ou « à la demande »",
        lambda s: DOUCE in s.thematiques and bool(_TRANSPORT.search(s.nom)),
    ),
    Rule(
        "douce-velo",
        "atelier_velo",
        "« mobilité douce, partagée ou collective », nom contenant « vélo » (autres cas : "
        "vélo-école, remise en selle, atelier)",
        lambda s: DOUCE in s.thematiques and bool(_VELO.search(s.nom)),
    ),
    Rule(
        "accompagnement",
        "plateforme_mobilite",
        "« être accompagné dans son parcours mobilité »",
        _has(ACCOMPAGNE),
    ),
    Rule(
        "douce-sans-indice",
        None,
        "« mobilité douce, partagée ou collective » seule, sans indice dans le nom : service "
        "non classé (information transports, autopartage…)",
        _has(DOUCE),
    ),
    Rule(
        "financer",
        None,
        "« financer ma mobilité » seule : une aide financière, pas un lieu où se rendre",
        _has(FINANCER),
    ),
)
"""The mapping table, in the order the rules are tried."""

UNKNOWN_RULE = "mobilite-inconnue"
"""Rule code for a ``mobilite--`` code neither v1 nor v0 (counted « sans catégorie »)."""


def mobility_codes(thematiques: Iterable[str]) -> tuple[frozenset[str], list[str], list[str]]:
    """Split a service's thématiques into v1 mobility codes, v0 codes read and unknown codes.

    Returns
    -------
    (set of v1 codes, v0 codes met, unknown ``mobilite--`` codes)
    """
    v1: set[str] = set()
    v0: list[str] = []
    unknown: list[str] = []
    for code in thematiques:
        code = str(code).strip()
        if not code.startswith(PREFIX):
            continue
        if code in V1_THEMATIQUES:
            v1.add(code)
        elif code in V0_TO_V1:
            v1.add(V0_TO_V1[code])
            v0.append(code)
        else:
            unknown.append(code)
    return frozenset(v1), v0, unknown


def is_mobility(thematiques: Iterable[str]) -> bool:
    """True when one of the thématiques is a mobility one (``mobilite--…``, v1, v0 or other)."""
    return any(str(c).strip().startswith(PREFIX) for c in thematiques)


def categorize(
    thematiques: Iterable[str], type_: str, nom: str, source: str
) -> tuple[str | None, str]:
    """Category and rule code of one service.

    Parameters
    ----------
    thematiques : iterable of str
        The service's ``thematiques`` (any; non-mobility codes are ignored; v0 codes mapped).
    type_, nom, source : str
        The service's ``type``, ``nom`` and ``source`` columns.

    Returns
    -------
    (str or None, str)
        The category code (``None`` when no rule places it) and the rule's code.

    >>> categorize(["mobilite--mobilite-douce-partagee-collective"], "atelier",
    ...            "Atelier vélo participatif", "dora")
    ('atelier_velo', 'douce-atelier-velo')
    >>> categorize(["mobilite--louer-un-vehicule"], "aide-materielle", "Prêt de scooters", "x")
    ('location_solidaire', 'vehicule')
    """
    v1, _, unknown = mobility_codes(thematiques)
    service = Service(v1, str(type_ or "").strip(), normalize(nom), str(source or "").strip())
    for rule in RULES:
        if rule.test(service):
            return rule.categorie, rule.code
    return None, UNKNOWN_RULE if unknown else "aucune-regle"


def format_table() -> str:
    """The mapping table as French text (printed by ``zonesblanches categories``)."""
    lines = [
        "Correspondance des thématiques data·inclusion (mobilité) et des catégories",
        "",
        "Règles essayées dans l'ordre ; la première qui s'applique place le service",
        "(son code est écrit dans la colonne regle_categorie).",
        "",
    ]
    for i, rule in enumerate(RULES, 1):
        target = CATEGORIES[rule.categorie].label if rule.categorie else "— sans catégorie (compté)"
        lines.append(f"{i:2d}. {rule.code} → {target}")
        lines.append(f"    {rule.condition}")
    lines += ["", "Codes v0 (fichiers anciens) lus comme leur équivalent v1 :"]
    for old, new in V0_TO_V1.items():
        lines.append(f"    {old} → {new}")
    lines += [
        "",
        "Services dont modes_accueil ne contient que « a-distance » : comptés, non cartographiés.",
    ]
    return "\n".join(lines) + "\n"
