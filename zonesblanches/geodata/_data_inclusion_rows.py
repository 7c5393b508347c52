"""One pass over data·inclusion rows: scope, date, category, location, zone.

Every row ends in exactly one bucket of the counts (``retenus``, ``rejetes``, ``a_distance``,
``hors_mobilite``, ``hors_zone``, ``avant_depuis``; merged duplicates are counted by
:mod:`~zonesblanches.geodata._data_inclusion_output`); every rejected row gets its line,
field and French reason. Steps 2 to 7 of :mod:`zonesblanches.geodata.data_inclusion`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from zonesblanches._text import fr_count
from zonesblanches.crs import WGS84
from zonesblanches.errors import NetworkUnavailableError
from zonesblanches.geodata._data_inclusion_output import DataInclusionRead, _merge_duplicates
from zonesblanches.geodata._data_inclusion_read import LIST_COLUMNS, USED_COLUMNS
from zonesblanches.geodata.communes import departement_of
from zonesblanches.geodata.thematiques import categorize, is_mobility, mobility_codes

FRANCE_BBOX = (-5.5, 41.0, 10.0, 51.5)
"""Metropolitan France with Corsica (same box as the services validator)."""


_REJECT_COLUMNS = ("ligne", "champ", "motif", "id", "nom", "source", "commune", "code_insee")


def _text(frame: pd.DataFrame, col: str) -> np.ndarray:
    if col not in frame:
        return np.full(len(frame), "", dtype=object)
    values = frame[col].astype(object).where(frame[col].notna(), "")
    return np.array([str(v).strip() for v in values], dtype=object)


def _clean_code(value: str) -> str:
    code = value.replace(" ", "").upper()
    if code.endswith(".0"):
        code = code[:-2]
    return "0" + code if code.isdigit() and len(code) == 4 else code


class _Communes:
    """Commune points and polygons for the commune fallback and the declared-commune check."""

    def __init__(self, communes: gpd.GeoDataFrame | None) -> None:
        from zonesblanches.geodata import reference

        self.frame = (reference.load_communes() if communes is None else communes).reset_index(
            drop=True
        )
        codes = self.frame["code_insee"].astype(str).tolist()
        self.by_code = {c: i for i, c in enumerate(codes)}
        former = reference.load_former_communes()
        self.former = {
            old: new
            for old, new in zip(former["code"], former["code_insee"], strict=True)
            if new in self.by_code and old not in self.by_code
        }
        self.departements = {departement_of(c) for c in codes}
        self._tree: shapely.STRtree | None = None

    def find(self, code: str) -> int | None:
        code = self.former.get(code, code)
        return self.by_code.get(code)

    def containing(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Index of the commune holding each point, -1 when none."""
        out = np.full(len(lon), -1)
        if not len(lon) or self.frame.geometry.iloc[0].geom_type == "Point":
            return out
        if self._tree is None:
            self._tree = shapely.STRtree(self.frame.geometry.values)
        pts, polys = self._tree.query(shapely.points(lon, lat), predicate="intersects")
        out[pts[::-1]] = polys[::-1]  # first match wins
        return out


def _rejects_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(_REJECT_COLUMNS))


