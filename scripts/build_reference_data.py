#!/usr/bin/env python
"""Build the reference data bundled in ``zonesblanches/geodata/data/`` from ``../shared/data``.

Run from the project root: ``python scripts/build_reference_data.py [--shared ../shared]``.
Every transformation is written here; the outputs are committed so users never need ``shared``.

Steps
-----
1. Communes of Hauts-de-France in the 2026 geography (COG 2026, ``@etalab/decoupage-administratif``
   6.0.0): code, name, département, postcodes, population municipale 2023, EPCI.
2. Geometry: the 2024 commune contours (mathieulebasic/france-geojson, IGN-derived). The six 2024
   codes merged in 2025 are dissolved into their 2026 commune using ``anciensCodes``. Coordinates
   are rounded to 5 decimals (about 1 m), geometries made valid.
3. An interior point per commune (pole of inaccessibility computed in Lambert-93, 10 m
   tolerance), guaranteed inside the commune; it carries the commune's population and serves to
   geocode services known only by their commune.
4. EPCI (the 92 touching the region) and the 5 départements, dissolved from their member communes
   inside the region.
5. Former communes (communes déléguées / associées and merged codes) with their 2026 commune, so
   that a services file naming « Hellemmes » or an old code still finds its commune.
6. The curated service registry, geocoded at the commune's interior point, with a ``precision``
   field (``commune``) and a stable ``service_id``.
7. The provenance manifest (``provenance.json``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import Point
from shapely.ops import polylabel

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "zonesblanches" / "geodata" / "data"
REGION = "32"
DEPARTEMENTS = ["02", "59", "60", "62", "80"]
PRECISION = 1e-5  # degrees, about 1 m


def read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def build_communes(shared: Path) -> gpd.GeoDataFrame:
    ref = shared / "data" / "reference"
    communes = read_json(ref / "decoupage-administratif-6.0.0" / "communes.json")
    epcis = read_json(ref / "decoupage-administratif-6.0.0" / "epci.json")
    current = [c for c in communes if c.get("region") == REGION and c["type"] == "commune-actuelle"]
    epci_of = {}
    for e in epcis:
        for m in e["membres"]:
            epci_of[m["code"]] = e
    # 2024 code -> 2026 code (a code absent from 2026 was merged into the commune listing it).
    to_2026 = {c["code"]: c["code"] for c in current}
    for c in current:
        for old in c.get("anciensCodes", []) or []:
            to_2026.setdefault(old, c["code"])

    frames = []
    for dep in DEPARTEMENTS:
        g = gpd.read_file(ref / "contours-2024-hdf" / "communes" / f"dep{dep}.geojson")
        frames.append(g)
    contours = pd.concat(frames, ignore_index=True)
    contours["code_2024"] = contours["code_territoire"].str.removeprefix("com")
    unknown = sorted(set(contours["code_2024"]) - set(to_2026))
    if unknown:
        sys.exit(f"codes 2024 sans commune 2026 : {unknown}")
    contours["code_insee"] = contours["code_2024"].map(to_2026)
    merged = contours.loc[
        contours["code_2024"] != contours["code_insee"], ["code_2024", "code_insee"]
    ]
    print(f"communes 2024 fusionnées en 2025 : {merged.to_dict('records')}")

    rows = []
    for c in current:
        e = epci_of.get(c["code"])
        rows.append(
            {
                "code_insee": c["code"],
                "nom": c["nom"],
                "code_departement": c["departement"],
                "codes_postaux": ";".join(c.get("codesPostaux", [])),
                "population": int(c.get("population", 0)),
                "code_epci": e["code"] if e else "",
                "nom_epci": e["nom"] if e else "",
                "type_epci": e["type"] if e else "",
            }
        )
    table = pd.DataFrame(rows).sort_values("code_insee").reset_index(drop=True)
    dissolved = contours[["code_insee", "geometry"]].dissolve(by="code_insee").geometry
    dissolved = gpd.GeoSeries(
        shapely.make_valid(shapely.set_precision(dissolved.values, PRECISION)),
        index=dissolved.index,
        crs="EPSG:4326",
    )
    table["geometry"] = table["code_insee"].map(dissolved)
    out = gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326")
    # Keep polygonal parts only (make_valid may return collections with slivers).
    out["geometry"] = out.geometry.apply(_polygonal)
    # Interior point: pole of inaccessibility in Lambert-93, then back to WGS84 and checked.
    l93 = out.to_crs("EPSG:2154").geometry
    poles = gpd.GeoSeries(
        [polylabel(_largest_part(g), tolerance=10.0) for g in l93], crs="EPSG:2154"
    ).to_crs("EPSG:4326")
    lon = poles.x.round(6)
    lat = poles.y.round(6)
    for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
        if not out.geometry.iloc[i].contains(Point(x, y)):
            p = out.geometry.iloc[i].representative_point()
            lon.iloc[i], lat.iloc[i] = round(p.x, 6), round(p.y, 6)
            assert out.geometry.iloc[i].contains(Point(lon.iloc[i], lat.iloc[i]))
    out.insert(len(out.columns) - 1, "lon", lon.values)
    out.insert(len(out.columns) - 1, "lat", lat.values)
    return out


def _largest_part(g):
    return g if g.geom_type == "Polygon" else max(g.geoms, key=lambda p: p.area)


def _polygonal(g):
    if g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    parts = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)


def build_former_communes(shared: Path, communes: gpd.GeoDataFrame) -> pd.DataFrame:
    ref = shared / "data" / "reference" / "decoupage-administratif-6.0.0"
    all_communes = read_json(ref / "communes.json")
    current = set(communes["code_insee"])
    rows = []
    for c in all_communes:
        if c["type"] in ("commune-deleguee", "commune-associee") and c.get("chefLieu") in current:
            rows.append(
                {"code": c["code"], "nom": c["nom"], "type": c["type"], "code_insee": c["chefLieu"]}
            )
        if c["type"] == "commune-actuelle" and c["code"] in current:
            for old in c.get("anciensCodes", []) or []:
                rows.append(
                    {"code": old, "nom": "", "type": "code-ancien", "code_insee": c["code"]}
                )
    out = pd.DataFrame(rows).drop_duplicates()
    # Merged codes carry no name in the COG list: take it from the 2018 ADMIN EXPRESS communes.
    names_2018 = gpd.read_file(
        shared
        / "data"
        / "reference"
        / "admin-express-cog2018-hdf"
        / "communes-hauts-de-france.geojson",
        columns=["code", "nom"],
        ignore_geometry=True,
    ).set_index("code")["nom"]
    missing = out["nom"] == ""
    out.loc[missing, "nom"] = out.loc[missing, "code"].map(names_2018).fillna("")
    return out.sort_values(["code", "type"]).reset_index(drop=True)


def build_epci(shared: Path, communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    epcis = {
        e["code"]: e
        for e in read_json(
            shared / "data" / "reference" / "decoupage-administratif-6.0.0" / "epci.json"
        )
    }
    grouped = communes.dissolve(
        by="code_epci", aggfunc={"population": "sum", "code_insee": "count"}
    ).rename(columns={"code_insee": "n_communes_region"})
    grouped["geometry"] = shapely.make_valid(
        shapely.set_precision(grouped.geometry.values, PRECISION)
    )
    grouped["geometry"] = grouped.geometry.apply(_polygonal)
    rows = []
    for code, r in grouped.iterrows():
        e = epcis[code]
        rows.append(
            {
                "code_epci": code,
                "nom_epci": e["nom"],
                "type_epci": e["type"],
                "population": int(r["population"]),
                "n_communes_region": int(r["n_communes_region"]),
                "n_communes": len(e["membres"]),
                "population_totale_epci": int(e.get("populationMunicipale", 0)),
                "geometry": r["geometry"],
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326").sort_values("code_epci")


def build_departements(shared: Path, communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    deps = {
        d["code"]: d
        for d in read_json(
            shared / "data" / "reference" / "decoupage-administratif-6.0.0" / "departements.json"
        )
    }
    grouped = communes.dissolve(by="code_departement", aggfunc={"population": "sum"})
    grouped["geometry"] = shapely.make_valid(
        shapely.set_precision(grouped.geometry.values, PRECISION)
    )
    grouped["geometry"] = grouped.geometry.apply(_polygonal)
    out = grouped.reset_index()
    out.insert(1, "nom", out["code_departement"].map(lambda c: deps[c]["nom"]))
    return out[["code_departement", "nom", "population", "geometry"]]


def build_services(shared: Path, communes: gpd.GeoDataFrame) -> pd.DataFrame:
    path = shared / "data" / "services" / "services_mobilite_hdf.csv"
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    points = communes.set_index("code_insee")[["lon", "lat", "nom"]]
    out = []
    for i, r in enumerate(rows, start=1):
        code = r["code_insee"].zfill(5)
        if code not in points.index:
            sys.exit(f"service ligne {i + 1}: commune {code} absente")
        out.append(
            {
                "service_id": f"HDF-{i:03d}",
                "nom": r["nom"].strip(),
                "categorie": r["categorie"].strip(),
                "commune": points.at[code, "nom"],
                "code_insee": code,
                "adresse": r["adresse"].strip(),
                "statut": r["statut"].strip(),
                "date_source": r["date_source"].strip(),
                "source": r["source"].strip(),
                "notes": r["notes"].strip(),
                "precision": "commune",
                "lon": points.at[code, "lon"],
                "lat": points.at[code, "lat"],
            }
        )
    return pd.DataFrame(out)


PROVENANCE = [
    {
        "jeu": "communes",
        "fichier": "communes.geojson",
        "source": "Liste des communes : Etalab, paquet npm @etalab/decoupage-administratif 6.0.0 "
        "(COG 2026, populations légales millésime 2023). Contours : IGN (contours des "
        "communes COG 2024, via github.com/mathieulebasic/france-geojson, commit 72e7e73d).",
        "licence": "Licence Ouverte 2.0 (Etalab, IGN)",
        "date": "COG 2026 ; population municipale 2023 ; contours 2024",
        "modifications": "Communes de la région 32 ; les 6 codes 2024 fusionnés en 2025 (02311, "
        "59070, 62461, 62549, 62743, 80830) sont agrégés dans leur commune 2026 ; "
        "coordonnées arrondies à 1e-5 degré ; point intérieur (pôle "
        "d'inaccessibilité) ajouté (lon, lat).",
    },
    {
        "jeu": "epci",
        "fichier": "epci.geojson",
        "source": "Etalab @etalab/decoupage-administratif 6.0.0 (EPCI 2026 : SIREN, nom, type, "
        "membres) ; géométrie reconstituée à partir des communes.",
        "licence": "Licence Ouverte 2.0",
        "date": "2026",
        "modifications": "92 EPCI ayant au moins une commune dans la région ; contour = union des "
        "communes membres situées dans la région (deux EPCI débordent : "
        "200069722 et 247600588).",
    },
    {
        "jeu": "departements",
        "fichier": "departements.geojson",
        "source": "Etalab @etalab/decoupage-administratif 6.0.0 ; contour = union des communes.",
        "licence": "Licence Ouverte 2.0",
        "date": "2026",
        "modifications": "5 départements de la région.",
    },
    {
        "jeu": "communes_anciennes",
        "fichier": "communes_anciennes.csv",
        "source": "Etalab @etalab/decoupage-administratif 6.0.0 (communes déléguées, associées, "
        "anciens codes).",
        "licence": "Licence Ouverte 2.0",
        "date": "COG 2026",
        "modifications": "Rattachement de chaque ancienne commune à sa commune 2026.",
    },
    {
        "jeu": "services",
        "fichier": "services.csv",
        "source": "Échantillon documenté de 19 services de mobilité inclusive des Hauts-de-France, "
        "chacun avec sa source publique et sa date (colonnes source, date_source) ; "
        "taxonomie alignée sur les thématiques « mobilité » de data·inclusion "
        "(gip-inclusion/data-inclusion, MIT).",
        "licence": "Sources publiques citées ligne par ligne",
        "date": "sources de 2013 à 2026 (voir date_source)",
        "modifications": "Géocodage à la commune (point intérieur de la commune) : precision = "
        "commune ; identifiant service_id ajouté. Échantillon non exhaustif.",
    },
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)

    communes = build_communes(args.shared)
    epci = build_epci(args.shared, communes)
    deps = build_departements(args.shared, communes)
    former = build_former_communes(args.shared, communes)
    services = build_services(args.shared, communes)

    for name, frame in (("communes", communes), ("epci", epci), ("departements", deps)):
        path = OUT / f"{name}.geojson"
        path.unlink(missing_ok=True)
        frame.to_file(
            path,
            driver="GeoJSON",
            engine="pyogrio",
            layer_options={"COORDINATE_PRECISION": 6, "WRITE_NAME": "NO"},
        )
    former.to_csv(OUT / "communes_anciennes.csv", index=False, lineterminator="\n")
    services.to_csv(OUT / "services.csv", index=False, lineterminator="\n")
    with open(OUT / "provenance.json", "w", encoding="utf-8") as f:
        json.dump(PROVENANCE, f, ensure_ascii=False, indent=2)
        f.write("\n")

    print(f"{len(communes)} communes, population {communes['population'].sum():,}")
    print(
        f"{len(epci)} EPCI, {len(deps)} départements, {len(former)} anciennes communes, "
        f"{len(services)} services"
    )
    for p in sorted(OUT.iterdir()):
        print(f"  {p.name}: {p.stat().st_size / 1e6:.2f} Mo")


if __name__ == "__main__":
    main()
