"""Choosing the territory of an analysis: the region, a département, an EPCI or communes.

>>> from zonesblanches.geodata.territory import select_territory
>>> t = select_territory("valenciennes metropole")   # doctest: +SKIP
>>> t.label, len(t.communes)                           # doctest: +SKIP
('CA Valenciennes Métropole', 35)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import shapely

from zonesblanches._text import closest, normalize
from zonesblanches.crs import WGS84
from zonesblanches.errors import ParameterError, TerritoryError
from zonesblanches.geodata import reference
from zonesblanches.geodata.communes import current_code, normalize_insee

_REGION_KEYS = {"region", "hauts de france", "hdf", "32", "tout", "toute la region"}
_EPCI_PREFIXES = (
    "ca ",
    "cc ",
    "cu ",
    "communaute d agglomeration ",
    "communaute de communes ",
    "communaute urbaine ",
    "metropole ",
)


@dataclass
class Territory:
    """A set of communes analysed together.

    Attributes
    ----------
    label : str
        French name shown in outputs (« CA Valenciennes Métropole », « Nord (59) »…).
    kind : str
        ``region``, ``departement``, ``epci`` or ``communes``.
    code : str
        Region code, département code, EPCI SIREN, or ``;``-joined commune codes.
    communes : geopandas.GeoDataFrame
        The communes (polygons, EPSG:4326), as :func:`reference.load_communes` returns them.
    """

    label: str
    kind: str
    code: str
    communes: gpd.GeoDataFrame

    @property
    def geometry(self) -> shapely.Geometry:
        """Union of the communes (EPSG:4326)."""
        return shapely.union_all(self.communes.geometry.values)

    @property
    def population(self) -> int:
        """Population municipale of the territory."""
        return int(self.communes["population"].sum())

    @property
    def epci_codes(self) -> list[str]:
        """SIREN of the EPCI the territory's communes belong to."""
        return sorted(set(self.communes["code_epci"]) - {""})

    def __repr__(self) -> str:
        population = f"{self.population:,}".replace(",", " ")
        return f"Territory({self.label!r}, {len(self.communes)} communes, {population} habitants)"


def _strip_prefix(key: str) -> str:
    """Drop the EPCI type and the article: « cu d arras » → « arras »."""
    for prefix in _EPCI_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    for article in ("de la ", "de l ", "des ", "du ", "de ", "d "):
        if key.startswith(article):
            return key[len(article) :]
    return key


def select_territory(
    spec: str | Iterable[str] | None = None,
    *,
    communes: gpd.GeoDataFrame | None = None,
) -> Territory:
    """Resolve a territory from what a planner would type.

    Parameters
    ----------
    spec : str or iterable of str, optional
        ``None``, ``"region"`` or ``"Hauts-de-France"``: the whole region. A département code
        (``"59"``) or name (``"Nord"``). An EPCI SIREN (``"245901160"``) or name, accent- and
        case-insensitive, with or without its type (``"valenciennes metropole"``, ``"CA du
        Valenciennois"``). A list of commune codes, or one string of codes separated by commas
        or spaces (``"59606,59014"``).
    communes : geopandas.GeoDataFrame, optional
        Communes to select from (defaults to the bundled ones).

    Raises
    ------
    TerritoryError
        Unknown name or code, with the closest matches suggested (in French).
    """
    all_communes = reference.load_communes() if communes is None else communes
    if spec is None:
        return Territory(reference.REGION_NAME, "region", "32", all_communes)
    if not isinstance(spec, str):
        return _by_commune_codes([str(s) for s in spec], all_communes)

    text = spec.strip()
    key = normalize(text)
    if key in _REGION_KEYS:
        return Territory(reference.REGION_NAME, "region", "32", all_communes)

    tokens = [t for t in text.replace(",", " ").replace(";", " ").split() if t]
    if len(tokens) > 1 and all(_looks_like_commune_code(t) for t in tokens):
        return _by_commune_codes(tokens, all_communes)

    deps = reference.load_departements()
    if text.upper() in set(deps["code_departement"]):
        code = text.upper()
        name = deps.loc[deps["code_departement"] == code, "nom"].iloc[0]
        return Territory(
            f"{name} ({code})",
            "departement",
            code,
            _subset(all_communes, all_communes["code_departement"] == code),
        )
    dep_names = {
        normalize(n): c for c, n in zip(deps["code_departement"], deps["nom"], strict=True)
    }
    if key in dep_names:
        code = dep_names[key]
        return select_territory(code, communes=all_communes)

    epci = reference.load_epci()
    if text.isdigit() and len(text) == 9:
        if text in set(epci["code_epci"]):
            return _by_epci(text, epci, all_communes)
        raise TerritoryError(f"Aucun EPCI de la région n'a le SIREN {text}.")
    names = {normalize(n): c for c, n in zip(epci["code_epci"], epci["nom_epci"], strict=True)}
    if key in names:
        return _by_epci(names[key], epci, all_communes)
    short = {}
    for norm_name, code in names.items():
        short.setdefault(_strip_prefix(norm_name), []).append(code)
    if _strip_prefix(key) in short and len(short[_strip_prefix(key)]) == 1:
        return _by_epci(short[_strip_prefix(key)][0], epci, all_communes)

    # Every typed word found in exactly one EPCI name (« valenciennes » → CA Valenciennes
    # Métropole): unambiguous, so take it.
    words = key.split()
    containing = [
        code
        for norm_name, code in names.items()
        if words and all(w in norm_name.split() for w in words)
    ]
    if len(containing) == 1:
        return _by_epci(containing[0], epci, all_communes)

    if _looks_like_commune_code(text):
        return _by_commune_codes([text], all_communes)

    display = {normalize(n): n for n in epci["nom_epci"]}
    display.update({_strip_prefix(k): v for k, v in list(display.items())})
    display.update(
        {
            normalize(n): f"{n} ({c})"
            for c, n in zip(deps["code_departement"], deps["nom"], strict=True)
        }
    )
    hints = closest(text, display)
    message = f"Territoire inconnu : « {spec} »."
    if hints:
        message += " Vouliez-vous dire : " + " ; ".join(dict.fromkeys(hints)) + " ?"
    message += (
        " Indiquez un SIREN d'EPCI, un nom d'EPCI, un code de département, "
        "une liste de codes INSEE, ou « region »."
    )
    raise TerritoryError(message)


