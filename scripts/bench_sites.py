"""Benchmark of site suggestion: greedy (lazy) and exact (CBC), and spopt's MCLP if installed.

Instance (Hauts-de-France, straight-line model):

- **demand**: ``--points`` *synthetic* points (default 100,000) drawn uniformly inside the real
  commune polygons, as many per commune as its share of the real population (population
  municipale 2023, at least one per inhabited commune); each point carries its commune's
  population divided by its number of points. The points are synthetic; the populations they
  add up to are real. They are not a substitute for the INSEE grid.
- **candidates**: one per commune (3,782) plus a grid over the inhabited cells (``--cell-m``,
  default 3 km): over 5,000 in all.
- **existing services**: the bundled registry; category ``--categorie`` (default garage
  solidaire), mode ``--mode`` (default car) and threshold ``--seuil`` (default 20 min).

Run::

    .venv/bin/python scripts/bench_sites.py
    .venv/bin/python scripts/bench_sites.py --points 200000 --k 5 --time-limit 900

Printed: sizes, time of each step, objective values, the greedy bound and its gap to the exact
optimum. Then, on a smaller instance built the same way over one département (``--comparaison``,
default Pas-de-Calais), the exact solver against spopt's MCLP (``pip install spopt``) on the same
problem: spopt takes a dense demand × site cost matrix, which the regional instance would not fit
in memory (about 80,000 × 7,500). spopt is given every demand point, the candidates and the
existing services as predefined facilities (``p = existing + k``), its own formulation of
« existing services kept »; both must reach the same covered population.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zonesblanches.coverage.analysis import compute_coverage, time_col  # noqa: E402
from zonesblanches.coverage.candidates import (  # noqa: E402
    commune_candidates,
    grid_candidates,
)
from zonesblanches.coverage.maxcover import (  # noqa: E402
    exact_max_cover,
    greedy_max_cover,
    reduce_instance,
)
from zonesblanches.coverage.reach import reach_matrix  # noqa: E402
from zonesblanches.coverage.sites import suggest_sites  # noqa: E402
from zonesblanches.coverage.traveltime import StraightLineModel  # noqa: E402
from zonesblanches.crs import LAMBERT93, WGS84  # noqa: E402
from zonesblanches.geodata.reference import load_communes, load_registry  # noqa: E402
from zonesblanches.summaries import format_suggestion  # noqa: E402


def say(text: str = "") -> None:
    print(text, flush=True)


def _fr(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}".replace(",", "\u202f").replace(".", ",")


def _int(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u202f")


def synthetic_demand(communes: gpd.GeoDataFrame, n_points: int, seed: int) -> gpd.GeoDataFrame:
    """Synthetic points inside real commune polygons, weighted by real commune populations."""
    rng = np.random.default_rng(seed)
    pop = communes["population"].to_numpy(dtype=float)
    inhabited = pop > 0
    share = pop / pop.sum() * n_points
    counts = np.floor(share).astype(np.int64)
    # Largest remainders up to n_points, then at least one point per inhabited commune.
    missing = n_points - counts.sum()
    if missing > 0:
        counts[np.argsort(-(share - counts))[:missing]] += 1
    counts[inhabited & (counts == 0)] = 1
    polys = communes.to_crs(LAMBERT93).geometry.to_numpy()
    bounds = shapely.bounds(polys)
    owner = np.repeat(np.arange(len(polys)), counts)
    x = np.full(len(owner), np.nan)
    y = np.full(len(owner), np.nan)
    todo = np.arange(len(owner))
    while len(todo):
        b = bounds[owner[todo]]
        cx = rng.uniform(b[:, 0], b[:, 2])
        cy = rng.uniform(b[:, 1], b[:, 3])
        ok = shapely.contains_xy(polys[owner[todo]], cx, cy)
        x[todo[ok]], y[todo[ok]] = cx[ok], cy[ok]
        todo = todo[~ok]
    weight = pop[owner] / counts[owner]
    frame = pd.DataFrame(
        {
            "unit_id": [f"P{i}" for i in range(len(owner))],
            "code_insee": communes["code_insee"].to_numpy()[owner],
            "code_epci": communes["code_epci"].to_numpy()[owner],
            "population": weight,
        }
    )
    geometry = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=LAMBERT93).to_crs(WGS84)
    return gpd.GeoDataFrame(frame, geometry=geometry.to_numpy(), crs=WGS84)


def build_instance(communes, n_points, cell_m, seed, categorie, mode, seuil, label):
    """Synthetic demand over real communes, candidates, and the coverage with existing services."""
    t0 = time.perf_counter()
    demand = synthetic_demand(communes, n_points, seed)
    t_demand = time.perf_counter() - t0
    say(
        f"Demande SYNTHÉTIQUE : {_int(len(demand))} points tirés dans les polygones réels des "
        f"{_int(len(communes))} communes, pondérés par leur population réelle "
        f"({_int(demand['population'].sum())} habitants) — {_fr(t_demand)} s"
    )
    t0 = time.perf_counter()
    candidates = pd.concat(
        [commune_candidates(communes), grid_candidates(demand, communes, cell_m=cell_m)],
        ignore_index=True,
    )
    candidates = gpd.GeoDataFrame(candidates, geometry="geometry", crs=WGS84)
    counts = candidates["origine"].value_counts()
    say(
        f"Sites candidats : {_int(len(candidates))} ({_int(counts.get('commune', 0))} communes, "
        f"{_int(counts.get('grille', 0))} carreaux de {_fr(cell_m / 1000, 0)} km) — "
        f"{_fr(time.perf_counter() - t0)} s"
    )
    model = StraightLineModel(mode)
    services = load_registry()
    t0 = time.perf_counter()
    result = compute_coverage(
        demand,
        services,
        {mode: seuil},
        categories=[categorie],
        models={mode: model},
        territory=f"{label} (demande synthétique)",
        unit_kind="carreau",
    )
    covered = result.units[time_col(categorie, mode)].to_numpy() <= seuil
    pop = result.units["population"].to_numpy(float)
    say(
        f"Couverture actuelle ({categorie}, {mode}, {_fr(seuil, 0)} min) : "
        f"{_int(pop[covered].sum())} habitants ; {_int((~covered).sum())} points hors de "
        f"portée — {_fr(time.perf_counter() - t0)} s"
    )
    return result, candidates, model, covered, pop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="points de demande")
    parser.add_argument("--cell-m", type=float, default=3000.0, help="carreaux candidats (m)")
    parser.add_argument("--k", type=int, default=3, help="nombre de sites")
    parser.add_argument("--categorie", default="garage_solidaire")
    parser.add_argument("--mode", default="voiture")
    parser.add_argument("--seuil", type=float, default=20.0, help="minutes")
    parser.add_argument("--time-limit", type=float, default=600.0, help="limite de CBC (s)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-exact", action="store_true", help="sans résolution exacte")
    parser.add_argument(
        "--comparaison", default="62", help="département de la comparaison avec spopt, ou aucune"
    )
    args = parser.parse_args(argv)

    say(
        f"Machine : {platform.machine()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cœur(s)"
    )
    communes = load_communes()
    say("\n== Instance régionale ==")
    result, candidates, model, covered, pop = build_instance(
        communes,
        args.points,
        args.cell_m,
        args.seed,
        args.categorie,
        args.mode,
        args.seuil,
        "Hauts-de-France",
    )

    # End to end, as a user would call it (reach + greedy + tables).
    t0 = time.perf_counter()
    s = suggest_sites(
        result, args.categorie, args.mode, args.k, candidates=candidates, progress=False
    )
    t_suggest = time.perf_counter() - t0
    say(
        f"\nsuggest_sites (glouton, k = {args.k}, de bout en bout) : {_fr(t_suggest)} s "
        "(objectif : moins de 30 s)"
    )
    # The steps separately, on the same instance.
    open_units = np.flatnonzero(~covered)
    t0 = time.perf_counter()
    reach = reach_matrix(model, candidates, result.units.iloc[open_units], args.seuil)
    t_reach = time.perf_counter() - t0
    w = pop[open_units]
    say(
        f"  dont matrice d'accessibilité : {_int(reach.shape[0])} × {_int(reach.shape[1])}, "
        f"{_int(reach.nnz)} couples — {_fr(t_reach)} s"
    )
    greedy = greedy_max_cover(reach, w, args.k)
    say(
        f"  dont glouton paresseux : {_fr(greedy.seconds, 3)} s, {_int(greedy.evaluations)} "
        f"évaluations de gain ({_int(reach.shape[0])} initiales), gain {_int(greedy.value)} "
        f"habitants, borne supérieure {_int(greedy.upper_bound)}"
    )
    say()
    say(format_suggestion(s))
    if not args.no_exact:
        exact_report(reach, w, greedy, args.k, args.time_limit)

    if args.comparaison.lower() not in ("aucune", "none", ""):
        dep = args.comparaison
        sub = communes[communes["code_departement"] == dep].reset_index(drop=True)
        if len(sub) == 0:
            say(f"Département inconnu pour la comparaison : {dep}")
            return 1
        share = sub["population"].sum() / communes["population"].sum()
        say(f"\n== Comparaison avec spopt : département {dep} ==")
        result, candidates, model, covered, pop = build_instance(
            sub,
            int(round(args.points * share)),
            args.cell_m,
            args.seed,
            args.categorie,
            args.mode,
            args.seuil,
            f"département {dep}",
        )
        open_units = np.flatnonzero(~covered)
        reach = reach_matrix(model, candidates, result.units.iloc[open_units], args.seuil)
        w = pop[open_units]
        greedy = greedy_max_cover(reach, w, args.k)
        exact = exact_report(reach, w, greedy, args.k, args.time_limit)
        spopt_report(result, candidates, model, args, pop[covered].sum() + exact.value)
    return 0


def exact_report(reach, w, greedy, k: int, time_limit: float):
    """Reduce, solve exactly with CBC, print the times and the greedy gap."""
    t0 = time.perf_counter()
    red, _, _ = reduce_instance(reach, w)
    t_red = time.perf_counter() - t0
    say(
        f"Instance réduite pour la résolution exacte : {_int(red.shape[1])} groupes d'unités "
        f"(sur {_int(reach.shape[1])}), {_int(red.nnz)} couples — {_fr(t_red)} s"
    )
    exact = exact_max_cover(
        reach, w, k, time_limit_s=time_limit, warm_start=greedy.picks, max_pairs=None
    )
    gap = max(0.0, (exact.value - greedy.value) / exact.value) if exact.value > 0 else 0.0
    say(
        f"Exact (PuLP + CBC, réduction et construction du modèle comprises) : "
        f"{_fr(exact.seconds)} s, statut {exact.status}, gain {_int(exact.value)} habitants ; "
        f"glouton {_int(greedy.value)} ({_fr(greedy.seconds, 3)} s) ; écart du glouton : "
        f"{_fr(100 * gap, 3)} %"
    )
    return exact


def spopt_report(result, candidates, model, args, exact_covered: float) -> None:
    """spopt's MCLP on the same problem: all demand points, candidates + existing services."""
    try:
        import pulp
        from spopt.locate import MCLP
    except ImportError:
        say("spopt : non installé (pip install spopt) — comparaison non faite.")
        return
    services = result.services[result.services["categorie"] == args.categorie]
    facilities = gpd.GeoSeries(list(services.geometry) + list(candidates.geometry), crs=WGS84)
    t0 = time.perf_counter()
    reach = reach_matrix(model, facilities, result.units, args.seuil, progress=False)
    cost = np.where(reach.covers.T.toarray(), 0.0, 2.0)  # 0 within reach, 2 beyond; radius 1
    t_matrix = time.perf_counter() - t0
    predefined = np.zeros(len(facilities), dtype=int)
    predefined[: len(services)] = 1
    weights = result.units["population"].to_numpy(float)
    t0 = time.perf_counter()
    mclp = MCLP.from_cost_matrix(
        cost,
        weights,
        service_radius=1.0,
        p_facilities=len(services) + args.k,
        predefined_facilities_arr=predefined,
        name="bench",
    )
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        mclp = mclp.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=args.time_limit))
    t_solve = time.perf_counter() - t0
    chosen = [j for j, var in enumerate(mclp.fac_vars) if (var.value() or 0) > 0.5]
    value = float(weights[(cost[:, chosen] <= 1.0).any(axis=1)].sum()) if chosen else 0.0
    same = abs(value - exact_covered) < 1e-6 * max(1.0, exact_covered)
    say(
        f"spopt {spopt_version()} MCLP (matrice dense {_int(cost.shape[0])} × "
        f"{_int(cost.shape[1])}, services existants imposés) : "
        f"{_fr(t_matrix + t_build + t_solve)} s (matrice {_fr(t_matrix)} s, modèle "
        f"{_fr(t_build)} s, CBC {_fr(t_solve)} s), statut {pulp.LpStatus[mclp.problem.status]}, "
        f"population couverte {_int(value)} ({'identique à' if same else 'différente de'} "
        f"l'exact : {_int(exact_covered)})"
    )


def spopt_version() -> str:
    try:
        import spopt

        return spopt.__version__
    except Exception:  # pragma: no cover
        return "?"


if __name__ == "__main__":
    raise SystemExit(main())
