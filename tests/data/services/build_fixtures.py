"""Rebuild the services test files from the bundled registry (see SOURCE.md).

Run from the project root: ``.venv/bin/python tests/data/services/build_fixtures.py``.
Every row is a real service of ``zonesblanches/geodata/data/services.csv``; the error files damage
some of them on purpose (each damage is listed in SOURCE.md).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import openpyxl
import pyproj
import shapely

from zonesblanches.geodata.categories import category_label
from zonesblanches.geodata.reference import load_communes, load_registry

HERE = Path(__file__).parent
REG = load_registry()
REG["lon"] = REG.geometry.x.round(6)
REG["lat"] = REG.geometry.y.round(6)
TO_L93 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)


def row(sid: str) -> dict:
    return REG.set_index("service_id").loc[sid].to_dict() | {"service_id": sid}


def write_csv(name: str, header: list[str], rows: list[list], *, delimiter=",", encoding="utf-8"):
    with open(HERE / name, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f, delimiter=delimiter, lineterminator="\r\n")
        w.writerow(header)
        w.writerows(rows)


def fr(v: float) -> str:
    """French decimal comma."""
    return f"{v}".replace(".", ",")


SIX = ["HDF-001", "HDF-002", "HDF-004", "HDF-009", "HDF-015", "HDF-018"]


def plain_files() -> None:
    rows = [row(s) for s in SIX]
    write_csv(
        "services_virgule_utf8.csv",
        ["id", "nom", "categorie", "commune", "code_insee", "statut", "source", "lon", "lat"],
        [
            [
                r["service_id"],
                r["nom"],
                category_label(r["categorie"]),
                r["commune"],
                r["code_insee"],
                r["statut"],
                r["source"],
                r["lon"],
                r["lat"],
            ]
            for r in rows
        ],
    )
    write_csv(
        "services_pointvirgule_latin1.csv",
        [
            "Identifiant",
            "Raison sociale",
            "Catégorie",
            "Ville",
            "Code INSEE",
            "Longitude",
            "Latitude",
        ],
        [
            [
                r["service_id"],
                r["nom"],
                category_label(r["categorie"]),
                r["commune"],
                r["code_insee"],
                fr(r["lon"]),
                fr(r["lat"]),
            ]
            for r in rows
        ],
        delimiter=";",
        encoding="cp1252",
    )
    write_csv(
        "services_tabulation_bom.txt",
        ["service_id", "Nom", "Type", "Commune", "Latitude", "Longitude"],
        [
            [r["service_id"], r["nom"], r["categorie"], r["commune"], r["lat"], r["lon"]]
            for r in rows
        ],
        delimiter="\t",
        encoding="utf-8-sig",
    )
    l93 = []
    for r in rows:
        x, y = TO_L93.transform(r["lon"], r["lat"])
        l93.append([r["service_id"], r["nom"], r["categorie"], fr(round(x, 1)), fr(round(y, 1))])
    write_csv("services_lambert93.csv", ["id", "nom", "categorie", "x", "y"], l93, delimiter=";")


def commune_only() -> None:
    """No coordinates: code INSEE (integer form, former code), name, name + postcode."""
    soissons, biclou, lens, valenciennes, liomer, anzin = (
        row(s) for s in ("HDF-018", "HDF-012", "HDF-002", "HDF-004", "HDF-010", "HDF-008")
    )
    write_csv(
        "services_communes.csv",
        ["id", "nom", "categorie", "code_insee", "commune", "cp"],
        [
            [soissons["service_id"], soissons["nom"], soissons["categorie"], "2722", "", ""],
            [biclou["service_id"], biclou["nom"], biclou["categorie"], "", "Hellemmes-Lille", ""],
            [lens["service_id"], lens["nom"], lens["categorie"], "", "LENS", "62300"],
            [
                valenciennes["service_id"],
                valenciennes["nom"],
                valenciennes["categorie"],
                "59606",
                "Valenciennes",
                "",
            ],
            [liomer["service_id"], liomer["nom"], liomer["categorie"], "", "", "80430"],
            [anzin["service_id"], anzin["nom"], anzin["categorie"], "", "", "59410"],
        ],
    )


def acceptance() -> None:
    """Issue 2's acceptance file: <script> name, swapped coordinates, unknown commune and
    category, among good rows."""
    good = [row(s) for s in ("HDF-004", "HDF-007", "HDF-008")]
    creil, denain, lens, abbeville = (row(s) for s in ("HDF-001", "HDF-007", "HDF-002", "HDF-009"))
    rows = [
        [
            r["service_id"],
            r["nom"],
            r["categorie"],
            r["commune"],
            r["code_insee"],
            r["lon"],
            r["lat"],
        ]
        for r in good
    ]
    rows += [
        [
            "HDF-001",
            "<script>alert('zonesblanches')</script>" + creil["nom"],
            creil["categorie"],
            creil["commune"],
            creil["code_insee"],
            creil["lon"],
            creil["lat"],
        ],
        [
            "HDF-002",
            lens["nom"],
            lens["categorie"],
            lens["commune"],
            lens["code_insee"],
            lens["lat"],
            lens["lon"],
        ],
        ["HDF-009", abbeville["nom"], abbeville["categorie"], "Abeville", "", "", ""],
        [
            "HDF-007b",
            denain["nom"],
            "pizzeria",
            denain["commune"],
            denain["code_insee"],
            denain["lon"],
            denain["lat"],
        ],
    ]
    write_csv(
        "acceptance.csv",
        ["service_id", "nom", "categorie", "commune", "code_insee", "lon", "lat"],
        rows,
    )


def errors() -> None:
    """One damaged row per bad-input case (see SOURCE.md)."""
    r = {s: row(s) for s in REG["service_id"]}

    def base(sid, **kw):
        d = r[sid]
        out = {
            "id": sid,
            "nom": d["nom"],
            "categorie": d["categorie"],
            "commune": d["commune"],
            "code_insee": d["code_insee"],
            "lon": d["lon"],
            "lat": d["lat"],
        } | kw
        return [out[k] for k in ("id", "nom", "categorie", "commune", "code_insee", "lon", "lat")]

    x, y = TO_L93.transform(r["HDF-013"]["lon"], r["HDF-013"]["lat"])
    rows = [
        base("HDF-003"),  # line 2: good
        base("HDF-005", nom=""),  # 3: empty name
        base("HDF-006", lat=round(r["HDF-006"]["lat"] / 10, 6)),  # 4: latitude missing a digit
        base("HDF-013", lon=round(x, 1), lat=round(y, 1)),  # 5: Lambert-93 given as lon/lat
        base("HDF-014", lon="1.90372O"),  # 6: letter O instead of zero
        base("HDF-016", lon=0, lat=0),  # 7: (0, 0)
        base("HDF-019", id="HDF-003"),  # 8: id of line 2 reused for another service
        base("HDF-003"),  # 9: exact duplicate of line 2
        base("HDF-017", lon="", lat="", code_insee="75056", commune="Paris"),  # 10: outside HdF
        base("HDF-019", lon="", lat="", code_insee="621190"),  # 11: malformed code
        base("HDF-011", lon="", lat=r["HDF-011"]["lat"]),  # 12: one coordinate only
        base("HDF-010", lon="", lat="", code_insee="", commune=""),  # 13: nowhere
    ]
    with open(HERE / "erreurs.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["id", "nom", "categorie", "commune", "code_insee", "lon", "lat"])
        w.writerows(rows)
    # line 14: decimal commas in a comma-separated file, unquoted (the row splits into 9 cells)
    d = r["HDF-015"]
    cells = [d["service_id"], d["nom"], d["categorie"], d["commune"], d["code_insee"]]
    with open(HERE / "erreurs.csv", "a", newline="", encoding="utf-8") as f:
        f.write(",".join([*cells, fr(d["lon"]), fr(d["lat"])]) + "\r\n")


def excel() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "services"
    ws.append(
        [
            "Identifiant",
            "Nom de la structure",
            "Catégorie",
            "Code INSEE",
            "Adresse",
            "Longitude",
            "Latitude",
        ]
    )
    for i, sid in enumerate(("HDF-001", "HDF-012", "HDF-015", "HDF-018")):
        d = row(sid)
        if i == 2:
            ws.append([])  # a blank row in the middle: row numbers must still match Excel's
        ws.append(
            [
                sid,
                d["nom"],
                category_label(d["categorie"]),
                int(d["code_insee"]),
                d["adresse"] or None,
                float(d["lon"]),
                float(d["lat"]),
            ]
        )
    notes = wb.create_sheet("lisez-moi")
    notes.append(["Services issus du registre embarqué de zonesblanches (voir SOURCE.md)."])
    wb.save(HERE / "services.xlsx")


def geo() -> None:
    sids = ["HDF-001", "HDF-004", "HDF-010", "HDF-013", "HDF-017"]
    frame = REG[REG["service_id"].isin(sids)][
        ["service_id", "nom", "categorie", "commune", "code_insee", "geometry"]
    ].reset_index(drop=True)
    # GeoPackage in Lambert-93, its CRS declared.
    frame.to_crs("EPSG:2154").to_file(
        HERE / "services_lambert93.gpkg", layer="services", driver="GPKG"
    )
    # GeoJSON: HDF-010 (Liomer) as its commune polygon, HDF-017 (Hucqueliers) without geometry.
    features = json.loads(frame.to_json(drop_id=True))["features"]
    communes = load_communes().set_index("code_insee")
    liomer = shapely.simplify(communes.loc["80484"].geometry, 0.001)
    for feat in features:
        sid = feat["properties"]["service_id"]
        if sid == "HDF-010":
            feat["geometry"] = shapely.geometry.mapping(liomer)
        if sid == "HDF-017":
            feat["geometry"] = None
    with open(HERE / "services.geojson", "w", encoding="utf-8") as f:
        json.dump(
            {"type": "FeatureCollection", "features": features}, f, ensure_ascii=False, indent=0
        )
    # GeoJSON with Lambert-93 coordinates and no "crs" member (a common export mistake).
    l93 = json.loads(frame.to_crs("EPSG:2154").to_json(drop_id=True))
    l93.pop("crs", None)
    with open(HERE / "services_lambert93_sans_crs.geojson", "w", encoding="utf-8") as f:
        json.dump(l93, f, ensure_ascii=False, indent=0)


if __name__ == "__main__":
    plain_files()
    commune_only()
    acceptance()
    errors()
    excel()
    geo()
