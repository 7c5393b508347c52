#!/usr/bin/env python
"""Build the reference data bundled in ``zonesblanches/geodata/data/`` from ``../shared/data``.

Run from the project root: ``python scripts/build_reference_data.py [--shared ../shared]``.
Every transformation is written here; the outputs are committed so users never need ``shared``.

Steps
-----
1. Communes of metropolitan France (Corsica included) in the 2026 geography (COG 2026, ``@etalab/decoupage-administratif``
   6.0.0): code, name, département, postcodes, population municipale 2023, EPCI.
2. Geometry: the 2024 commune contours (mathieulebasic/france-geojson, IGN-derived, gzip GeoJSON
   per département). The 68 2024 codes merged since are dissolved into their 2026 commune using
   ``anciensCodes``; the four Cantal communes restored in 2025 get an empty polygon. Coordinates
   are rounded to 5 decimals (about 1 m), geometries made valid.
3. An interior point per commune (pole of inaccessibility computed in Lambert-93, 10 m
   tolerance), guaranteed inside the commune; it carries the commune's population and serves to
   geocode services known only by their commune.
4. EPCI (the 1,232 with members in metropolitan France), the 96 départements and the 13 regions,
   dissolved from their communes; no further simplification (the source is already simplified),
   GeoParquet (zstd), about 13 MB in all.
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
DEFAULT_REGION = "32"
PRECISION = 1e-5  # degrees, about 1 m
# The 2025 restoration of four communes of Neussargues en Pinatelle (Cantal): the 2024 contours
# hold them inside 15141, so they get no polygon of their own (an empty geometry) and the interior
# point of the 2024 polygon they were part of.
WITHOUT_POLYGON = {"15031": "15141", "15035": "15141", "15047": "15141", "15171": "15141"}
PARQUET = {"compression": "zstd", "compression_level": 19, "index": False}


def read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _cog(shared: Path, name: str):
    return read_json(shared / "data" / "reference" / "decoupage-administratif-6.0.0" / name)


def read_contours(shared: Path) -> gpd.GeoDataFrame:
    """The 2024 commune contours of the 96 metropolitan départements (gzip GeoJSON)."""
    folder = shared / "data" / "reference" / "contours-2024-france" / "communes"
    frames = [gpd.read_file(f"/vsigzip/{p}", engine="pyogrio") for p in sorted(folder.glob("*.gz"))]
    return pd.concat(frames, ignore_index=True)


def build_communes(shared: Path) -> gpd.GeoDataFrame:
    communes = _cog(shared, "communes.json")
    epcis = _cog(shared, "epci.json")
    current = [c for c in communes if c["type"] == "commune-actuelle" and c["zone"] == "metro"]
    epci_of = {}
    for e in epcis:
        for m in e["membres"]:
            epci_of[m["code"]] = e
    # 2024 code -> 2026 code (a code absent from 2026 was merged into the commune listing it).
    to_2026 = {c["code"]: c["code"] for c in current}
    for c in current:
        for old in c.get("anciensCodes", []) or []:
            to_2026.setdefault(old, c["code"])

    contours = read_contours(shared)
    contours["code_2024"] = contours["code_territoire"].str.removeprefix("com")
    unknown = sorted(set(contours["code_2024"]) - set(to_2026))
    if unknown:
        sys.exit(f"codes 2024 sans commune 2026 : {unknown}")
    contours["code_insee"] = contours["code_2024"].map(to_2026)
    merged = contours.loc[contours["code_2024"] != contours["code_insee"], "code_2024"]
    print(f"{len(merged)} codes 2024 fusionnés dans une commune 2026")

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
                "code_region": c["region"],
            }
        )
    table = pd.DataFrame(rows).sort_values("code_insee").reset_index(drop=True)
    dissolved = contours[["code_insee", "geometry"]].dissolve(by="code_insee").geometry
    dissolved = gpd.GeoSeries(
        shapely.make_valid(shapely.set_precision(dissolved.values, PRECISION)),
        index=dissolved.index,
        crs="EPSG:4326",
    )
    missing = sorted(set(table["code_insee"]) - set(dissolved.index))
    if missing != sorted(WITHOUT_POLYGON):
        sys.exit(f"communes 2026 sans contour inattendues : {missing}")
    table["geometry"] = table["code_insee"].map(dissolved)
    out = gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326")
    has_polygon = ~out["code_insee"].isin(list(WITHOUT_POLYGON))
    # Keep polygonal parts only (make_valid may return collections with slivers).
    out.loc[has_polygon, "geometry"] = out.loc[has_polygon].geometry.apply(_polygonal)
    # Interior point: pole of inaccessibility in Lambert-93, then back to WGS84 and checked.
    l93 = out.loc[has_polygon].to_crs("EPSG:2154").geometry
    poles = gpd.GeoSeries(
        [polylabel(_largest_part(g), tolerance=10.0) for g in l93], crs="EPSG:2154"
    ).to_crs("EPSG:4326")
    lon = pd.Series(poles.x.round(6).values, index=l93.index).reindex(out.index)
    lat = pd.Series(poles.y.round(6).values, index=l93.index).reindex(out.index)
    for i in l93.index:
        g = out.geometry.loc[i]
        if not g.contains(Point(lon.loc[i], lat.loc[i])):
            p = g.representative_point()
            lon.loc[i], lat.loc[i] = round(p.x, 6), round(p.y, 6)
            assert g.contains(Point(lon.loc[i], lat.loc[i]))
    row_of = pd.Series(out.index, index=out["code_insee"])
    for code, host in WITHOUT_POLYGON.items():
        i, j = row_of[code], row_of[host]
        lon.loc[i], lat.loc[i] = lon.loc[j], lat.loc[j]
        out.loc[i, "geometry"] = shapely.Polygon()
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
    all_communes = _cog(shared, "communes.json")
    current = set(communes["code_insee"])
    rows = []
    for c in all_communes:
        if c["type"] in ("commune-deleguee", "commune-associee") and c.get("chefLieu") in current:
            rows.append(
                {"code": c["code"], "nom": c["nom"], "type": c["type"], "code_insee": c["chefLieu"]}
            )
        if c["type"] == "arrondissement-municipal" and c.get("commune") in current:
            rows.append(
                {"code": c["code"], "nom": c["nom"], "type": c["type"], "code_insee": c["commune"]}
            )
        if c["type"] == "commune-actuelle" and c["code"] in current:
            for old in c.get("anciensCodes", []) or []:
                rows.append(
                    {"code": old, "nom": "", "type": "code-ancien", "code_insee": c["code"]}
                )
    out = pd.DataFrame(rows).drop_duplicates()
    # Merged codes carry no name in the COG list: in Hauts-de-France take it from the 2018
    # ADMIN EXPRESS communes (elsewhere it stays empty).
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


def _dissolved(communes: gpd.GeoDataFrame, by: str) -> gpd.GeoDataFrame:
    grouped = communes.loc[~communes.geometry.is_empty].dissolve(
        by=by, aggfunc={"population": "sum", "code_insee": "count"}
    )
    grouped["geometry"] = shapely.make_valid(
        shapely.set_precision(grouped.geometry.values, PRECISION)
    )
    grouped["geometry"] = grouped.geometry.apply(_polygonal)
    # The communes without a contour of their own still count.
    grouped["population"] = communes.groupby(by)["population"].sum().reindex(grouped.index)
    return grouped


def build_epci(shared: Path, communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Every EPCI with a member in metropolitan France; contour = union of those members."""
    epcis = {e["code"]: e for e in _cog(shared, "epci.json")}
    members = communes.loc[communes["code_epci"] != ""]
    grouped = _dissolved(members, "code_epci")
    rows = []
    for code, r in grouped.iterrows():
        e = epcis[code]
        rows.append(
            {
                "code_epci": code,
                "nom_epci": e["nom"],
                "type_epci": e["type"],
                "n_communes": len(e["membres"]),
                "population_totale_epci": int(e.get("populationMunicipale", 0)),
                "geometry": r["geometry"],
            }
        )
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
    return out.sort_values("code_epci").reset_index(drop=True)


