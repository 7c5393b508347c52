"""The report of a multi-département run (issue 18): ``rapport.html`` at national level.

A region's report (:func:`zonesblanches.maps.report.write_report`) names the most populated
communes without access and embeds the commune map; for all of France that would be 34,746
labels and a 60 MB page. This one gives the figures a national reader quotes: the territory's
answer for every indicator, then per région and per département for the principal indicator
(sortable tables), three figures also written as PNG for a document (départements coloured by
the share of their inhabitants without access, régions in a bar chart, the share within the
threshold per category and mode), and a link to the national map (``carte.html``) rather than a
second copy of it. The complete tables are the ``synthese_*.csv`` files beside it.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from zonesblanches._text import fr_g, fr_int, fr_pct
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.maps import style
from zonesblanches.maps._png import CM, save_figure
from zonesblanches.maps.charts import coverage_chart
from zonesblanches.maps.national import SHARE_BOUNDS, TOLERANCES_M, _indicators
from zonesblanches.maps.report import _e, _method_section, html_table, write_page
from zonesblanches.maps.tables import level_syntheses


def _levels(result: CoverageResult) -> dict:
    from zonesblanches.geodata import reference

    deps = pd.DataFrame(
        reference.load_departements(None)[["code_departement", "nom", "code_region"]]
    )
    regions = pd.DataFrame(reference.load_regions()[["code_region", "nom"]])
    deps = deps.merge(regions.rename(columns={"nom": "nom_region"}), on="code_region", how="left")
    return level_syntheses(result, deps)


def _principal_rows(table: pd.DataFrame, cat: str, mode: str) -> pd.DataFrame:
    rows = table.loc[(table["categorie"] == cat) & (table["mode"] == mode)].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rows["part_sans_acces"] = np.where(
            rows["population"] > 0, rows["population_zone_blanche"] / rows["population"], np.nan
        )
    return rows.reset_index(drop=True)


def _share_colors(shares: np.ndarray) -> list[str]:
    colors = style.class_colors(len(SHARE_BOUNDS) + 2)
    pct = 100 * np.nan_to_num(shares)
    k = np.where(pct <= 0, 0, 1 + np.searchsorted(np.asarray(SHARE_BOUNDS), pct, side="right"))
    return [colors[i] for i in k]


def departements_figure(rows: pd.DataFrame, path: Path, title: str, dpi: int) -> Path:
    """PNG map: the départements coloured by the share of their inhabitants without access
    (the classes of the national map), régions outlined."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from zonesblanches.crs import LAMBERT93
    from zonesblanches.geodata import reference

    deps = reference.load_departements(None).to_crs(LAMBERT93)
    deps = deps.merge(rows[["code_departement", "part_sans_acces"]], on="code_departement")
    deps["geometry"] = deps.geometry.simplify(TOLERANCES_M["departements"])
    regions = deps[["code_region", "geometry"]].dissolve("code_region")  # the run's part
    fig = Figure(figsize=(17 * CM, 17 * CM))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.9))
    deps.plot(ax=ax, color=_share_colors(deps["part_sans_acces"].to_numpy()), edgecolor="#555",
              linewidth=0.4)  # fmt: skip
    regions.boundary.simplify(TOLERANCES_M["regions"]).plot(ax=ax, color="#111", linewidth=0.9)
    ax.set_axis_off()
    ax.set_aspect("equal")
    colors = style.class_colors(len(SHARE_BOUNDS) + 2)
    b = SHARE_BOUNDS
    labels = ["aucun habitant", f"moins de {fr_g(b[0])} %"]
    labels += [f"{fr_g(x)} à {fr_g(y)} %" for x, y in zip(b[:-1], b[1:], strict=True)]
    labels.append(f"{fr_g(b[-1])} % ou plus")
    ax.legend(
        handles=[
            Patch(facecolor=c, edgecolor="#555", label=t)
            for c, t in zip(colors, labels, strict=True)
        ],  # fmt: skip
        loc="lower left",
        fontsize=7,
        title="Habitants sans accès",
        title_fontsize=7,
        frameon=True,
    )
    fig.suptitle(title, fontsize=9, x=0.02, ha="left")
    return save_figure(fig, path, dpi)


def regions_figure(rows: pd.DataFrame, path: Path, title: str, dpi: int) -> Path:
    """PNG bar chart: share of inhabitants without access per région, largest first."""
    from matplotlib.figure import Figure

    rows = rows.sort_values(["part_sans_acces", "nom_region"], ascending=[False, True])
    share = 100 * rows["part_sans_acces"].fillna(0).to_numpy()
    fig = Figure(figsize=(17 * CM, (1.0 * len(rows) + 3.0) * CM))
    ax = fig.add_axes((0.3, 0.08, 0.62, 0.82))
    y = np.arange(len(rows))
    ax.barh(y, share, color=_share_colors(rows["part_sans_acces"].to_numpy()), edgecolor="#333",
            linewidth=0.4)  # fmt: skip
    for p, v, n in zip(y, share, rows["population_zone_blanche"], strict=True):
        text = f"{v:.1f}".replace(".", ",") + f" % ({fr_int(n)} hab.)"
        ax.text(v + 1, p, text, va="center", fontsize=7)
    ax.set_yticks(y, rows["nom_region"].tolist(), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 125)
    ax.set_xticks([0, 25, 50, 75, 100], ["0 %", "25 %", "50 %", "75 %", "100 %"], fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title, fontsize=9, x=0.02, ha="left")
    return save_figure(fig, path, dpi)


