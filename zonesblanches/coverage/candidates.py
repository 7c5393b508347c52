"""Candidate sites for a new service: where could the next garage solidaire open?

Four generators, one output shape. Every candidate is a point (EPSG:4326) with

``candidate_id``
    Unique identifier: ``COM-62895`` (commune), ``QPV-QN06201M`` (QPV), ``FIC-<id>`` (a user's
    file of premises), ``CRS2154RES2000mN7042000E0684000`` (grid cell, INSPIRE-style code of the
    Lambert-93 square, lower-left corner).
``origine``
    Where it comes from: ``commune``, ``qpv``, ``fichier`` or ``grille``.
``libelle``
    French label shown in tables (commune name, QPV name, premises name, « Carreau 2 km … »).
``code_insee``, ``nom``, ``code_epci``, ``nom_epci``
    The commune the point lies in (``nom`` is the commune's name, as in the demand units).

Candidates are restricted to the territory: a point outside every commune of the territory is
dropped (:func:`restrict_to_territory`). :func:`build_candidates` combines the generators.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from zonesblanches._text import fr_g
from zonesblanches.crs import LAMBERT93, WGS84
from zonesblanches.errors import DataError, ParameterError, unknown_values
from zonesblanches.geodata.territory import check_communes

ORIGINS = ("commune", "qpv", "fichier", "grille")
"""Allowed values of the ``origine`` column."""

COLUMNS = [
    "candidate_id",
    "origine",
    "libelle",
    "code_insee",
    "nom",
    "code_epci",
    "nom_epci",
    "geometry",
]
"""Columns of every candidate frame, in this order."""

_COMMUNE_ATTRS = ("code_insee", "nom", "code_epci", "nom_epci")


def _empty() -> gpd.GeoDataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS[:-1]})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


def _finish(frame: pd.DataFrame, geometry: gpd.GeoSeries) -> gpd.GeoDataFrame:
    """Order the columns, fill missing commune attributes with empty strings."""
    out = pd.DataFrame(index=range(len(frame)))
    for col in COLUMNS[:-1]:
        values = frame[col].to_numpy(dtype=object) if col in frame else np.full(len(frame), "")
        out[col] = pd.Series(values, dtype=object).fillna("").astype(str).to_numpy(dtype=object)
    geom = gpd.GeoSeries(np.asarray(geometry.values), crs=geometry.crs).to_crs(WGS84)
    return gpd.GeoDataFrame(out, geometry=geom.values, crs=WGS84)


def locate_in_communes(points: gpd.GeoSeries, communes: gpd.GeoDataFrame) -> pd.DataFrame:
    """The commune each point lies in (boundary included).

    Parameters
    ----------
    points : geopandas.GeoSeries
        Points, any CRS.
    communes : geopandas.GeoDataFrame
        Commune polygons with ``code_insee`` and optionally ``nom``, ``code_epci``, ``nom_epci``.

    Returns
    -------
    pandas.DataFrame
        One row per point, same order, columns ``code_insee``, ``nom``, ``code_epci``,
        ``nom_epci`` (empty strings where the point lies in no commune) and ``inside`` (bool).
    """
    communes = check_communes(communes, allow_empty=False)
    pts = np.asarray(points.to_crs(LAMBERT93).values)
    polys = np.asarray(communes.to_crs(LAMBERT93).geometry.values)
    tree = shapely.STRtree(polys)
    pi, ci = tree.query(pts, predicate="intersects")
    # A point on a shared boundary meets two communes: keep the first (lowest row).
    first = np.full(len(pts), -1, dtype=np.int64)
    order = np.lexsort((ci, pi))
    pi, ci = pi[order], ci[order]
    keep = np.ones(len(pi), dtype=bool)
    keep[1:] = pi[1:] != pi[:-1]
    first[pi[keep]] = ci[keep]
    out = pd.DataFrame({"inside": first >= 0})
    for col in _COMMUNE_ATTRS:
        if col in communes:
            values = communes[col].astype(str).to_numpy(dtype=object)
            out[col] = np.where(first >= 0, values[np.clip(first, 0, None)], "")
        else:
            out[col] = ""
    return out[[*_COMMUNE_ATTRS, "inside"]]


def restrict_to_territory(
    candidates: gpd.GeoDataFrame, communes: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Keep the candidates lying in one of ``communes`` and (re)set their commune attributes.

    The commune found by position replaces whatever the candidate carried: a premises file may
    give a wrong commune, the point decides.
    """
    if len(candidates) == 0:
        return _empty()
    where = locate_in_communes(candidates.geometry, communes)
    frame = pd.DataFrame(candidates.drop(columns=candidates.geometry.name)).reset_index(drop=True)
    for col in _COMMUNE_ATTRS:
        frame[col] = where[col].to_numpy()
    inside = where["inside"].to_numpy()
    geometry = gpd.GeoSeries(np.asarray(candidates.geometry.values), crs=candidates.crs)
    out = _finish(frame[inside].reset_index(drop=True), geometry[inside].reset_index(drop=True))
    out.attrs["hors_territoire"] = int((~inside).sum())
    return out


