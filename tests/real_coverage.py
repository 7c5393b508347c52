"""Real coverages the speed tests of issue 17 compare the former and the new code on: the
bundled communes and registry, straight-line times (nothing synthetic)."""

from __future__ import annotations

from zonesblanches.coverage.analysis import commune_demand, compute_coverage
from zonesblanches.geodata import reference


def coverage_of(column: str, value: str, territory: str, categories=None):
    """The coverage of the communes whose ``column`` is ``value`` by the registry's services,
    walking 30 min and car 20 min; returns ``(result, communes)``."""
    communes = reference.load_communes()
    communes = communes[communes[column] == value].reset_index(drop=True)
    result = compute_coverage(
        commune_demand(communes),
        reference.load_registry(),
        {"marche": 30, "voiture": 20},
        categories=categories,
        territory=territory,
    )
    return result, communes


def nord():
    """The Nord's 648 communes, garages solidaires and ateliers vélo."""
    return coverage_of("code_departement", "59", "Nord", ["garage_solidaire", "atelier_velo"])