def _figure_html(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)} Fichier : <code>figures/{_e(path.name)}</code>"
        "</figcaption></figure>"
    )


LEVEL_COLUMNS = [
    ("population", "Population", "int"),
    ("population_zone_blanche", "Habitants sans accès", "int"),
    ("part_sans_acces", "Part sans accès", "pct"),
    ("temps_median_min", "Temps médian", "time"),
]


def write_national_report(
    result: CoverageResult,
    folder: str | Path,
    principal: tuple[str, str] | None = None,
    *,
    run_date: dt.date | str | None = None,
    dpi: int = 150,
) -> Path:
    """Write ``rapport.html`` and ``figures/*.png`` of a multi-département run in ``folder``;
    return the report's path."""
    folder = Path(folder)
    run_date = str(run_date or dt.date.today().isoformat())
    cat, mode = principal or (result.categories[0], result.modes[0])
    indicator = next(i for i in _indicators(result) if (i["cat"], i["mode"]) == (cat, mode))
    territory = result.territory or "territoire analysé"
    title = f"Diagnostic d'accès aux services de mobilité inclusive — {territory}"
    levels = _levels(result)
    whole = _principal_rows(levels[None], cat, mode).iloc[0]
    deps = _principal_rows(levels["code_departement"], cat, mode)
    regions = _principal_rows(levels["code_region"], cat, mode)
    seuil = fr_g(indicator["seuil"])
    lead = (
        f"{fr_int(whole['population_zone_blanche'])} habitants sur "
        f"{fr_int(whole['population'])} ({fr_pct(whole['part_sans_acces'])}) vivent à plus "
        f"de {seuil} min du plus proche service — {indicator['label'].lower()}."
    )
    worst = deps.sort_values(["part_sans_acces", "population"], ascending=[False, False]).head(5)
    worst_text = ", ".join(
        f"{r.nom_departement} ({r.code_departement}, {fr_pct(r.part_sans_acces)})"
        for r in worst.itertuples()
    )
    figdir = folder / "figures"
    figs = [
        _figure_html(
            departements_figure(
                deps,
                figdir / f"carte_departements_{cat}_{mode}.png",
                f"Part des habitants à plus de {seuil} min — {indicator['label']}",
                dpi,
            ),
            f"Par département : part des habitants sans accès, {indicator['label']}.",
        ),
        _figure_html(
            regions_figure(
                regions,
                figdir / f"regions_{cat}_{mode}.png",
                f"Part des habitants à plus de {seuil} min, par région — {indicator['label']}",
                dpi,
            ),
            f"Par région : part des habitants sans accès, {indicator['label']}.",
        ),
        _figure_html(
            coverage_chart(result, figdir / "part_couverte.png", dpi=dpi),
            "Part de la population à moins du seuil, par catégorie et mode.",
        ),
    ]
    overall = levels[None].copy()
    labels = {(i["cat"], i["mode"]): i["label"] for i in _indicators(result)}
    overall["indicateur"] = [labels[(c, m)] for c, m in zip(overall["categorie"],
                             overall["mode"], strict=True)]  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        overall["part_sans_acces"] = overall["population_zone_blanche"] / overall["population"]
    sections = [
        (
            "reponse",
            "La réponse",
            f'<p class="lead">{_e(lead)}</p><p>Départements où la part est la plus forte : '
            f"{_e(worst_text)}.</p><p class='note'>La carte interactive "
            "<a href='carte.html'><code>carte.html</code></a> (fichier voisin) montre les EPCI "
            "de tout le territoire et, à la demande, les communes d'un département.</p>",
        ),
        (
            "indicateurs",
            "Tous les indicateurs",
            html_table(
                overall,
                [("indicateur", "Indicateur", "text"), ("seuil_min", "Seuil", "minutes")]
                + LEVEL_COLUMNS,
            ),
        ),
        ("figures", "Figures pour vos documents", "".join(figs)),
        (
            "regions",
            f"Par région — {indicator['label']}",
            html_table(regions, [("nom_region", "Région", "text"), *LEVEL_COLUMNS]),
        ),
        (
            "departements",
            f"Par département — {indicator['label']}",
            html_table(
                deps,
                [
                    ("code_departement", "Code", "text"),
                    ("nom_departement", "Département", "text"),
                    *LEVEL_COLUMNS,
                ],
                caption="Cliquez sur un titre de colonne pour trier. Tous les indicateurs : "
                "synthese_departements.csv ; par EPCI : synthese.csv ; par commune : "
                "communes.csv.",
            ),
        ),
        (
            "methode",
            "Méthode et sources",
            _method_section(
                result,
                run_date,
                [
                    "carte.html",
                    "communes.csv",
                    "synthese.csv",
                    "synthese_departements.csv",
                    "synthese_regions.csv",
                    "synthese_territoire.csv",
                    "communes_zone_blanche.csv",
                    "figures/*.png",
                ],
                f"Classes de la carte nationale (EPCI, départements) : part des habitants sans "
                f"accès, {', '.join(fr_g(b) + ' %' for b in SHARE_BOUNDS)}.",
            ),
        ),
    ]
    return write_page(folder / "rapport.html", title, territory, run_date, sections)
