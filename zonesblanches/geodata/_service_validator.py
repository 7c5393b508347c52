"""What a row of a services file says: required columns, name, category, id, statut.

The validator of :mod:`zonesblanches.geodata.services` (whose documentation gives the rules):
:class:`Validator` checks the columns, then every row, places it
(:class:`zonesblanches.geodata._service_places.Placement`), and builds the services kept, the
rejects (line, field, reason, then the row as read) and the flags.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from zonesblanches._text import fr_plural
from zonesblanches.crs import WGS84
from zonesblanches.errors import DataError
from zonesblanches.geodata._service_fields import SYNONYMS, match_columns
from zonesblanches.geodata._service_log import REJECT_COLS, norm
from zonesblanches.geodata._service_places import LOCATION, Placement
from zonesblanches.geodata._tables import RawTable
from zonesblanches.geodata.categories import CATEGORIES, category_code
from zonesblanches.geodata.communes import CommuneIndex

_REQUIRED = ("nom", "categorie")

_STATUTS = {
    "actif": "actif",
    "active": "actif",
    "a verifier": "a_verifier",
    "averifier": "a_verifier",
}


def _category_list() -> str:
    return ", ".join(f"{c.code} ({c.label})" for c in CATEGORIES.values())


class Validator(Placement):
    """Checks rows of a :class:`RawTable` and builds the services, rejects and flags."""

    def __init__(
        self,
        raw: RawTable,
        crs: pyproj.CRS | None,
        index: CommuneIndex,
        path: Path,
        geocoder=None,
        geocode: bool = True,
    ):
        super().__init__(raw, crs, index)
        self.path = path
        self.geocoder, self.geocode = geocoder, geocode
        self.cols = match_columns(list(raw.table.columns), projected=bool(crs and crs.is_projected))
        self._check_columns()

    # -- checks ---------------------------------------------------------------------------------

    def _check_columns(self) -> None:
        columns = list(self.raw.table.columns)
        missing = [f for f in _REQUIRED if f not in self.cols]
        has_coords = "lon" in self.cols and "lat" in self.cols
        located = (
            has_coords or self.raw.geometry is not None or any(f in self.cols for f in LOCATION)
        )
        if ("lon" in self.cols) != ("lat" in self.cols) and self.raw.geometry is None:
            alone = "lon" if "lon" in self.cols else "lat"
            other = "latitude (ou y)" if alone == "lon" else "longitude (ou x)"
            raise DataError(
                f"« {self.path.name} » : colonne « {self.cols[alone]} » trouvée mais pas de "
                f"colonne {other}. Colonnes du fichier : {', '.join(columns)}."
            )
        if missing or not located:
            needs = [f"{f} (ou : {', '.join(SYNONYMS[f][1:5])})" for f in missing]
            if not located:
                needs.append(
                    "une localisation : longitude/latitude (ou x/y), code_insee, commune "
                    "ou code_postal"
                )
            raise DataError(
                f"« {self.path.name} » : "
                + fr_plural(
                    len(needs),
                    "colonne obligatoire introuvable",
                    "colonnes obligatoires introuvables",
                )
                + f" : {' ; '.join(needs)}. Colonnes du fichier : {', '.join(columns)}."
            )
        used = set(self.cols.values())
        ignored = [c for c in columns if c not in used]
        if ignored:
            self.warnings.append(f"Colonnes non utilisées : {', '.join(ignored)}.")

    def run(self) -> tuple[gpd.GeoDataFrame, pd.DataFrame, pd.DataFrame]:
        for pos, cells in self.raw.formulas.items():
            for col, formula in cells:
                self.reject(
                    pos,
                    col,
                    f"formule sans valeur calculée « {formula} » : ouvrez le classeur dans Excel "
                    "ou LibreOffice et enregistrez-le (les valeurs sont alors calculées), ou "
                    "remplacez la formule par sa valeur",
                )
        for pos, cells in self.raw.extra.items():
            delim_hint = "(virgule décimale non protégée par des guillemets ?)"
            self.reject(
                pos,
                "(ligne entière)",
                f"{len(self.raw.table.columns) + len(cells)} valeurs pour "
                f"{len(self.raw.table.columns)} colonnes : séparateur dans une valeur {delim_hint}",
            )
        names = self.text("nom")
        for pos, name in enumerate(names):
            if not name:
                self.reject(pos, self.cols["nom"], "nom vide")
        categories = self._categories()
        lon, lat, precision = self._coordinates()
        if self.geocode:
            self._geocode(lon, lat, precision, self.geocoder)
        communes, codes = self._communes(lon, lat, precision)
        keep = np.array([pos not in self.problems for pos in range(self.n)], dtype=bool)
        ids = self._ids(keep)
        keep = np.array([pos not in self.problems for pos in range(self.n)], dtype=bool)
        self.kept_lines = self.raw.lines[keep]
        statut = [_STATUTS.get(norm(s).replace("_", " "), s) for s in self.text("statut")]
        source = [s or self.path.name for s in self.text("source")]
        data = {
            "service_id": ids,
            "nom": names,
            "categorie": categories,
            "commune": communes,
            "code_insee": codes,
            "adresse": self.text("adresse"),
            "statut": statut,
            "date_source": self.text("date_source"),
            "source": source,
            "notes": self.text("notes"),
            "precision": precision,
        }
        frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.items()})
        frame = frame[keep].reset_index(drop=True).astype(str)
        frame["hors_territoire"] = False
        services = gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(lon[keep], lat[keep]), crs=WGS84
        )
        return services, self._rejects(), pd.DataFrame(self.flags, columns=list(REJECT_COLS))

    def _categories(self) -> list[str]:
        col = self.cols["categorie"]
        out = []
        codes: dict[str, str | None] = {}
        for pos, label in enumerate(self.text("categorie")):
            if label not in codes:
                codes[label] = category_code(label) if label else None
            code = codes[label]
            if code is None:
                what = f"catégorie inconnue « {label} »" if label else "catégorie vide"
                self.reject(pos, col, f"{what} ; catégories possibles : {_category_list()}")
            out.append(code or "")
        return out

    def _ids(self, keep: np.ndarray) -> list[str]:
        given = self.text("service_id")
        kept_ids = [given[p] for p in np.flatnonzero(keep).tolist()]
        # Rows can be duplicates only when one has no id or an id is repeated.
        if "" in kept_ids or len(set(kept_ids)) < len(kept_ids):
            self._reject_duplicates(given, keep)
        taken = set(given)
        out = []
        for pos, sid in enumerate(given):
            if not sid:
                sid = f"U-{int(self.raw.lines[pos]):04d}"
                while sid in taken:
                    sid += "b"
                taken.add(sid)
            out.append(sid)
        return out

    def _reject_duplicates(self, given: list[str], keep: np.ndarray) -> None:
        """A repeated id (the first row is kept), or a row without id that repeats a kept row."""
        col = self.cols.get("service_id", "service_id")
        first_of_id: dict[str, int] = {}
        first_of_row: dict[int, int] = {}
        lines = self.raw.lines.tolist()
        for pos, key in enumerate(self._row_keys(col)):
            if not keep[pos]:
                continue
            line = lines[pos]
            sid = given[pos]
            if sid and sid in first_of_id:
                same = first_of_row.get(key) == first_of_id[sid]
                self.reject(
                    pos,
                    col,
                    f"identifiant « {sid} » déjà utilisé {self.raw.unit} {first_of_id[sid]}"
                    + (" (doublon exact)" if same else " (seule la première est gardée)"),
                )
                continue
            if not sid and key in first_of_row:
                self.reject(
                    pos,
                    "(ligne entière)",
                    f"doublon exact de la {self.raw.unit} {first_of_row[key]}",
                )
                continue
            if sid:
                first_of_id[sid] = line
            first_of_row.setdefault(key, line)

    def _row_keys(self, id_col: str) -> list[int]:
        """One integer per row, equal for rows whose cells other than the id (stripped text)
        and geometry are equal."""
        others = [
            [str(v).strip() for v in self.raw.table[c].tolist()]
            for c in self.raw.table.columns
            if c != id_col
        ]
        if self.raw.geometry is not None:
            others.append([g.wkt if g is not None else "" for g in self.raw.geometry])
        if not others:
            return [0] * self.n
        codes = np.column_stack([pd.factorize(np.array(o, dtype=object))[0] for o in others])
        return np.unique(codes, axis=0, return_inverse=True)[1].ravel().tolist()

    def _rejects(self) -> pd.DataFrame:
        table = self.raw.table
        rows = sorted(self.problems)
        head = pd.DataFrame(
            {
                "ligne": [int(self.raw.lines[p]) for p in rows],
                "champ": [", ".join(dict.fromkeys(c for c, _ in self.problems[p])) for p in rows],
                "motif": [" ; ".join(m for _, m in self.problems[p]) for p in rows],
            }
        )
        original = table.iloc[rows].reset_index(drop=True).astype(str)
        original.columns = [f"{c} (fichier)" if c in REJECT_COLS else c for c in original.columns]
        if self.raw.geometry is not None:
            geoms = self.raw.geometry.values[rows]
            original["geometrie"] = [g.wkt if g is not None else "" for g in geoms]
        if self.raw.extra:
            original["valeurs_en_trop"] = [" | ".join(self.raw.extra.get(p, [])) for p in rows]
        return pd.concat([head, original], axis=1)