def build_departements(shared: Path, communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    deps = {d["code"]: d for d in _cog(shared, "departements.json")}
    out = _dissolved(communes, "code_departement").reset_index()
    out.insert(1, "nom", out["code_departement"].map(lambda c: deps[c]["nom"]))
    out.insert(2, "code_region", out["code_departement"].map(lambda c: deps[c]["region"]))
    return out[["code_departement", "nom", "code_region", "population", "geometry"]]


def build_regions(shared: Path, departements: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    regions = {r["code"]: r for r in _cog(shared, "regions.json")}
    grouped = departements.dissolve(by="code_region", aggfunc={"population": "sum"})
    grouped["geometry"] = shapely.make_valid(
        shapely.set_precision(grouped.geometry.values, PRECISION)
    )
    grouped["geometry"] = grouped.geometry.apply(_polygonal)
    out = grouped.reset_index()
    out.insert(1, "nom", out["code_region"].map(lambda c: regions[c]["nom"]))
    return out[["code_region", "nom", "population", "geometry"]]


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


TOLERANCE = (
    "Aucune simplification supplémentaire (tolérance 0) : les contours source sont déjà "
    "simplifiés par leur auteur ; coordonnées arrondies à 1e-5 degré (environ 1 m), ce qui garde "
    "les limites communes identiques d'une commune à l'autre (topologie conservée)."
)

PROVENANCE = [
    {
        "jeu": "communes",
        "fichier": "communes.parquet",
        "source": "Liste des communes : Etalab, paquet npm @etalab/decoupage-administratif 6.0.0 "
        "(COG 2026, populations légales millésime 2023). Contours : IGN (contours des "
        "communes COG 2024, via github.com/mathieulebasic/france-geojson, commit 72e7e73d).",
        "licence": "Licence Ouverte 2.0 (Etalab, IGN)",
        "date": "COG 2026 ; population municipale 2023 ; contours 2024",
        "modifications": "Les 34 746 communes de France métropolitaine (Corse comprise ; "
        "outre-mer non embarqué), GeoParquet ; les 68 codes 2024 fusionnés depuis sont agrégés "
        "dans leur commune 2026 (anciensCodes) ; les 4 communes du Cantal rétablies en 2025 "
        "(15031, 15035, 15047, 15171) n'ont pas de contour propre dans la source (géométrie "
        "vide) et reçoivent le point intérieur de 15141 qui les contenait en 2024 ; point "
        "intérieur (pôle d'inaccessibilité) ajouté (lon, lat). " + TOLERANCE,
    },
    {
        "jeu": "epci",
        "fichier": "epci.parquet",
        "source": "Etalab @etalab/decoupage-administratif 6.0.0 (EPCI 2026 : SIREN, nom, type, "
        "membres) ; géométrie reconstituée à partir des communes.",
        "licence": "Licence Ouverte 2.0",
        "date": "2026",
        "modifications": "1 232 EPCI ayant au moins une commune en France métropolitaine ; "
        "contour = union des communes membres (dissolution). " + TOLERANCE,
    },
    {
        "jeu": "departements",
        "fichier": "departements.parquet",
        "source": "Etalab @etalab/decoupage-administratif 6.0.0 ; contour = union des communes.",
        "licence": "Licence Ouverte 2.0",
        "date": "2026",
        "modifications": "96 départements métropolitains (dissolution des communes). " + TOLERANCE,
    },
    {
        "jeu": "regions",
        "fichier": "regions.parquet",
        "source": "Etalab @etalab/decoupage-administratif 6.0.0 ; contour = union des "
        "départements.",
        "licence": "Licence Ouverte 2.0",
        "date": "2026",
        "modifications": "13 régions métropolitaines (dissolution). " + TOLERANCE,
    },
    {
        "jeu": "communes_anciennes",
        "fichier": "communes_anciennes.csv",
        "source": "Etalab @etalab/decoupage-administratif 6.0.0 (communes déléguées, associées, "
        "anciens codes, arrondissements municipaux) ; noms des anciens codes des "
        "Hauts-de-France : IGN ADMIN EXPRESS COG 2018.",
        "licence": "Licence Ouverte 2.0",
        "date": "COG 2026",
        "modifications": "Rattachement de chaque ancienne commune, et de chaque arrondissement "
        "de Paris, Lyon et Marseille, à sa commune 2026.",
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
    # Built by scripts/build_land_borders.py (not by this script); kept in the manifest here.
    {
        "jeu": "frontieres_terrestres",
        "fichier": "frontieres_terrestres.geojson",
        "source": "Natural Earth 1:10m « Admin 0 – Countries » 4.1.0, redistribué en TopoJSON "
        "par le paquet npm world-atlas 2.0.2 (countries-10m.json, licence ISC) ; construit par "
        "scripts/build_land_borders.py.",
        "licence": "Domaine public (Natural Earth) ; world-atlas : ISC",
        "date": "Natural Earth 4.1.0 (2018)",
        "modifications": "Frontières terrestres de la France métropolitaine avec la Belgique, le "
        "Luxembourg, l'Allemagne, la Suisse, l'Italie, Monaco, l'Andorre et l'Espagne : arcs "
        "TopoJSON partagés par la France et chaque pays (les côtes n'en font jamais partie), "
        "décodés et arrondis à 1e-5 degré ; précision de l'ordre de 0,3 km (quantification du "
        "fichier). Sert à dire quand un territoire et sa marge touchent un pays voisin.",
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
    regions = build_regions(args.shared, deps)
    former = build_former_communes(args.shared, communes)
    services = build_services(args.shared, communes)

    for old in ("communes.geojson", "epci.geojson", "departements.geojson"):
        (OUT / old).unlink(missing_ok=True)
    frames = (("communes", communes), ("epci", epci), ("departements", deps), ("regions", regions))
    for name, frame in frames:
        frame.to_parquet(OUT / f"{name}.parquet", **PARQUET)
    former.to_csv(OUT / "communes_anciennes.csv", index=False, lineterminator="\n")
    services.to_csv(OUT / "services.csv", index=False, lineterminator="\n")
    with open(OUT / "provenance.json", "w", encoding="utf-8") as f:
        json.dump(PROVENANCE, f, ensure_ascii=False, indent=2)
        f.write("\n")

    print(f"{len(communes)} communes, population {communes['population'].sum():,}")
    print(
        f"{len(epci)} EPCI, {len(deps)} départements, {len(regions)} régions, "
        f"{len(former)} anciennes communes, {len(services)} services"
    )
    for p in sorted(OUT.iterdir()):
        print(f"  {p.name}: {p.stat().st_size / 1e6:.2f} Mo")


if __name__ == "__main__":
    main()
