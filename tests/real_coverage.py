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


def point_units(communes):
    """Point units (as grid cells are) at ``communes``' real points, every one placed in one
    commune (59606, as grid cells often are), by car 20 min; returns the coverage."""
    demand = commune_demand(communes)
    demand["unit_id"] = [f"u{i}" for i in range(len(demand))]
    demand["code_insee"] = "59606"
    return compute_coverage(
        demand, reference.load_registry(), {"voiture": 20}, unit_kind="carreau", territory="VM"
    )
