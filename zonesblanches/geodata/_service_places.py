"""Where a row of a services file is: its coordinates, else its commune.

Part of the validator of :mod:`zonesblanches.geodata.services` (whose documentation gives the
rules): coordinates are read (numbers with a French decimal comma, a geometry, a CRS), checked
against metropolitan France (swapped pairs corrected, Lambert-93 read as degrees named), then
each row gets its commune: the one its point falls in, or the one its code INSEE, name or
postcode designates (:class:`zonesblanches.geodata.communes.CommuneIndex`), at the commune's
interior point. A row with an address and no coordinates is first geocoded
(:meth:`Placement._geocode`). A declared commune that disagrees with the coordinates is flagged.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyproj
import shapely

from zonesblanches._text import fr_count, fr_plural
from zonesblanches.crs import WGS84
from zonesblanches.geodata._service_log import RowLog, norm
from zonesblanches.geodata._tables import RawTable
from zonesblanches.geodata.communes import CommuneIndex, normalize_insee

FRANCE_BBOX = (-5.5, 41.0, 10.0, 51.5)
"""Bounding box (lon min, lat min, lon max, lat max) of metropolitan France with Corsica and a
margin of a few km: Ouessant is at 5.14° W, Lauterbourg 8.23° E, Corsica 9.56° E and 41.33° N,
Bray-Dunes 51.09° N. A box also holds bits of neighbouring countries: it catches gross errors
(swapped or projected coordinates, another continent), not a point 5 km over the border."""

_LAMBERT93_BOX = (0.0, 6.0e6, 1.3e6, 7.2e6)
"""Range of Lambert-93 (x, y) over metropolitan France, to recognise it when read as degrees."""


LOCATION = ("code_insee", "commune", "code_postal")
"""Fields that locate a row at its commune."""


def parse_number(text: str) -> float | None:
    """Parse a coordinate; ``None`` if empty; ``nan`` if not a number."""
    s = text.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    if not s:
        return None
    if "," in s and "." not in s and s.count(",") == 1:
        s = s.replace(",", ".")
    try:
        value = float(s)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def parse_numbers(texts: list[str]) -> np.ndarray:
    """:func:`parse_number` of stripped texts, at C speed when every non-empty text is a plain
    number: NaN where the text is empty or needs :func:`parse_number` (a decimal comma, inner
    spaces, not a number), which the caller then applies to those rows."""
    values = np.full(len(texts), np.nan)
    array = np.array(texts, dtype=object)
    filled = np.flatnonzero(array != "")
    try:
        # float() of each text, as parse_number does when the text has no comma nor space
        found = array[filled].astype(float)
    except ValueError:
        return values
    found[~np.isfinite(found)] = np.nan
    values[filled] = found
    return values


def in_box(x: np.ndarray, y: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    return (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])


class Placement(RowLog):
    """Coordinates and communes of the rows of a table, logging what it finds."""

    def __init__(self, raw: RawTable, crs: pyproj.CRS | None, index: CommuneIndex):
        super().__init__(raw)
        self.crs = crs
        self.index = index
        self._has_coords = np.zeros(self.n, dtype=bool)

    def _xy(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, pyproj.CRS | None, str]:
        """Raw coordinates, a mask of rows that have some, the CRS and the field name."""
        x = np.full(self.n, np.nan)
        y = np.full(self.n, np.nan)
        has = np.zeros(self.n, dtype=bool)
        if self.raw.geometry is not None:
            return self._geometry_xy()
        if "lon" not in self.cols:
            return x, y, has, self.crs, ""
        champ = f"{self.cols['lon']}, {self.cols['lat']}"
        xs, ys = self.text("lon"), self.text("lat")
        vx, vy = parse_numbers(xs), parse_numbers(ys)
        plain = ~np.isnan(vx) & ~np.isnan(vy)
        x[plain], y[plain], has[plain] = vx[plain], vy[plain], True
        for pos in np.flatnonzero(~plain).tolist():
            a, b = xs[pos], ys[pos]
            va, vb = parse_number(a), parse_number(b)
            if va is None and vb is None:
                continue
            has[pos] = True
            if va is None or vb is None:
                self.reject(pos, champ, "coordonnées incomplètes (une seule des deux est remplie)")
            elif math.isnan(va) or math.isnan(vb):
                bad = a if math.isnan(va) else b
                self.reject(pos, champ, f"coordonnée non numérique « {bad} »")
            else:
                x[pos], y[pos] = va, vb
        return x, y, has, self.crs, champ

    def _geometry_xy(self):
        geoms = self.raw.geometry
        x = np.full(self.n, np.nan)
        y = np.full(self.n, np.nan)
        values = geoms.values
        present = ~(shapely.is_missing(values) | shapely.is_empty(values))
        points = shapely.get_type_id(values) == 0
        other = np.flatnonzero(present & ~points)
        if len(other):
            fixed = shapely.make_valid(values[other])
            values = values.copy()
            values[other] = shapely.point_on_surface(fixed)
            for pos in other:
                self.flag(
                    pos,
                    "géométrie",
                    f"{geoms.values[pos].geom_type} remplacé par un point intérieur",
                )
            self.warnings.append(
                "Géométries non ponctuelles remplacées par un point intérieur : "
                f"{self._lines(other)}."
            )
        x[present] = shapely.get_x(values[present])
        y[present] = shapely.get_y(values[present])
        return x, y, present, self._vector_crs(geoms.crs, x, y), "géométrie"

    def _vector_crs(self, file_crs, x: np.ndarray, y: np.ndarray) -> pyproj.CRS | None:
        file_crs = pyproj.CRS.from_user_input(file_crs) if file_crs is not None else None
        if file_crs is None:
            if self.crs is None:
                self.warnings.append(
                    "Le fichier ne déclare pas de système de coordonnées : longitude/latitude "
                    "WGS84 supposées (précisez crs= sinon)."
                )
            return self.crs
        if self.crs is None or file_crs == self.crs:
            return file_crs
        finite = np.isfinite(x)
        not_degrees = finite.any() and bool(
            ((np.abs(x[finite]) > 180) | (np.abs(y[finite]) > 90)).mean() > 0.5
        )
        if file_crs.is_geographic and not_degrees:
            self.warnings.append(
                f"Le fichier se dit en {_crs_name(file_crs)} mais ses coordonnées ne sont pas "
                f"des degrés : le système indiqué, {_crs_name(self.crs)}, est utilisé."
            )
            return self.crs
        self.warnings.append(
            f"Le fichier déclare son système de coordonnées ({_crs_name(file_crs)}) : "
            f"crs={_crs_name(self.crs)} est ignoré."
        )
        return file_crs

    def _coordinates(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        x, y, has, crs, champ = self._xy()
        lon, lat = _to_lonlat(x, y, crs)
        ok = np.isfinite(lon) & np.isfinite(lat)
        inside = ok & in_box(lon, lat, FRANCE_BBOX)
        slon, slat = _to_lonlat(y, x, crs)
        swapped = ok & ~inside & in_box(slon, slat, FRANCE_BBOX)
        if swapped.any():
            lon[swapped], lat[swapped] = slon[swapped], slat[swapped]
            for pos in np.flatnonzero(swapped):
                self.flag(pos, champ, "coordonnées inversées (latitude/longitude) corrigées")
            self.warnings.append(
                "Coordonnées inversées (latitude à la place de la longitude) corrigées : "
                f"{self._lines(np.flatnonzero(swapped))}."
            )
        for pos in np.flatnonzero(ok & ~inside & ~swapped):
            self.reject(pos, champ, self._outside_reason(x[pos], y[pos], crs, pos))
        precision = ["commune"] * self.n
        declared = [norm(p) == "commune" for p in self.text("precision")]
        for pos in np.flatnonzero(inside | swapped):
            precision[pos] = "commune" if declared[pos] else "coordonnees"
        lon[~(inside | swapped)] = np.nan
        lat[~(inside | swapped)] = np.nan
        self._has_coords = has
        return lon, lat, precision

    def _outside_reason(self, x: float, y: float, crs: pyproj.CRS | None, pos: int) -> str:
        given = f"({_fmt(x)}, {_fmt(y)})"
        if x == 0 and y == 0:
            return "coordonnées nulles (0, 0)"
        if crs is None or crs.is_geographic:
            if in_box(np.array([x, y]), np.array([y, x]), _LAMBERT93_BOX).any():
                return (
                    f"coordonnées {given} en mètres, pas en degrés : elles ressemblent à du "
                    'Lambert-93 ; indiquez crs="EPSG:2154" (option --crs EPSG:2154)'
                )
            reason = f"coordonnées {given} hors de France métropolitaine"
            if any(self.text(f)[pos] for f in LOCATION):
                reason += " ; videz-les pour placer le service au centre de sa commune"
        else:
            reason = f"coordonnées {given} hors de France métropolitaine une fois lues en {_crs_name(crs)}"
            if abs(x) <= 180 and abs(y) <= 90:
                reason += " : ce sont sans doute des degrés (retirez crs= / --crs)"
        return reason

    # -- addresses ------------------------------------------------------------------------------

    def _geocode(self, lon: np.ndarray, lat: np.ndarray, precision: list[str], geocoder) -> None:
        """Rows with an address and no coordinates, through the Géoplateforme batch geocoder
        (:class:`zonesblanches.geodata.geocodage.Geocoder`, the one data·inclusion rows use:
        batches, ``citycode`` from the declared code INSEE, score threshold, rate limit,
        ``retry-after``, cache by normalised address). Placed rows get the geocoder's
        ``precision`` (``adresse``, ``rue`` or ``commune``); the others, and every row when the
        geocoder is unreachable, stay for :meth:`_communes` (their commune), flagged; offline,
        cached answers only, said."""
        from zonesblanches.errors import NetworkUnavailableError
        from zonesblanches.geodata.geocodage import Geocoder, address_key

        if "adresse" not in self.cols:
            return
        fields = ("adresse", "code_postal", "commune", "code_insee")
        text = {f: self.text(f) for f in fields}
        todo = [
            pos
            for pos in np.flatnonzero(~np.isfinite(lon) & ~self._has_coords).tolist()
            if text["adresse"][pos] and pos not in self.problems
        ]
        if not todo:
            return
        codes = [normalize_insee(text["code_insee"][p]) or "" for p in todo]
        addresses = {f: [text[f][p] for p in todo] for f in fields[:3]} | {"code_insee": codes}
        col = self.cols["adresse"]
        try:
            answer = (geocoder or Geocoder()).geocode(pd.DataFrame(addresses))
        except NetworkUnavailableError as exc:
            self.warnings.append(
                f"{exc} {fr_count(len(todo), 'service placé', 'services placés')} à leur commune."
            )
            for pos in todo:
                self.flag(pos, col, "géocodeur indisponible : placé à la commune")
            return
        self.warnings += answer.warnings
        found = answer.table.set_index("cle")
        placed: dict[str, int] = {}
        for i, pos in enumerate(todo):
            key = address_key(*(addresses[f][i] for f in fields))
            if key not in found.index:
                continue  # offline and not cached: said by the geocoder's warning
            hit = found.loc[key]
            if hit["precision"]:
                lon[pos], lat[pos], precision[pos] = hit["lon"], hit["lat"], hit["precision"]
                placed[hit["precision"]] = placed.get(hit["precision"], 0) + 1
            else:
                self.flag(pos, col, f"{hit['motif']} : placé à la commune")
        if placed:
            how = {"adresse": "à l'adresse", "rue": "à la rue", "commune": "à la commune"}
            self.warnings.append(
                f"{fr_count(sum(placed.values()), 'adresse géocodée', 'adresses géocodées')} "
                "(Géoplateforme) : "
                + ", ".join(f"{placed[p]} {how[p]}" for p in how if p in placed)
                + "."
            )

    # -- communes -------------------------------------------------------------------------------

    def _communes(self, lon: np.ndarray, lat: np.ndarray, precision: list[str]):
        names, codes, cps = self.text("commune"), self.text("code_insee"), self.text("code_postal")
        normalized = {c: normalize_insee(c) for c in set(codes) if c}
        out_name, out_code = list(names), [normalized[c] if c else "" for c in codes]
        located = np.isfinite(lon)
        self._fill_from_points(lon, lat, located, out_name, out_code)
        index, notes, mismatches = self.index, [], []
        found: dict[tuple[str, str, str], tuple] = {}  # a file repeats its communes
        for pos in np.flatnonzero(~located & ~self._has_coords).tolist():
            key = (codes[pos], names[pos], cps[pos])
            if key not in found:
                found[key] = index.locate(*key, self.cols)
            i, note = found[key]
            if i is None:
                self.reject(pos, *note)
                continue
            lon[pos], lat[pos] = index.lon[i], index.lat[i]
            out_name[pos], out_code[pos] = index.name(i), index.code(i)
            precision[pos] = "commune"
            if note and note.startswith("le code INSEE désigne"):
                mismatches.append(pos)
                self.flag(pos, self.cols["code_insee"], note)
            elif note:
                notes.append(f"{self.raw.unit} {int(self.raw.lines[pos])} : {note}")
        geocoded = np.flatnonzero(~located & ~self._has_coords & np.isfinite(lon))
        if len(geocoded):
            self.warnings.append(
                f"{fr_count(len(geocoded), 'service')} sans coordonnées "
                f"{fr_plural(len(geocoded), 'placé')} au point intérieur de "
                f"leur commune (précision à la commune) : {self._lines(geocoded)}."
            )
        if notes:
            self.warnings.append(
                "Communes reconnues sous un autre nom ou code : " + " ; ".join(notes) + "."
            )
        if mismatches:
            self.warnings.append(
                "Code INSEE et nom de commune discordants (le code est retenu) : "
                f"{self._lines(mismatches)}."
            )
        return out_name, out_code

    def _fill_from_points(self, lon, lat, located, out_name, out_code) -> None:
        pos = np.flatnonzero(located)
        if not len(pos):
            return
        declared = list(out_code)
        pts, polys = self.index.tree.query(
            shapely.points(lon[pos], lat[pos]), predicate="intersects"
        )
        first = np.unique(pts, return_index=True)[1]  # a point on a shared border: first hit
        hits = pos[pts[first]].tolist()
        for p, c in zip(hits, polys[first].tolist(), strict=True):
            out_name[p] = self.index.name(c)
            out_code[p] = self.index.code(c)
        self._check_declared(pos.tolist(), lon, lat, declared, out_code, set(hits))

    def _check_declared(self, positions, lon, lat, declared, found, matched) -> None:
        """Warn when the commune a row declares (code INSEE) is not where its coordinates are:
        the coordinates win, but a point in another commune, or far away, is often a typo."""
        index, notes = self.index, []
        col = self.cols.get("code_insee")
        for pos in positions:
            code = index.former_code.get(declared[pos], declared[pos])
            i = index.by_code.get(code)
            if not code or i is None or (pos in matched and found[pos] == code):
                continue
            km = _km(lon[pos], lat[pos], index.lon[i], index.lat[i])
            if pos in matched:
                where = (
                    f"les coordonnées sont à {index.name(index.by_code[found[pos]])} ({found[pos]})"
                )
            else:
                where = "les coordonnées sont hors des communes connues"
            distance = f"{km:,.0f}".replace(",", " ")
            text = (
                f"déclaré à {index.name(i)} ({code}) mais {where}, à {distance} km du centre "
                "de la commune déclarée ; les coordonnées sont retenues"
            )
            self.flag(pos, col or "code_insee", text)
            notes.append(f"{self.raw.unit} {int(self.raw.lines[pos])} : {text}")
        if notes:
            self.warnings.append(
                "Commune déclarée différente de celle des coordonnées : " + " ; ".join(notes) + "."
            )


def _km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in km (spherical Earth, 6,371 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _to_lonlat(x: np.ndarray, y: np.ndarray, crs: pyproj.CRS | None):
    if crs is None or crs.is_geographic and crs.equals(pyproj.CRS(WGS84), ignore_axis_order=True):
        return x.astype(float).copy(), y.astype(float).copy()
    transformer = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
    lon, lat = transformer.transform(x, y)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    bad = ~(np.isfinite(lon) & np.isfinite(lat))
    lon[bad] = np.nan
    lat[bad] = np.nan
    # Values far outside the CRS's area can still transform to finite numbers: they then fail
    # the France box check.
    lon[np.isnan(x) | np.isnan(y)] = np.nan
    return lon, lat


def _crs_name(crs: pyproj.CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def _fmt(v: float) -> str:
    return f"{v:.6g}" if abs(v) < 1000 else f"{v:.0f}"
