"""Rebuild the data·inclusion and BPE test files (see SOURCE.md). Run from the project root:
``PYTHONPATH=. python tests/data/data_inclusion/build_fixtures.py``.

Rows are written in the published schema of data·inclusion's ``services`` table (columns of
pipeline/dbt/models/marts/v1/_models.yml; list columns as real lists in parquet, in their Python
text form in csv, as pandas writes them).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from zonesblanches.geodata.reference import load_communes

HERE = Path(__file__).parent
COM = load_communes().set_index("code_insee")

COLUMNS = [
    "id", "structure_id", "source", "nom", "conditions_acces", "description", "type",
    "thematiques", "frais", "frais_precisions", "publics", "publics_precisions", "commune",
    "code_postal", "code_insee", "adresse", "complement_adresse", "longitude", "latitude",
    "horaires_accueil", "lien_source", "telephone", "courriel", "contact_nom_prenom", "date_maj",
    "lien_mobilisation", "mobilisable_par", "mobilisation_precisions", "modes_accueil",
    "modes_mobilisation", "zone_eligibilite", "volume_horaire_hebdomadaire", "nombre_semaines",
    "score_qualite",
]  # fmt: skip

ACC, REP, ACCOMP = ("mobilite--acceder-a-un-vehicule", "mobilite--entretenir-reparer-son-vehicule",
                    "mobilite--etre-accompagne-dans-son-parcours-mobilite")  # fmt: skip
FIN, DOUCE, PERMIS = (
    "mobilite--financer-ma-mobilite",
    "mobilite--mobilite-douce-partagee-collective",
    "mobilite--preparer-un-permis",
)


def point(code: str, dx_m: float = 0.0) -> tuple[float, float]:
    """The bundled interior point of a commune, moved dx_m metres east (1e-5° lon ≈ 0.71 m)."""
    return round(COM.loc[code, "lon"] + dx_m / 71_000, 6), round(COM.loc[code, "lat"], 6)


def svc(id, structure, source, nom, type_, them, code, *, commune=None, cp="", adresse="",
        xy=None, modes=("en-presentiel",), date="2025-02-10", score=0.6, lien=""):  # fmt: skip
    lon, lat = xy if xy else (None, None)
    row = dict.fromkeys(COLUMNS)
    row.update(
        id=id, structure_id=structure, source=source, nom=nom, type=type_, thematiques=list(them),
        publics=["tous-publics"], commune=commune or (COM.loc[code, "nom"] if code in COM.index
                                                      else ""),
        code_postal=cp, code_insee=code, adresse=adresse, longitude=lon, latitude=lat,
        lien_source=lien or f"https://example.invalid/{id}", date_maj=pd.Timestamp(date).date(),
        modes_accueil=list(modes), mobilisable_par=["professionnels"], modes_mobilisation=[],
        zone_eligibilite=[code[:2]] if code else [], score_qualite=score,
    )  # fmt: skip
    return row


ROWS = [
    # 2: a France Travail « Mes aides » garage (real registry service HDF-002, Lens)
    svc(
        "mes-aides--gsbm",
        "mes-aides--s-gsbm",
        "mes-aides",
        "Garage Solidaire du Bassin Minier (Initiative Solidaire)",
        "aide-materielle",
        [ACC, REP],
        "62498",
        cp="62300",
        xy=point("62498"),
        score=0.8,
    ),
    # 3: the same garage published by another source, 20 m away: merged (same name)
    svc(
        "dora--gsbm",
        "dora--s-gsbm",
        "dora",
        "Garage solidaire du bassin minier (Initiative Solidaire)",
        "aide-materielle",
        [REP],
        "62498",
        xy=point("62498", 20),
        score=0.5,
    ),
    # 4: the same structure's rental service at the same point: another category, kept
    svc(
        "dora--gsbm-loc",
        "mes-aides--s-gsbm",
        "dora",
        "Location de véhicules",
        "aide-materielle",
        [ACC],
        "62498",
        xy=point("62498"),
        score=0.5,
        date="2024-03-01",
    ),
    # 5, 6: Garage Solidaire du Hainaut, Denain (HDF-007): two sources, one structure, 30 m apart
    svc(
        "mes-aides--gsh",
        "mes-aides--s-gsh",
        "mes-aides",
        "Garage Solidaire du Hainaut - Denain",
        "aide-materielle",
        [REP],
        "59172",
        xy=point("59172"),
        score=0.7,
    ),
    svc(
        "mobin--gsh",
        "mes-aides--s-gsh",
        "mobin",
        "Atelier de réparation automobile du Hainaut",
        "accompagnement",
        [REP],
        "59172",
        xy=point("59172", 30),
        score=0.9,
        date="2025-06-01",
    ),
    # 7: bike workshop by name and type (HDF-006)
    svc(
        "dora--mdv",
        "dora--s-mdv",
        "dora",
        "Maison du Vélo de Valenciennes",
        "atelier",
        [DOUCE],
        "59606",
        xy=point("59606"),
    ),
    # 8: Le Biclou (HDF-012), no coordinates, an address the test geocoder does not find
    svc(
        "dora--biclou",
        "dora--s-biclou",
        "dora",
        "Le Biclou (Insersol) - atelier de réparation solidaire",
        "atelier",
        [DOUCE],
        "59350",
        cp="59260",
        adresse="1 bis rue François Marceau",
    ),
    # 9: a v1 driving school (HDF-018), no coordinates, no address: commune point
    svc(
        "dora--aes",
        "dora--s-aes",
        "dora",
        "Auto-école sociale GrandSoissons Agglomération",
        "formation",
        [PERMIS],
        "02722",
    ),
    # 10: remote-only mobility advice (Wimoov, HDF-005)
    svc(
        "dora--wimoov-tel",
        "dora--s-wimoov",
        "dora",
        "Plateforme de mobilité de Valenciennes - conseil par téléphone",
        "information",
        [ACCOMP],
        "59606",
        modes=("a-distance",),
    ),
    # 11: the same platform on site and remote: kept
    svc(
        "dora--wimoov",
        "dora--s-wimoov",
        "dora",
        "Plateforme de mobilité de Valenciennes",
        "accompagnement",
        [ACCOMP],
        "59606",
        xy=point("59606", 200),
        modes=("en-presentiel", "a-distance"),
    ),
    # 12: a financial aid only: no category (rejected, counted)
    svc(
        "dora--aide",
        "dora--s-aes",
        "dora",
        "Aide au financement du permis",
        "aide-financiere",
        [FIN],
        "02722",
    ),
    # 13: soft mobility with no clue in the name: no category
    svc(
        "dora--autopartage",
        "dora--s-x",
        "dora",
        "Autopartage associatif",
        "aide-materielle",
        [DOUCE],
        "59606",
        xy=point("59606", 400),
    ),
    # 14: not a mobility service
    svc(
        "dora--num",
        "dora--s-x",
        "dora",
        "Atelier numérique",
        "atelier",
        ["numerique--maitriser-les-fondamentaux-du-numerique"],
        "59606",
        xy=point("59606"),
    ),
    # 15: declared Valenciennes, coordinates in Lille: kept, flagged
    svc(
        "dora--decl",
        "dora--s-decl",
        "dora",
        "ADAV - Droit au vélo (atelier)",
        "atelier",
        [DOUCE],
        "59606",
        xy=point("59350"),
    ),
    # 16: overseas (Saint-Denis, La Réunion): outside the tool's scope
    svc(
        "dora--reunion",
        "dora--s-r",
        "dora",
        "Garage solidaire (La Réunion)",
        "aide-materielle",
        [REP],
        "97411",
        commune="Saint-Denis",
        xy=(55.4504, -20.8823),
    ),
    # 17: coordinates out of France (latitude and longitude swapped by the producer)
    svc(
        "dora--swap",
        "dora--s-abb",
        "dora",
        "APFE - auto-école sociale d'Abbeville",
        "formation",
        [PERMIS],
        "80001",
        xy=(point("80001")[1], point("80001")[0]),
    ),
    # 18: old service (2019): left out by depuis=2024-01-01
    svc(
        "dora--old",
        "dora--s-cyc",
        "dora",
        "Cyclocampus - atelier vélo",
        "atelier",
        [DOUCE],
        "62119",
        xy=point("62119"),
        date="2019-05-01",
    ),
    # 19-21: addresses answered by the test geocoder with real Géoplateforme records (Paris)
    svc(
        "dora--paris-num",
        "dora--s-p1",
        "dora",
        "Auto-école associative (ligne de test)",
        "formation",
        [PERMIS],
        "75116",
        commune="Paris",
        cp="75116",
        adresse="22 Boulevard Flandrin",
    ),
    svc(
        "dora--paris-rue",
        "dora--s-p2",
        "dora",
        "Plateforme mobilité (ligne de test)",
        "accompagnement",
        [ACCOMP],
        "75104",
        commune="Paris",
        cp="75004",
        adresse="Place de l Hotel de Ville",
    ),
    # 21: the test geocoder scores this one under the threshold; commune outside the reference
    svc(
        "dora--paris-faible",
        "dora--s-p3",
        "dora",
        "Transport solidaire (ligne de test)",
        "accompagnement",
        [DOUCE],
        "75056",
        commune="Paris",
        cp="75001",
        adresse="rue vague",
    ),
    # 22: a bike rental named « vélo » (AU5V, HDF-001)
    svc(
        "dora--au5v",
        "dora--s-au5v",
        "dora",
        "AU5V - location de vélos",
        "aide-materielle",
        [DOUCE],
        "60175",
        xy=point("60175"),
    ),
]


def main() -> None:
    frame = pd.DataFrame(ROWS, columns=COLUMNS)
    frame["longitude"] = frame["longitude"].astype(float)
    frame["latitude"] = frame["latitude"].astype(float)
    frame.to_parquet(HERE / "services.parquet", index=False)
    frame.to_csv(HERE / "services.csv", index=False)
    old = pd.DataFrame(
        [
            svc("dora--lienplus", "dora--s-lp", "dora", "Lien Plus", "aide-materielle",
                ["mobilite--louer-un-vehicule"], "62100", xy=point("62100"), date="2023-01-05"),
            svc("dora--clef", "dora--s-clef", "dora", "La Clef du Permis", "formation",
                ["mobilite--preparer-son-permis-de-conduire-se-reentrainer-a-la-conduite"],
                "59606", xy=point("59606", 100), date="2023-01-05"),
        ],
        columns=COLUMNS,
    )  # fmt: skip
    old.to_csv(HERE / "services_v0.csv", index=False)
    structures = pd.DataFrame(
        {
            "id": ["mes-aides--s-gsbm", "mes-aides--s-gsh", "dora--s-wimoov"],
            "siret": ["", "", ""],
            "nom": ["Initiative Solidaire", "Garage Solidaire du Hainaut", "Wimoov"],
            "source": ["mes-aides", "mes-aides", "dora"],
            "reseaux_porteurs": [["mobin"], ["mobin"], ["wimoov"]],
        }
    )
    structures.to_parquet(HERE / "structures.parquet", index=False)
    x, y = 730_000.0, 7_020_000.0  # placeholder overwritten below from real commune points
    import pyproj

    to93 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
    bpe = []
    for code, typ in (("59606", "A304"), ("62498", "A301"), ("80001", "A304"), ("59350", "A101")):
        x, y = to93.transform(*point(code))
        bpe.append([code, typ, f"{x:.1f}", f"{y:.1f}", "Bonne"])
    bpe.append(["97411", "A304", "338000.0", "7690000.0", "Bonne"])  # overseas: local CRS
    bpe.append(["02722", "A301", "", "", ""])  # not geolocated
    pd.DataFrame(bpe, columns=["DEPCOM", "TYPEQU", "LAMBERT_X", "LAMBERT_Y", "QUALITE_XY"]).to_csv(
        HERE / "bpe_lambert93.csv", sep=";", index=False
    )
    wgs = [[c, t, *point(c)] for c, t in (("59606", "A304"), ("59172", "A301"))]
    pd.DataFrame(wgs, columns=["depcom", "typequ", "longitude", "latitude"]).to_csv(
        HERE / "bpe_wgs84.csv", sep=";", index=False
    )


if __name__ == "__main__":
    main()
