"""The service taxonomy: category codes, French labels and how user labels map onto them.

The six codes are those of the bundled registry (``services_mobilite_hdf.csv``); each is tied to
the national data·inclusion thématique it belongs to (gip-inclusion/data-inclusion, MIT).
"""

from __future__ import annotations

from dataclasses import dataclass

from zonesblanches._text import normalize


@dataclass(frozen=True)
class Category:
    """One kind of mobility-inclusion service."""

    code: str
    label: str
    """French label, singular, for legends and tables."""
    thematique: str
    """data·inclusion thématique the category belongs to."""
    synonyms: tuple[str, ...] = ()
    """Other ways users write it (matched accent- and case-insensitively)."""


CATEGORIES: dict[str, Category] = {
    c.code: c
    for c in (
        Category(
            "garage_solidaire",
            "Garage solidaire",
            "mobilite--entretenir-reparer-son-vehicule",
            (
                "garage",
                "garage social",
                "garage associatif",
                "garages solidaires",
                "garage d insertion",
                "reparation automobile solidaire",
            ),
        ),
        Category(
            "location_solidaire",
            "Location solidaire de véhicules",
            "mobilite--acceder-a-un-vehicule",
            (
                "location",
                "location de vehicules",
                "location solidaire de vehicules",
                "pret de vehicule",
                "pret de vehicules",
                "pret solidaire",
                "location sociale",
            ),
        ),
        Category(
            "auto_ecole_sociale",
            "Auto-école sociale",
            "mobilite--preparer-un-permis",
            (
                "auto ecole",
                "auto ecole associative",
                "auto ecole solidaire",
                "auto ecoles sociales",
                "ecole de conduite sociale",
                "permis de conduire",
            ),
        ),
        Category(
            "atelier_velo",
            "Atelier vélo",
            "mobilite--mobilite-douce-partagee-collective",
            (
                "atelier velo solidaire",
                "atelier velo participatif",
                "atelier d autoreparation",
                "velo ecole",
                "ateliers velo",
                "reparation velo",
                "maison du velo",
            ),
        ),
        Category(
            "plateforme_mobilite",
            "Plateforme de mobilité",
            "mobilite--etre-accompagne-dans-son-parcours-mobilite",
            (
                "plateforme mobilite",
                "plateformes de mobilite",
                "conseil en mobilite",
                "conseiller mobilite",
                "conseil en mobilite inclusive",
                "accompagnement mobilite",
            ),
        ),
        Category(
            "transport_solidaire",
            "Transport solidaire",
            "mobilite--mobilite-douce-partagee-collective",
            (
                "transport d utilite sociale",
                "tad solidaire",
                "transport a la demande solidaire",
                "transports solidaires",
                "chauffeur solidaire",
            ),
        ),
    )
}


def _build_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    thematiques: dict[str, list[str]] = {}
    for cat in CATEGORIES.values():
        for name in (cat.code, cat.label, *cat.synonyms):
            lookup[normalize(name)] = cat.code
        thematiques.setdefault(cat.thematique, []).append(cat.code)
    # A thématique shared by two categories is ambiguous and is not a valid label on its own.
    for them, codes in thematiques.items():
        if len(codes) == 1:
            lookup[normalize(them)] = codes[0]
    return lookup


_LOOKUP = _build_lookup()


def category_code(label: object) -> str | None:
    """Map a user's category label onto a category code, or ``None`` if it is unknown.

    >>> category_code("Auto-École associative")
    'auto_ecole_sociale'
    >>> category_code("pizzeria") is None
    True
    """
    return _LOOKUP.get(normalize(label))


def category_label(code: str) -> str:
    """French label of a category code (the code itself if unknown)."""
    cat = CATEGORIES.get(code)
    return cat.label if cat else code