def commune_candidates(communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One candidate per commune, at the commune's interior point.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        The territory's communes, e.g. ``select_territory(...).communes`` (with ``lon``/``lat``
        interior points as in the bundled table; otherwise ``representative_point()`` is used).

    Returns
    -------
    geopandas.GeoDataFrame
        Candidate frame (see the module docstring), ``origine = "commune"``.
    """
    communes = check_communes(communes, allow_empty=False)
    if {"lon", "lat"} <= set(communes.columns):
        geometry = gpd.GeoSeries(
            gpd.points_from_xy(communes["lon"].astype(float), communes["lat"].astype(float)),
            crs=WGS84,
        )
    else:
        geometry = gpd.GeoSeries(
            shapely.point_on_surface(np.asarray(communes.to_crs(LAMBERT93).geometry.values)),
            crs=LAMBERT93,
        )
    frame = pd.DataFrame(communes.drop(columns=communes.geometry.name)).reset_index(drop=True)
    frame["candidate_id"] = "COM-" + frame["code_insee"].astype(str)
    frame["origine"] = "commune"
    frame["libelle"] = frame["nom"] if "nom" in frame else frame["code_insee"]
    return _finish(frame, geometry)


def qpv_candidates(
    qpv: gpd.GeoDataFrame, communes: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """One candidate per QPV, at its centroid (or inside the QPV if the centroid falls outside).

    Parameters
    ----------
    qpv : geopandas.GeoDataFrame
        QPV perimeters as :func:`zonesblanches.geodata.qpv.load_qpv` returns them (``code_qp``,
        ``nom_qp``, polygons).
    communes : geopandas.GeoDataFrame, optional
        The territory's communes: QPV whose point lies outside are dropped, and the commune
        attributes come from the commune the point lies in. Without it, every QPV is kept and
        its first host commune and EPCI are taken from the QPV file (``communes_insee``,
        ``nom_communes``, ``siren_epci``, ``nom_epci``).

    Returns
    -------
    geopandas.GeoDataFrame
        Candidate frame, ``origine = "qpv"``.
    """
    if not isinstance(qpv, gpd.GeoDataFrame) or "code_qp" not in qpv.columns:
        raise ParameterError(
            "Les QPV doivent être un GeoDataFrame avec une colonne « code_qp » "
            "(voir zonesblanches.geodata.qpv.load_qpv)."
        )
    if len(qpv) == 0:
        return _empty()
    if qpv.crs is None:
        raise ParameterError("Les QPV n'ont pas de système de coordonnées (CRS).")
    polys = np.asarray(qpv.to_crs(LAMBERT93).geometry.values)
    centroid = shapely.centroid(polys)
    inside = shapely.contains(polys, centroid)
    points = np.where(inside, centroid, shapely.point_on_surface(polys))
    frame = pd.DataFrame(qpv.drop(columns=qpv.geometry.name)).reset_index(drop=True)
    own = {
        "code_insee": "communes_insee",
        "nom": "nom_communes",
        "code_epci": "siren_epci",
        "nom_epci": "nom_epci",
    }
    firsts = {
        col: [_first(v) for v in frame[src]] if src in frame else [""] * len(frame)
        for col, src in own.items()
    }
    frame = frame.drop(columns=[c for c in _COMMUNE_ATTRS if c in frame])
    for col, values in firsts.items():
        frame[col] = values
    frame["candidate_id"] = "QPV-" + frame["code_qp"].astype(str)
    frame["origine"] = "qpv"
    names = frame["nom_qp"].astype(str) if "nom_qp" in frame else frame["code_qp"].astype(str)
    frame["libelle"] = "QPV " + names
    out = _finish(frame, gpd.GeoSeries(points, crs=LAMBERT93))
    if communes is None:
        out.attrs["hors_territoire"] = 0
        return out
    return restrict_to_territory(out, communes)


def _first(value: object) -> str:
    """First item of a multi-valued QPV field (``"13055; 13070"`` → ``"13055"``)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).replace(",", ";").split(";")[0].strip()


