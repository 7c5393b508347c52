"""Choosing the territory of an analysis anywhere in metropolitan France: a region, a
département, an EPCI or communes.

>>> from zonesblanches.geodata.territory import select_territory
>>> t = select_territory("valenciennes metropole")   # doctest: +SKIP
>>> t.label, len(t.communes)                           # doctest: +SKIP
('CA Valenciennes Métropole', 35)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import geopandas as gpd
import shapely

from zonesblanches._text import closest, normalize
from zonesblanches.crs import WGS84
from zonesblanches.errors import ParameterError, TerritoryError
from zonesblanches.geodata import reference
from zonesblanches.geodata.communes import current_code, normalize_insee

_REGION_KEYS = {"region", "hdf", "tout", "toute la region"}
_REGION_PREFIXES = ("region ", "reg ", "r")
# Overseas départements and regions: real, but their reference data is not bundled.
_OVERSEAS = {
    "971": "Guadeloupe",
    "972": "Martinique",
    "973": "Guyane",
    "974": "La Réunion",
    "976": "Mayotte",
}
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
    def region(self) -> str | None:
        """INSEE code of the region holding every commune, or ``None`` if they span several
        (or carry no region): the scope of :func:`reference.load_epci` for maps."""
        if "code_region" not in self.communes:
            return reference.DEFAULT_REGION if self.kind == "region" else None
        codes = set(self.communes["code_region"])
        return codes.pop() if len(codes) == 1 else None

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
    """Resolve a territory of metropolitan France from what a planner would type.

    Parameters
    ----------
    spec : str or iterable of str, optional
        ``None`` or ``"region"``: the default region (Hauts-de-France). A region name
        (``"Occitanie"``) or code with its prefix (``"region 84"``). A département code (``"18"``,
        ``"2A"``) or name (``"Cher"``). An EPCI SIREN (``"245901160"``) or name, accent- and
        case-insensitive, with or without its type (``"valenciennes metropole"``, ``"CA du
        Valenciennois"``). A list of commune codes, or one string of codes separated by commas
        or spaces (``"59606,59014"``); arrondissement codes of Paris, Lyon and Marseille
        (``"75111"``) give their commune.
    communes : geopandas.GeoDataFrame, optional
        Communes to select from (defaults to the bundled communes of metropolitan France; then
        ``None`` and ``"region"`` mean all of them).

    Raises
    ------
    TerritoryError
        Unknown name or code, with the closest names nationwide suggested (in French); overseas
        départements, whose data is not bundled.
    """
    given = communes is not None
    all_communes = communes if given else reference.load_communes(None)
    if spec is None:
        return _default_region(all_communes, given)
    if not isinstance(spec, str):
        return _by_commune_codes([str(s) for s in spec], all_communes)

    text = spec.strip()
    key = normalize(text)
    if key in _REGION_KEYS:
        return _default_region(all_communes, given)
    _refuse_overseas(text, key)

    tokens = [t for t in text.replace(",", " ").replace(";", " ").split() if t]
    if len(tokens) > 1 and all(_looks_like_commune_code(t) for t in tokens):
        return _by_commune_codes(tokens, all_communes)

    names = _names()
    code = text.upper()
    if code in names.departements:
        return _by_departement(code, all_communes)
    if key in names.departement_keys:
        return _by_departement(names.departement_keys[key], all_communes)
    region = names.region_keys.get(key) or _region_code(key, names)
    if region:
        return _by_region(region, all_communes)

    if text.isdigit() and len(text) == 9:
        if text in names.epci:
            return _by_epci(text, all_communes)
        raise TerritoryError(f"Aucun EPCI de France métropolitaine n'a le SIREN {text}.")
    if key in names.epci_keys:
        return _by_epci(names.epci_keys[key], all_communes)
    short = names.epci_short.get(_strip_prefix(key), [])
    if len(short) == 1:
        return _by_epci(short[0], all_communes)

    # Every typed word found in exactly one EPCI name (« valenciennes » → CA Valenciennes
    # Métropole): unambiguous, so take it.
    words = key.split()
    containing = [
        code
        for norm_name, code in names.epci_keys.items()
        if words and all(w in norm_name.split() for w in words)
    ]
    if len(containing) == 1:
        return _by_epci(containing[0], all_communes)

    if _looks_like_commune_code(text):
        return _by_commune_codes([text], all_communes)

    hints = closest(text, names.display)
    message = f"Territoire inconnu : « {spec} »."
    if hints:
        message += " Vouliez-vous dire : " + " ; ".join(dict.fromkeys(hints)) + " ?"
    message += (
        " Indiquez un SIREN d'EPCI, un nom d'EPCI, un code ou un nom de département, un nom de "
        "région, une liste de codes INSEE, ou « region » (Hauts-de-France)."
    )
    raise TerritoryError(message)


@dataclass(frozen=True)
class _Names:
    """Normalized names of every EPCI, département and region of metropolitan France."""

    epci: dict[str, str]  # SIREN -> name
    epci_keys: dict[str, str]  # normalized name -> SIREN
    epci_short: dict[str, list[str]]  # name without type and article -> SIREN
    departements: dict[str, str]  # code -> name
    departement_keys: dict[str, str]
    regions: dict[str, str]
    region_keys: dict[str, str]
    display: dict[str, str]  # normalized key -> name shown in suggestions


@cache
def _names() -> _Names:
    epci = reference.load_epci_names()
    deps = reference.load_departements(None)
    regions = reference.load_regions()
    epci_names = dict(zip(epci["code_epci"], epci["nom_epci"], strict=True))
    epci_keys = {normalize(n): c for c, n in epci_names.items()}
    short: dict[str, list[str]] = {}
    for norm_name, code in epci_keys.items():
        short.setdefault(_strip_prefix(norm_name), []).append(code)
    dep_names = dict(zip(deps["code_departement"], deps["nom"], strict=True))
    region_names = dict(zip(regions["code_region"], regions["nom"], strict=True))
    display = {normalize(n): n for n in epci_names.values()}
    display.update({_strip_prefix(k): v for k, v in list(display.items())})
    display.update({normalize(n): f"{n} ({c})" for c, n in dep_names.items()})
    display.update({normalize(n): f"{n} (région {c})" for c, n in region_names.items()})
    return _Names(
        epci=epci_names,
        epci_keys=epci_keys,
        epci_short=short,
        departements=dep_names,
        departement_keys={normalize(n): c for c, n in dep_names.items()},
        regions=region_names,
        region_keys={normalize(n): c for c, n in region_names.items()},
        display=display,
    )


def _region_code(key: str, names: _Names) -> str | None:
    """« region 84 », « reg 84 », « r84 » → ``"84"`` when it is a region code."""
    for prefix in _REGION_PREFIXES:
        if key.startswith(prefix):
            rest = key[len(prefix) :].strip()
            if rest in names.regions:
                return rest
            if rest in names.region_keys:
                return names.region_keys[rest]
    return None


def _refuse_overseas(text: str, key: str) -> None:
    codes = [t.upper() for t in text.replace(",", " ").replace(";", " ").split()]
    for code, name in _OVERSEAS.items():
        if (
            key == normalize(name)
            or code in codes
            or any(c.startswith(code) and len(c) == 5 for c in codes)
        ):
            raise TerritoryError(
                f"Les départements d'outre-mer ne sont pas embarqués (ici : {name}, {code}) : "
                "les données de référence couvrent la France métropolitaine, Corse comprise. "
                "Pour un territoire d'outre-mer, fournissez vos communes (argument communes de "
                "select_territory)."
            )


def _default_region(communes: gpd.GeoDataFrame, given: bool) -> Territory:
    if given:
        return Territory(reference.REGION_NAME, "region", reference.DEFAULT_REGION, communes)
    return _by_region(reference.DEFAULT_REGION, communes)


def _by_region(code: str, communes: gpd.GeoDataFrame) -> Territory:
    name = _names().regions[code]
    return Territory(name, "region", code, _subset(communes, communes["code_region"] == code))


def _by_departement(code: str, communes: gpd.GeoDataFrame) -> Territory:
    name = _names().departements[code]
    return Territory(
        f"{name} ({code})",
        "departement",
        code,
        _subset(communes, communes["code_departement"] == code),
    )


def _looks_like_commune_code(token: str) -> bool:
    t = token.upper()
    return len(t) == 5 and (t.isdigit() or (t[:2] in ("2A", "2B") and t[2:].isdigit()))


def _subset(communes: gpd.GeoDataFrame, mask) -> gpd.GeoDataFrame:
    return communes.loc[mask].reset_index(drop=True)


def _by_epci(code: str, communes: gpd.GeoDataFrame) -> Territory:
    name = _names().epci[code]
    return Territory(name, "epci", code, _subset(communes, communes["code_epci"] == code))


def _by_commune_codes(codes: list[str], communes: gpd.GeoDataFrame) -> Territory:
    known = set(communes["code_insee"])
    resolved = []
    for c in (c for c in codes if c.strip()):
        code = current_code(c, known)
        if code is None:
            raise TerritoryError(
                f"Code commune inconnu : « {normalize_insee(c)} » (code INSEE à 5 caractères, géographie 2026, "
                "France métropolitaine)."
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
