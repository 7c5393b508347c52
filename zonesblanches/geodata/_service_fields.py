"""The columns of a services file: which column holds which field, and the CRS names.

Names are matched case-, accent- and punctuation-insensitively; the first synonym found wins.
Used by the validator of :mod:`zonesblanches.geodata.services`.

==============  =========================================================================
field           accepted names
==============  =========================================================================
service_id      service_id, id, identifiant, id_service, identifiant_service, reference
nom             nom, name, raison sociale, structure, nom_structure, nom_service, libelle
categorie       categorie, category, type, thematique, type_service, typologie
commune         commune, ville, city, nom_commune, localite, libelle_commune
code_insee      code_insee, insee, code commune, code_commune_insee, citycode, codgeo, depcom
code_postal     code_postal, cp, postcode, zip
adresse         adresse, address, adresse_postale
statut          statut, status, etat
source          source, sources, origine
date_source     date_source, date, millesime, date_maj
notes           notes, note, commentaire(s), remarque(s), description, observations
precision       precision (only the value ``commune`` is kept: the point is a commune's)
lon / lat       lon, lng, long, longitude / lat, latitude (degrees, WGS84 unless ``crs=``)
x / y           x, coord_x, coordonnee_x, x_l93 / y, … (with ``crs=``; preferred when the
                given ``crs`` is projected)
==============  =========================================================================
"""

from __future__ import annotations

import pyproj

from zonesblanches._text import normalize
from zonesblanches.errors import ParameterError


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split("|"))


SYNONYMS: dict[str, tuple[str, ...]] = {
    "service_id": _names(
        "service_id | id | identifiant | id_service | identifiant_service | reference | ref"
    ),
    "nom": _names(
        "nom | name | raison sociale | structure | nom_structure | nom de la structure | "
        "nom_service | nom du service | libelle | denomination"
    ),
    "categorie": _names(
        "categorie | category | type | thematique | thematiques | type_service | "
        "type de service | typologie"
    ),
    "commune": _names(
        "commune | ville | city | nom_commune | nom de la commune | localite | libelle_commune"
    ),
    "code_insee": _names(
        "code_insee | insee | code commune | code_commune_insee | code insee commune | citycode | "
        "codgeo | depcom | insee_com"
    ),
    "code_postal": _names("code_postal | cp | postcode | code postal | zip | zipcode"),
    "adresse": _names("adresse | address | adresse_postale"),
    "statut": _names("statut | status | etat"),
    "source": _names("source | sources | origine"),
    "date_source": _names("date_source | date | date de la source | millesime | date_maj"),
    "notes": _names(
        "notes | note | commentaire | commentaires | remarque | remarques | description | "
        "observations"
    ),
    "precision": _names("precision | precision geographique"),
}
_LONLAT = {
    "lon": _names("lon | lng | long | longitude | longitude wgs84"),
    "lat": _names("lat | latitude | latitude wgs84"),
}
_XY = {
    "lon": _names(
        "x | coord_x | coordonnee x | coordonnees x | x_l93 | x lambert93 | x lambert 93"
    ),
    "lat": _names(
        "y | coord_y | coordonnee y | coordonnees y | y_l93 | y lambert93 | y lambert 93"
    ),
}
_CRS_ALIASES = {
    "lambert93": "EPSG:2154",
    "lambert 93": "EPSG:2154",
    "l93": "EPSG:2154",
    "rgf93": "EPSG:2154",
    "2154": "EPSG:2154",
    "wgs84": "EPSG:4326",
    "4326": "EPSG:4326",
    "gps": "EPSG:4326",
    "webmercator": "EPSG:3857",
    "web mercator": "EPSG:3857",
    **{f"cc{z}": f"EPSG:{3900 + z}" for z in range(42, 51)},
}


def match_columns(columns: list[str], *, projected: bool = False) -> dict[str, str]:
    """Map a file's column names onto the fields read (``nom``, ``categorie``, ``lon``…).

    Parameters
    ----------
    columns : list of str
        Column names as in the file.
    projected : bool
        True when the coordinates are projected (x/y names are then preferred to lon/lat).

    Returns
    -------
    dict
        ``{field: column}`` for the fields found (see the module documentation).

    >>> match_columns(["Nom", "Catégorie", "Code INSEE", "Longitude", "Latitude"])
    {'nom': 'Nom', 'categorie': 'Catégorie', 'code_insee': 'Code INSEE', 'lon': 'Longitude', 'lat': 'Latitude'}
    """
    keys: dict[str, str] = {}
    for col in columns:
        keys.setdefault(normalize(col), col)
    coords = (_XY, _LONLAT) if projected else (_LONLAT, _XY)
    found: dict[str, str] = {}
    for name, synonyms in SYNONYMS.items():
        col = _first_match(keys, synonyms)
        if col is not None:
            found[name] = col
    for name in ("lon", "lat"):
        for table in coords:
            col = _first_match(keys, table[name])
            if col is not None:
                found[name] = col
                break
    return found


def _first_match(keys: dict[str, str], synonyms: tuple[str, ...]) -> str | None:
    for s in synonyms:
        col = keys.get(normalize(s))
        if col is not None:
            return col
    return None


def parse_crs(crs: str | int | pyproj.CRS | None) -> pyproj.CRS | None:
    if crs is None:
        return None
    if isinstance(crs, pyproj.CRS):
        return crs
    text = str(crs).strip()
    text = _CRS_ALIASES.get(normalize(text), _CRS_ALIASES.get(text.lower(), text))
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        return pyproj.CRS.from_user_input(text)
    except pyproj.exceptions.CRSError as exc:
        raise ParameterError(
            f"Système de coordonnées inconnu : « {crs} ». Exemples : EPSG:2154 (Lambert-93), "
            "EPSG:4326 (longitude/latitude WGS84)."
        ) from exc


__all__ = ["SYNONYMS", "match_columns", "parse_crs"]