def _looks_like_commune_code(token: str) -> bool:
    t = token.upper()
    return len(t) == 5 and (t.isdigit() or (t[:2] in ("2A", "2B") and t[2:].isdigit()))


def _subset(communes: gpd.GeoDataFrame, mask) -> gpd.GeoDataFrame:
    return communes.loc[mask].reset_index(drop=True)


def _by_epci(code: str, epci: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> Territory:
    name = epci.loc[epci["code_epci"] == code, "nom_epci"].iloc[0]
    return Territory(name, "epci", code, _subset(communes, communes["code_epci"] == code))


def _by_commune_codes(codes: list[str], communes: gpd.GeoDataFrame) -> Territory:
    known = set(communes["code_insee"])
    resolved = []
    for c in (c for c in codes if c.strip()):
        code = current_code(c, known)
        if code is None:
            raise TerritoryError(
                f"Code commune inconnu dans la région : « {normalize_insee(c)} » (code INSEE à 5 "
                "caractères, géographie 2026)."
            )
        resolved.append(code)
    resolved = list(dict.fromkeys(resolved))
    selected = _subset(communes, communes["code_insee"].isin(resolved))
    label = selected["nom"].iloc[0] if len(resolved) == 1 else f"{len(resolved)} communes"
    return Territory(label, "communes", ";".join(sorted(resolved)), selected)


def check_communes(communes: gpd.GeoDataFrame, *, allow_empty: bool = True) -> gpd.GeoDataFrame:
    """Check that ``communes`` is a commune table the loaders can use, or raise in French.

    It must be a GeoDataFrame with a ``code_insee`` column and a CRS (and, unless
    ``allow_empty``, at least one row). Returns it unchanged.
    """
    if not isinstance(communes, gpd.GeoDataFrame):
        raise ParameterError(
            "La table des communes doit être un GeoDataFrame (code_insee, nom, code_epci, "
            "géométrie)."
        )
    if "code_insee" not in communes.columns:
        raise ParameterError("La table des communes doit avoir une colonne « code_insee ».")
    if communes.crs is None:
        raise ParameterError("La table des communes n'a pas de système de coordonnées (CRS).")
    if not allow_empty and len(communes) == 0:
        raise ParameterError("Le territoire ne contient aucune commune.")
    return communes


def mask_geometry(mask: object, crs: str = WGS84) -> shapely.Geometry:
    """One valid shapely geometry in ``crs`` from a territory given as a shapely geometry
    (WGS84), a GeoSeries or a GeoDataFrame (any CRS); French error otherwise or if empty."""
    if isinstance(mask, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if mask.crs is None:
            raise ParameterError("Le masque (territoire) n'a pas de système de coordonnées.")
        geom = shapely.union_all(mask.to_crs(crs).geometry.values)
    elif isinstance(mask, shapely.Geometry):
        geom = mask
        if crs != WGS84:
            geom = gpd.GeoSeries([mask], crs=WGS84).to_crs(crs).iloc[0]
    else:
        raise ParameterError(
            "Le masque doit être une géométrie shapely (en WGS84), une GeoSeries ou un "
            f"GeoDataFrame, pas {type(mask).__name__}."
        )
    if geom is None or geom.is_empty:
        raise ParameterError("Le masque (territoire) est vide.")
    return shapely.make_valid(geom)
