"""Exceptions raised by zonesblanches.

Messages are in French: they reach the planner who runs the tool.
"""


class ZonesBlanchesError(Exception):
    """Base class for every error the toolkit raises on purpose (message in French)."""


class DataError(ZonesBlanchesError):
    """Input data cannot be used (corrupt file, nothing usable left, wrong format)."""


class TerritoryError(ZonesBlanchesError):
    """A territory could not be resolved (unknown name or code)."""


class ParameterError(ZonesBlanchesError, ValueError):
    """A parameter is invalid (unknown mode, negative threshold, unknown category)."""


class NetworkUnavailableError(ZonesBlanchesError):
    """A download was needed but the network (or the remote service) is unreachable."""


def unknown_values(what: str, given, among: str, choices) -> ParameterError:
    """The French error for values outside a closed list, e.g. ``unknown_values("Catégorie
    inconnue", ["pizzeria"], "Catégories possibles", CATEGORIES)`` → « Catégorie inconnue :
    pizzeria. Catégories possibles : garage_solidaire, … »."""
    return ParameterError(f"{what} : {', '.join(given)}. {among} : " + ", ".join(choices) + ".")
