"""Benchmark: load and filter a national-size data·inclusion services file to one region.

The file is **synthetic** (``--rows``, default 120,000 rows, above the 100,000+ services of the
real inventory) in the published schema (every column of the ``services`` table, list columns as
real parquet lists): 4 % of rows carry a mobility thématique (drawn among the six v1 codes),
5 % of rows lie at the interior point of a Hauts-de-France commune (bundled data), the rest at
uniform random points of metropolitan France's bounding box; 10 % have no coordinates (code INSEE
only). Names, ids and dates are generated; nothing here is a real service.

Measured in the same run, so the ratios hold on a loaded machine:

- ``pyarrow.parquet.read_table`` of the whole file (the I/O + decoding floor);
- ``load_data_inclusion(path, zone=Hauts-de-France)``, offline (no geocoding): read the used
  columns, keep mobility services, classify, locate, filter to the region, merge duplicates;
- peak resident memory of the process (psutil), target ≤ 1 GB, and the time target ≤ 5 s.

Run::

    PYTHONPATH=. .venv/bin/python scripts/bench_data_inclusion.py [--rows 120000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

os.environ.setdefault("ZONESBLANCHES_HORS_LIGNE", "1")

from zonesblanches.geodata import data_inclusion as di  # noqa: E402
from zonesblanches.geodata.reference import load_communes, load_departements  # noqa: E402
from zonesblanches.geodata.thematiques import V1_THEMATIQUES  # noqa: E402

OTHER = [
    "numerique--acceder-a-des-services-en-ligne",
    "trouver-un-emploi--repondre-a-des-offres-demploi",
    "logement-hebergement--louer-un-logement",
    "sante--acces-aux-soins",
    "famille--garde-denfants",
]
TYPES = ["accompagnement", "aide-financiere", "aide-materielle", "atelier", "formation",
         "information"]  # fmt: skip
NAMES = ["Garage solidaire", "Atelier vélo", "Auto-école sociale", "Plateforme mobilité",
         "Location de scooters", "Transport solidaire", "Accompagnement", "Aide"]  # fmt: skip


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    com = load_communes()
    mobility = rng.random(rows) < 0.04
    them = [
        [str(rng.choice(list(V1_THEMATIQUES)))] if m else [str(rng.choice(OTHER))] for m in mobility
    ]
    in_hdf = rng.random(rows) < 0.05
    pick = rng.integers(0, len(com), rows)
    lon = np.where(in_hdf, com["lon"].to_numpy()[pick], rng.uniform(-4.8, 8.2, rows))
    lat = np.where(in_hdf, com["lat"].to_numpy()[pick], rng.uniform(42.3, 51.0, rows))
    code = np.where(in_hdf, com["code_insee"].to_numpy()[pick],
                    [f"{d:02d}{n:03d}" for d, n in zip(rng.integers(1, 96, rows),
                                                         rng.integers(1, 900, rows),
                                                         strict=True)])  # fmt: skip
    no_xy = rng.random(rows) < 0.10
    lon[no_xy] = np.nan
    lat[no_xy] = np.nan
    ids = [f"synth--{i:06d}" for i in range(rows)]
    frame = pd.DataFrame(
        {
            "id": ids,
            "structure_id": [f"synth--s{i // 2:06d}" for i in range(rows)],
            "source": rng.choice(["dora", "mes-aides", "france-travail", "action-logement"], rows),
            "nom": [f"{NAMES[k]} {i}" for i, k in enumerate(rng.integers(0, len(NAMES), rows))],
            "conditions_acces": "",
            "description": "Service synthétique pour le banc d'essai (aucun service réel).",
            "type": rng.choice(TYPES, rows),
            "thematiques": them,
            "frais": "gratuit",
            "frais_precisions": "",
            "publics": [["tous-publics"]] * rows,
            "publics_precisions": "",
            "commune": "",
            "code_postal": "",
            "code_insee": code,
            "adresse": "",
            "complement_adresse": "",
            "longitude": lon,
            "latitude": lat,
            "horaires_accueil": "",
            "lien_source": "",
            "telephone": "",
            "courriel": "",
            "contact_nom_prenom": "",
            "date_maj": pd.to_datetime("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 2000, rows), unit="D"),
            "lien_mobilisation": "",
            "mobilisable_par": [["professionnels"]] * rows,
            "mobilisation_precisions": "",
            "modes_accueil": [
                ["en-presentiel"] if r > 0.1 else ["a-distance"] for r in rng.random(rows)
            ],  # fmt: skip
            "modes_mobilisation": [["envoyer-un-courriel"]] * rows,
            "zone_eligibilite": [[c[:2]] for c in code],
            "volume_horaire_hebdomadaire": np.nan,
            "nombre_semaines": np.nan,
            "score_qualite": rng.random(rows).round(2),
        }
    )
    frame["date_maj"] = frame["date_maj"].dt.date
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=120_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    proc = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "services.parquet"
        t0 = time.perf_counter()
        synthetic(args.rows).to_parquet(path, index=False)
        print(f"fichier synthétique : {args.rows} lignes, {path.stat().st_size / 1e6:.1f} Mo, "
              f"écrit en {time.perf_counter() - t0:.1f} s")  # fmt: skip
        region = load_departements().union_all()
        os.environ["ZONESBLANCHES_CACHE"] = tmp
        import pyarrow.parquet as pq

        floor, full = [], []
        base_rss = proc.memory_info().rss
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            pq.read_table(path)
            floor.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = di.load_data_inclusion(path, zone=region, geocode=False)
            full.append(time.perf_counter() - t0)
        peak = proc.memory_info().rss
        if hasattr(proc, "memory_full_info"):
            import resource

            peak = max(peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        c = result.counts
        print(f"comptes : {c}")
        print(f"pyarrow read_table (tout le fichier) : {min(floor):.3f} s (meilleur de "
              f"{args.repeat})")  # fmt: skip
        print(f"load_data_inclusion + filtre Hauts-de-France : {min(full):.3f} s "
              f"(ratio {min(full) / min(floor):.1f}× la lecture brute ; cible ≤ 5 s : "
              f"{'tenue' if min(full) <= 5 else 'NON tenue'})")  # fmt: skip
        print(f"mémoire résidente maximale du processus : {peak / 2**20:.0f} Mio "
              f"(avant les mesures : {base_rss / 2**20:.0f} Mio ; cible ≤ 1 Go : "
              f"{'tenue' if peak <= 2**30 else 'NON tenue'})")  # fmt: skip
        print(f"machine : {os.cpu_count()} cœurs, charge moyenne {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
