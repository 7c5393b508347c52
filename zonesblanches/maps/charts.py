"""Bar charts (PNG) for reports: the share of the population within each threshold
(:func:`coverage_chart`), and the people each suggested site newly covers
(:func:`gain_curve_chart`).

Drawn with matplotlib's object API (no pyplot, no window) and written by
:func:`zonesblanches.maps._png.save_figure`: the same inputs give the same bytes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from zonesblanches._text import fr_g
from zonesblanches.coverage.analysis import CoverageResult
from zonesblanches.errors import ParameterError
from zonesblanches.geodata.categories import category_label
from zonesblanches.maps._png import CM
from zonesblanches.maps._png import save_figure as _save
from zonesblanches.modes import ALL_MODES


def coverage_chart(
    result: CoverageResult, path: str | Path, *, dpi: int = 150, pixels: list | None = None
) -> Path:
    """PNG bar chart: share of the population within the threshold, per category and mode
    (with ``pixels``, its pixels as written are appended to it, as for :func:`static_map`)."""
    table = result.summary(by=None)
    cats = list(result.categories)
    modes = list(result.modes)
    height = 0.8 / max(len(modes), 1)
    fig = Figure(figsize=(17 * CM, max(2.2, 0.75 * len(cats) + 1.4)))
    ax = fig.add_axes((0.34, 0.12, 0.6, 0.76))
    palette = ["#08519c", "#6baed6", "#c6dbef"]
    y = np.arange(len(cats))
    for j, mode in enumerate(modes):
        sub = table[table["mode"] == mode].set_index("categorie")
        share = [100 * float(sub.at[c, "part_couverte"]) if c in sub.index else 0.0 for c in cats]
        pos = y - 0.4 + height * (j + 0.5)
        label = f"{ALL_MODES[mode].label} (≤ {fr_g(result.thresholds[mode])} min)"
        ax.barh(
            pos,
            share,
            height=height * 0.92,
            color=palette[j % 3],
            label=label,
            edgecolor="#333",
            linewidth=0.4,
        )
        for p, v in zip(pos, share, strict=True):
            ax.text(v + 1, p, f"{v:.1f} %".replace(".", ","), va="center", fontsize=7)
    ax.set_yticks(y, [category_label(c) for c in cats], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.set_xticks([0, 25, 50, 75, 100], ["0 %", "25 %", "50 %", "75 %", "100 %"], fontsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, loc="lower right", frameon=True, framealpha=0.9)
    fig.suptitle(
        "Part de la population à moins du seuil du service le plus proche",
        fontsize=9.5,
        x=0.02,
        ha="left",
    )
    return _save(fig, path, dpi, pixels)


def gain_curve_chart(
    curve: pd.DataFrame, path: str | Path, *, title: str = "", dpi: int = 150
) -> Path:
    """PNG bar chart of :func:`zonesblanches.maps.tables.gain_curve`: people newly covered by
    the k-th site (bars, named by commune), and the share of the population covered after it
    (orange figures): where the bars flatten, a further site is worth less."""
    from zonesblanches._text import fr_int, fr_pct

    if not len(curve):
        raise ParameterError("Courbe de gain vide : aucun site suggéré.")
    k = curve["k"].to_numpy()
    gains = curve["population_gagnee"].to_numpy(dtype=float)
    fig = Figure(figsize=(17 * CM, 9 * CM))
    ax = fig.add_axes((0.1, 0.34, 0.86, 0.5))
    ax.bar(k, gains, color="#0072B2", edgecolor="#333", linewidth=0.4, width=0.7)
    top = max(float(gains.max()), 1.0)
    shares = curve["part_couverte"].to_numpy(float)
    for x, v, c in zip(k, gains, shares, strict=True):
        ax.text(x, v + top * 0.02, fr_int(v), ha="center", va="bottom", fontsize=7)
        ax.text(
            x, v + top * 0.09, fr_pct(c), ha="center", va="bottom", fontsize=6.5, color="#D55E00"
        )
    names = [
        f"{int(x)}. {n if len(n) <= 20 else n[:19] + '…'}"
        for x, n in zip(k, curve["nom"].astype(str), strict=True)
    ]
    ax.set_xticks(k, names, fontsize=6.5, rotation=30, ha="right", rotation_mode="anchor")
    ax.set_ylim(0, top * 1.22)
    ax.set_ylabel("Habitants nouvellement couverts", fontsize=7.5)
    ax.yaxis.set_major_formatter(lambda v, _: fr_int(v))
    ax.tick_params(axis="y", labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.text(
        1.0,
        1.02,
        "en orange : part de la population couverte après ce site",
        transform=ax.transAxes,
        ha="right",
        fontsize=6.5,
        color="#D55E00",
    )
    last = curve.iloc[-1]
    fig.text(
        0.02,
        0.02,
        textwrap.fill(
            "Sélection gloutonne : chaque site est le meilleur compte tenu des précédents. "
            f"Après {int(last['k'])} sites, {fr_pct(float(last['part_couverte']))} de la "
            "population est couverte (services existants compris).",
            130,
        ),
        fontsize=6.5,
    )
    fig.suptitle(
        textwrap.fill(title or "Habitants nouvellement couverts par le k-ième site", 95),
        fontsize=9,
        x=0.02,
        ha="left",
    )
    return _save(fig, path, dpi)