class _Loader:
    """One pass over the table; every row ends in exactly one bucket of ``counts``."""

    def __init__(self, frame, kind, index, since, zone, departements):
        self.frame = frame
        self.n = len(frame)
        # row number as shown: spreadsheet lines for csv/xlsx (header = 1), else from 1
        pos = frame["_pos"].to_numpy() if "_pos" in frame else np.arange(self.n)
        self.lines = pos + (2 if kind in ("csv", "xlsx") else 1)
        self.index = index
        self.since = since
        self.zone = zone
        self.departements = set(departements) if departements is not None else None
        self.rejects: list[dict] = []
        self.flags: list[dict] = []
        self.geocoder_notes: dict[int, str] = {}
        self.warnings: list[str] = []
        self.counts = dict.fromkeys(
            ("lus", "retenus", "fusionnes", "rejetes", "a_distance", "hors_mobilite",
             "hors_zone", "avant_depuis"), 0,
        )  # fmt: skip
        self.counts["lus"] = int(frame.attrs.get("lus", self.n))

    def reject(self, pos: int, champ: str, motif: str) -> None:
        self.rejects.append(
            {"ligne": int(self.lines[pos]), "champ": champ, "motif": motif,
             **{c: self.t[c][pos] for c in ("id", "nom", "source", "commune", "code_insee")}}
        )  # fmt: skip

    def flag(self, pos: int, champ: str, motif: str) -> None:
        self.flags.append(
            {"ligne": int(self.lines[pos]), "id": self.t["id"][pos], "champ": champ, "motif": motif}
        )

    def run(self, geocoder, geocode: bool, cache) -> DataInclusionRead:
        f = self.frame
        them = f["thematiques"].tolist()
        mobile = np.fromiter((is_mobility(t) for t in them), bool, self.n)
        self.counts["hors_mobilite"] = self.counts["lus"] - int(mobile.sum())
        live = np.flatnonzero(mobile)
        sub = f.iloc[live].reset_index(drop=True)
        self.lines = self.lines[live]
        self.n = len(sub)
        t = {c: _text(sub, c) for c in USED_COLUMNS if c not in LIST_COLUMNS}
        t["code_insee"] = np.array([_clean_code(c) for c in t["code_insee"]], dtype=object)
        self.t = t
        them = sub["thematiques"].tolist()
        keep = np.ones(self.n, bool)

        # v0 codes and unknown mobility codes: said once
        v0 = sum(1 for th in them if mobility_codes(th)[1])
        if v0:
            self.warnings.append(
                f"{fr_count(v0, 'service porte', 'services portent')} des thématiques v0 "
                "(fichier ancien) : lues comme leur équivalent v1."
            )

        # depuis
        if self.since is not None:
            dates = pd.to_datetime(pd.Series(t["date_maj"]), errors="coerce", format="mixed")
            old = ~(dates >= self.since).to_numpy()
            self.counts["avant_depuis"] = int(old.sum())
            keep &= ~old

        # category (before remote-only, so that remote services are counted per category)
        cats = np.empty(self.n, dtype=object)
        rules = np.empty(self.n, dtype=object)
        for pos in range(self.n):
            cats[pos], rules[pos] = categorize(them[pos], t["type"][pos], t["nom"][pos],
                                               t["source"][pos])  # fmt: skip

        # remote-only
        modes = sub["modes_accueil"].tolist() if "modes_accueil" in sub else [[]] * self.n
        remote = np.fromiter((bool(m) and set(m) == {"a-distance"} for m in modes), bool, self.n)
        remote &= keep
        self.counts["a_distance"] = int(remote.sum())
        self.remote = pd.DataFrame(
            {"ligne": self.lines[remote], "id": t["id"][remote], "nom": t["nom"][remote],
             "categorie": [c or "" for c in cats[remote]]}
        )  # fmt: skip
        keep &= ~remote

        for pos in np.flatnonzero(keep & (cats == None)):  # noqa: E711 (object array)
            self.reject(pos, "thematiques", _no_category_reason(rules[pos], them[pos]))
            keep[pos] = False

        lon, lat, precision = self._locate_given(keep)
        keep &= self._in_zone(keep, lon, lat, given=True)
        self._geocode(keep, lon, lat, precision, geocoder, geocode, cache)
        self._commune_fallback(keep, lon, lat, precision)
        keep &= self._in_zone(keep & (precision != "coordonnees_fournies"), lon, lat, given=False)
        self._check_declared_commune(keep, lon, lat, precision)
        out = self._build(keep, cats, rules, them, lon, lat, precision)
        services, merged = _merge_duplicates(out)
        rejected = {r["ligne"] for r in self.rejects}
        self.flags = [f for f in self.flags if f["ligne"] not in rejected]
        self.counts["rejetes"] = len(self.rejects)
        self.counts["fusionnes"] = len(merged)
        self.counts["retenus"] = len(services)
        return DataInclusionRead(
            services,
            _rejects_frame(self.rejects).sort_values("ligne", kind="stable").reset_index(drop=True),
            merged,
            self.remote,
            pd.DataFrame(self.flags, columns=["ligne", "id", "champ", "motif"]),
            self.counts,
            self.warnings,
        )

    # -- location ------------------------------------------------------------------------------

    def _locate_given(self, keep):
        sub_lon = np.full(self.n, np.nan)
        sub_lat = np.full(self.n, np.nan)
        src_lon = _text_numbers(self.t["longitude"])
        src_lat = _text_numbers(self.t["latitude"])
        has = np.isfinite(src_lon) & np.isfinite(src_lat)
        inside = (
            has
            & (src_lon >= FRANCE_BBOX[0]) & (src_lon <= FRANCE_BBOX[2])
            & (src_lat >= FRANCE_BBOX[1]) & (src_lat <= FRANCE_BBOX[3])
        )  # fmt: skip
        overseas = np.array([c.startswith(("97", "98")) for c in self.t["code_insee"]])
        for pos in np.flatnonzero(keep & (overseas | (has & ~inside))):
            if overseas[pos]:
                self.reject(pos, "code_insee", "service outre-mer : hors du champ de l'outil "
                            "(France métropolitaine)")  # fmt: skip
            else:
                self.reject(
                    pos,
                    "longitude, latitude",
                    f"coordonnées ({src_lon[pos]:.6g}, {src_lat[pos]:.6g}) hors de France "
                    "métropolitaine",
                )
            keep[pos] = False
        ok = keep & inside
        sub_lon[ok], sub_lat[ok] = src_lon[ok], src_lat[ok]
        precision = np.full(self.n, "", dtype=object)
        precision[ok] = "coordonnees_fournies"
        return sub_lon, sub_lat, precision

    def _in_zone(self, mask, lon, lat, *, given: bool) -> np.ndarray:
        """Mask of rows to keep; rows of ``mask`` outside the zone are counted hors_zone."""
        out = np.ones(self.n, bool)
        rows = np.flatnonzero(mask)
        if given:
            located = rows[np.isfinite(lon[rows])]
            unlocated = rows[~np.isfinite(lon[rows])]
            if self.departements is not None:
                # rows with no code at all go on: their address may still place them, or
                # they are rejected with their reason (never silently counted out of zone)
                far = [p for p in unlocated
                       if (self.t["code_insee"][p] or self.t["code_postal"][p])
                       and departement_of(self.t["code_insee"][p] or self.t["code_postal"][p])
                       not in self.departements]  # fmt: skip
                out[far] = False
        else:
            located = rows[np.isfinite(lon[rows])]
        if self.zone is not None and len(located):
            inside = shapely.intersects_xy(self.zone, lon[located], lat[located])
            out[located[~inside]] = False
        elif self.zone is None and self.departements is not None and given and len(located):
            far = [p for p in located if departement_of(self.t["code_insee"][p]) not in
                   self.departements]  # fmt: skip
            out[far] = False
        self.counts["hors_zone"] += int((~out).sum())
        return out

    def _geocode(self, keep, lon, lat, precision, geocoder, geocode: bool, cache) -> None:
        todo = np.flatnonzero(keep & ~np.isfinite(lon) & (self.t["adresse"] != ""))
        if not len(todo) or not geocode:
            return
        from zonesblanches.geodata.geocodage import Geocoder, address_key

        geocoder = geocoder or Geocoder(cache=cache)
        addresses = pd.DataFrame(
            {c: self.t[c][todo] for c in ("adresse", "code_postal", "commune", "code_insee")}
        )
        try:
            answer = geocoder.geocode(addresses)
        except NetworkUnavailableError as exc:
            self.warnings.append(
                f"{exc} {fr_count(len(todo), 'service placé', 'services placés')} à leur commune."
            )
            for pos in todo:
                self.geocoder_notes[pos] = "indisponible"
                self.flag(pos, "adresse", "géocodeur indisponible : placé à la commune")
            return
        self.warnings += answer.warnings
        found = answer.table.set_index("cle")
        for pos, a in zip(todo, addresses.itertuples(index=False), strict=True):
            key = address_key(a.adresse, a.code_postal, a.commune, a.code_insee)
            if key not in found.index:
                continue
            hit = found.loc[key]
            if hit["precision"]:
                lon[pos], lat[pos], precision[pos] = hit["lon"], hit["lat"], hit["precision"]
            else:
                self.geocoder_notes[pos] = hit["motif"]
                self.flag(pos, "adresse", f"{hit['motif']} : placé à la commune")

    def _commune_fallback(self, keep, lon, lat, precision) -> None:
        todo = np.flatnonzero(keep & ~np.isfinite(lon))
        frame = self.index.frame
        for pos in todo:
            code = self.t["code_insee"][pos]
            i = self.index.find(code) if code else None
            if i is None:
                if not code:
                    reason = "ni coordonnées, ni adresse géocodée, ni code INSEE de commune"
                elif departement_of(code) not in self.index.departements:
                    reason = (
                        f"commune {code} sans coordonnées hors du référentiel des communes "
                        f"embarqué (départements {', '.join(sorted(self.index.departements))}) "
                        "et adresse non géocodée"
                    )
                else:
                    reason = f"code INSEE {code} inconnu"
                note = self.geocoder_notes.get(pos)
                self.reject(pos, "code_insee", reason + (f" ; géocodeur : {note}" if note else ""))
                keep[pos] = False
                continue
            lon[pos], lat[pos] = frame["lon"].iat[i], frame["lat"].iat[i]
            precision[pos] = "commune"
        n = len(todo) - int((~keep[todo]).sum()) if len(todo) else 0
        if n:
            self.warnings.append(
                f"{fr_count(n, 'service placé', 'services placés')} au point de leur commune "
                "(ni coordonnées ni adresse géocodée)."
            )

    def _check_declared_commune(self, keep, lon, lat, precision) -> None:
        rows = np.flatnonzero(keep & (precision == "coordonnees_fournies"))
        declared = np.array([self.index.find(self.t["code_insee"][p]) for p in rows], dtype=object)
        known = np.array([d is not None for d in declared], dtype=bool)
        rows, declared = rows[known], declared[known].astype(int)
        frame = self.index.frame
        if not len(rows) or frame.geometry.iloc[0].geom_type == "Point":
            return
        polys = frame.geometry.values[declared]
        inside = shapely.intersects_xy(polys, lon[rows], lat[rows])
        rows, declared = rows[~inside], declared[~inside]
        where = self.index.containing(lon[rows], lat[rows])
        for pos, d, i in zip(rows, declared, where, strict=True):
            there = (
                f"{frame['nom'].iat[i]} ({frame['code_insee'].iat[i]})"
                if i >= 0
                else "hors des communes du référentiel embarqué"
            )
            self.flag(
                pos,
                "code_insee, longitude, latitude",
                f"commune déclarée {frame['nom'].iat[d]} ({frame['code_insee'].iat[d]}), "
                f"coordonnées {'à ' if i >= 0 else ''}{there} : coordonnées gardées",
            )
        if len(rows):
            self.warnings.append(
                f"{fr_count(len(rows), 'service a', 'services ont')} des coordonnées hors de "
                "la commune déclarée : coordonnées gardées, lignes signalées."
            )

    # -- output --------------------------------------------------------------------------------

    def _build(self, keep, cats, rules, them, lon, lat, precision) -> gpd.GeoDataFrame:
        t, rows = self.t, np.flatnonzero(keep)
        dates = pd.to_datetime(pd.Series(t["date_maj"][rows]), errors="coerce", format="mixed")
        data = {
            "service_id": t["id"][rows],
            "nom": t["nom"][rows],
            "categorie": cats[rows],
            "regle_categorie": rules[rows],
            "commune": t["commune"][rows],
            "code_insee": t["code_insee"][rows],
            "code_postal": t["code_postal"][rows],
            "adresse": t["adresse"][rows],
            "statut": "",
            "date_maj": [d.date().isoformat() if pd.notna(d) else "" for d in dates],
            "source": t["source"][rows],
            "sources": t["source"][rows],
            "score_qualite": _text_numbers(t["score_qualite"][rows]),
            "lien_source": t["lien_source"][rows],
            "id_data_inclusion": t["id"][rows],
            "structure_id": t["structure_id"][rows],
            "siret": "",
            "reseaux_porteurs": "",
            "type": t["type"][rows],
            "thematiques": [
                "; ".join(x for x in them[p] if x.startswith("mobilite--")) for p in rows
            ],  # fmt: skip
            "precision": precision[rows],
            "doublons": 0,
            "_ligne": self.lines[rows],
        }
        return gpd.GeoDataFrame(
            pd.DataFrame(data), geometry=gpd.points_from_xy(lon[rows], lat[rows]), crs=WGS84
        )


def _text_numbers(values: np.ndarray) -> np.ndarray:
    series = pd.Series(values, dtype=object).astype(str).str.strip().str.replace(",", ".")
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def _no_category_reason(rule: str, thematiques: list[str]) -> str:
    mob = ", ".join(c for c in thematiques if c.startswith("mobilite--"))
    if rule == "financer":
        return f"aucune catégorie du projet : aide financière, pas un lieu où se rendre ({mob})"
    if rule == "douce-sans-indice":
        return (
            "aucune catégorie du projet : « mobilité douce, partagée ou collective » sans indice "
            f"dans le nom (ni vélo, ni transport) ({mob})"
        )
    return f"aucune catégorie du projet pour ces thématiques ({mob})"