def file_candidates(
    premises: gpd.GeoDataFrame,
    communes: gpd.GeoDataFrame,
    *,
    id_column: str | None = None,
    name_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Candidates from a user's list of possible premises.

    Parameters
    ----------
    premises : geopandas.GeoDataFrame
        Points (any CRS); :func:`zonesblanches.api.suggest` reads a premises file with
        :func:`zonesblanches.geodata.services.read_services`.
    communes : geopandas.GeoDataFrame
        The territory's communes: premises outside are dropped.
    id_column, name_column : str, optional
        Columns holding the premises' identifier and name; default: the first of
        ``candidate_id``, ``service_id``, ``id`` (else the row number) and of ``nom``,
        ``libelle``, ``adresse``.

    Returns
    -------
    geopandas.GeoDataFrame
        Candidate frame, ``origine = "fichier"``, ``candidate_id = "FIC-<id>"``.
    """
    if not isinstance(premises, gpd.GeoDataFrame):
        raise ParameterError(
            "Les locaux candidats doivent être un GeoDataFrame de points (lisez un fichier avec "
            "zonesblanches.read_services)."
        )
    if len(premises) == 0:
        raise DataError("Le fichier de locaux candidats ne contient aucun local utilisable.")
    if premises.crs is None:
        raise ParameterError("Les locaux candidats n'ont pas de système de coordonnées (CRS).")
    geom = premises.geometry
    if not (geom.geom_type == "Point").all():
        raise DataError("Les locaux candidats doivent être des points (une adresse par local).")
    frame = pd.DataFrame(premises.drop(columns=premises.geometry.name)).reset_index(drop=True)
    id_column = id_column or next(
        (c for c in ("candidate_id", "service_id", "id") if c in frame), None
    )
    name_column = name_column or next(
        (c for c in ("nom", "libelle", "adresse") if c in frame), None
    )
    for col in (id_column, name_column):
        if col is not None and col not in frame:
            raise ParameterError(f"Colonne absente du fichier de locaux : « {col} ».")
    ids = (
        frame[id_column].astype(str)
        if id_column
        else pd.Series([str(i + 1) for i in range(len(frame))])
    )
    if ids.duplicated().any():
        dup = ", ".join(sorted(set(ids[ids.duplicated()]))[:5])
        raise DataError(f"Identifiants de locaux en double : {dup}.")
    labels = frame[name_column].astype(str) if name_column else "Local " + ids
    out = pd.DataFrame(
        {
            "candidate_id": "FIC-" + ids.to_numpy(dtype=object),
            "origine": "fichier",
            "libelle": labels.to_numpy(dtype=object),
        }
    )
    return restrict_to_territory(_finish(out, geom.reset_index(drop=True)), communes)


def grid_candidates(
    demand: gpd.GeoDataFrame,
    communes: gpd.GeoDataFrame,
    *,
    cell_m: float = 2000.0,
    min_population: float = 1.0,
) -> gpd.GeoDataFrame:
    """A regular grid of candidates over the inhabited part of the territory.

    The territory is cut into Lambert-93 squares of ``cell_m`` metres (aligned on multiples of
    ``cell_m``); a square is inhabited when the demand units whose point lies in it hold at least
    ``min_population`` people. The candidate is the square's centre; when the centre falls outside
    the territory (a border square), it is moved to the square's most populated demand point.

    Parameters
    ----------
    demand : geopandas.GeoDataFrame
        Demand points with a ``population`` column (communes or grid cells).
    communes : geopandas.GeoDataFrame
        The territory's communes.
    cell_m : float
        Side of the squares in metres (default 2 km).
    min_population : float
        Smallest population of an inhabited square.

    Returns
    -------
    geopandas.GeoDataFrame
        Candidate frame, ``origine = "grille"``.
    """
    if not np.isfinite(cell_m) or cell_m < 100:
        raise ParameterError(f"La taille des carreaux doit être d'au moins 100 m (reçu {cell_m}).")
    if "population" not in demand:
        raise ParameterError("Les unités de demande doivent avoir une colonne « population ».")
    if demand.crs is None:
        raise ParameterError("Les unités de demande n'ont pas de système de coordonnées (CRS).")
    communes = check_communes(communes, allow_empty=False)
    pts = demand.geometry.to_crs(LAMBERT93)
    xy = shapely.get_coordinates(np.asarray(shapely.centroid(pts.values)))
    pop = demand["population"].to_numpy(dtype=float)
    ok = np.isfinite(xy).all(axis=1) & (pop > 0)
    if not ok.any():
        return _empty()
    xy, pop = xy[ok], pop[ok]
    ix = np.floor(xy[:, 0] / cell_m).astype(np.int64)
    iy = np.floor(xy[:, 1] / cell_m).astype(np.int64)
    cells, inverse = np.unique(np.column_stack([ix, iy]), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    cell_pop = np.bincount(inverse, weights=pop, minlength=len(cells))
    # Most populated demand point of each cell (for border squares).
    order = np.lexsort((-pop, inverse))
    first = np.ones(len(order), dtype=bool)
    first[1:] = inverse[order][1:] != inverse[order][:-1]
    best_point = np.empty(len(cells), dtype=np.int64)
    best_point[inverse[order][first]] = order[first]
    keep = cell_pop >= min_population
    cells, best_point = cells[keep], best_point[keep]
    centre = (cells + 0.5) * cell_m
    centre_pts = shapely.points(centre)
    region = shapely.union_all(np.asarray(communes.to_crs(LAMBERT93).geometry.values))
    shapely.prepare(region)
    inside = shapely.intersects(region, centre_pts)
    pos = np.where(inside[:, None], centre, xy[best_point])
    size = f"{cell_m:g}"
    ll = (cells * cell_m).astype(np.int64)
    ids = [f"CRS2154RES{size}mN{y}E{x}" for x, y in ll]
    km = fr_g(cell_m / 1000)
    frame = pd.DataFrame(
        {
            "candidate_id": ids,
            "origine": "grille",
            "libelle": [f"Carreau {km} km ({y // 1000} N, {x // 1000} E)" for x, y in ll],
        }
    )
    geometry = gpd.GeoSeries(shapely.points(pos), crs=LAMBERT93)
    return restrict_to_territory(_finish(frame, geometry), communes)


def build_candidates(
    communes: gpd.GeoDataFrame,
    *,
    origins: Iterable[str] = ("commune",),
    qpv: gpd.GeoDataFrame | None = None,
    premises: gpd.GeoDataFrame | None = None,
    demand: gpd.GeoDataFrame | None = None,
    cell_m: float = 2000.0,
) -> gpd.GeoDataFrame:
    """Candidates of several origins, combined into one frame with unique ids.

    Parameters
    ----------
    communes : geopandas.GeoDataFrame
        The territory's communes.
    origins : iterable of str
        Any of ``commune``, ``qpv`` (needs ``qpv``), ``fichier`` (needs ``premises``) and
        ``grille`` (needs ``demand``).
    qpv, premises, demand, cell_m
        Inputs of :func:`qpv_candidates`, :func:`file_candidates` and :func:`grid_candidates`.

    Returns
    -------
    geopandas.GeoDataFrame
        All candidates; ``attrs["hors_territoire"]`` counts those dropped for lying outside.
    """
    origins = list(dict.fromkeys(str(o).strip().lower() for o in origins))
    unknown = [o for o in origins if o not in ORIGINS]
    if unknown:
        raise unknown_values(
            "Origine de candidats inconnue", unknown, "Origines possibles", ORIGINS
        )
    if not origins:
        raise ParameterError("Indiquez au moins une origine de sites candidats.")
    needs = {"qpv": qpv, "fichier": premises, "grille": demand}
    missing = {
        "qpv": "le fichier des QPV",
        "fichier": "le fichier des locaux",
        "grille": "la demande",
    }
    frames = []
    outside = 0
    for origin in origins:
        if origin in needs and needs[origin] is None:
            raise ParameterError(f"Candidats « {origin} » demandés sans {missing[origin]}.")
        if origin == "commune":
            frame = commune_candidates(communes)
        elif origin == "qpv":
            frame = qpv_candidates(qpv, communes)
        elif origin == "fichier":
            frame = file_candidates(premises, communes)
        else:
            frame = grid_candidates(demand, communes, cell_m=cell_m)
        outside += int(frame.attrs.get("hors_territoire", 0))
        if len(frame):
            frames.append(frame)
    if not frames:
        raise DataError("Aucun site candidat dans le territoire.")
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=WGS84)
    if out["candidate_id"].duplicated().any():
        dup = ", ".join(out.loc[out["candidate_id"].duplicated(), "candidate_id"].head(5))
        raise DataError(f"Identifiants de sites candidats en double : {dup}.")
    out.attrs["hors_territoire"] = outside
    return out


__all__ = [
    "COLUMNS",
    "ORIGINS",
    "build_candidates",
    "commune_candidates",
    "file_candidates",
    "grid_candidates",
    "locate_in_communes",
    "qpv_candidates",
    "restrict_to_territory",
]
