"""Time ``CoverageResult.summary`` on the whole region (bundled communes and services).

Usage: ``python scripts/bench_summary.py [--repeat 3] [--sans-boucle]``. Prints the best time of
``summary(by=...)`` per commune, per EPCI and for the whole territory, then (unless
``--sans-boucle``) the time of the former per-group Python loop for the same tables, and checks
that both give the same table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from zonesblanches.coverage.analysis import (
    CoverageResult,
    commune_demand,
    compute_coverage,
    weighted_median,
)
from zonesblanches.geodata import reference


def per_group_loop(result: CoverageResult, by: str | None) -> pd.DataFrame:
    """The former implementation of ``summary``: one Python iteration per group."""
    data = result.long()
    keys = [by] if by else ["_tout"]
    if by is None:
        data["_tout"] = result.territory or "territoire"
    elif by == "code_epci" and "nom_epci" in result.units:
        n = len(result.categories) * len(result.modes)
        data["nom_epci"] = np.tile(result.units["nom_epci"].to_numpy(), n)
        keys = ["code_epci", "nom_epci"]
    rows = []
    for key, g in data.groupby([*keys, "categorie", "mode"], sort=True):
        pop = g["population"].to_numpy(dtype=float)
        blank = g["zone_blanche"].to_numpy(dtype=bool)
        total = pop.sum()
        row = dict(zip([*keys, "categorie", "mode"], key, strict=True))
        row.update(
            seuil_min=g["seuil_min"].iloc[0],
            population=total,
            population_couverte=pop[~blank].sum(),
            part_couverte=(pop[~blank].sum() / total) if total > 0 else np.nan,
            temps_median_min=weighted_median(g["temps_min"].to_numpy(), pop),
            population_zone_blanche=pop[blank].sum(),
            unites_zone_blanche=int(blank.sum()),
        )
        rows.append(row)
    out = pd.DataFrame(rows)
    out["_c"] = out["categorie"].map({c: i for i, c in enumerate(result.categories)})
    out["_m"] = out["mode"].map({m: i for i, m in enumerate(result.modes)})
    out = out.sort_values([*keys, "_c", "_m"], kind="stable").drop(columns=["_c", "_m"])
    out = out.reset_index(drop=True)
    return out.rename(columns={"_tout": "territoire"}) if by is None else out


def best_of(repeat: int, func) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = func()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--sans-boucle", action="store_true", help="ne pas chronométrer l'ancienne boucle"
    )
    args = parser.parse_args()
    communes = reference.load_communes()
    result = compute_coverage(
        commune_demand(communes),
        reference.load_registry(),
        {"voiture": 20, "marche": 30, "velo": 15},
        territory="Hauts-de-France",
    )
    print(
        f"{len(result.units)} communes × {len(result.categories)} catégories × "
        f"{len(result.modes)} modes"
    )
    for by in ("code_insee", "code_epci", None):
        t_new, new = best_of(args.repeat, lambda by=by: result.summary(by=by))
        line = f"summary(by={by!r}) : {len(new)} lignes, {t_new:.3f} s"
        if not args.sans_boucle:
            t_old, old = best_of(1, lambda by=by: per_group_loop(result, by))
            pd.testing.assert_frame_equal(new, old, check_exact=True)
            line += f" (boucle par groupe : {t_old:.3f} s, tables identiques)"
        print(line)


if __name__ == "__main__":
    main()
