"""The report a planner sends: ``rapport.html`` and everything beside it.

:func:`write_report` writes one self-contained HTML page (no external file, opens offline):
key figures, the interactive map, static figures (PNG, also written as files for Word or PDF),
sortable tables, and a method and sources section (data provenance and dates, travel-time
model, thresholds, run date and version). :func:`write_outputs` writes the whole set: map,
report, figures, CSV, XLSX and GeoPackage.

Every text that comes from data is escaped (:func:`html.escape`); the same inputs and the same
``run_date`` give the same bytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from zonesblanches._memory import freezing_old_objects
from zonesblanches._text import fr_count, fr_int, fr_num, fr_pct
from zonesblanches._version import __version__
from zonesblanches.columns import blank_col
from zonesblanches.coverage.analysis import CoverageResult, reusing_tables
from zonesblanches.geodata.categories import category_label
from zonesblanches.maps import findings, style
from zonesblanches.maps._forked import run_split
from zonesblanches.maps._geometry import Simplification
from zonesblanches.maps._png import screen_png as _screen_png
from zonesblanches.maps._report_page import REPORT_CSS, SORT_JS
from zonesblanches.maps.assets import leaflet_version
from zonesblanches.maps.carto import coverage_map, principal_index_of, render_map, save_map
from zonesblanches.maps.charts import coverage_chart
from zonesblanches.maps.export import services_table, write_geopackage, write_xlsx
from zonesblanches.maps.figures import static_map
from zonesblanches.maps.html_table import Column, _e, html_table
from zonesblanches.maps.static_base import FigureBase, figure_base
from zonesblanches.maps.style import unit_words
from zonesblanches.maps.tables import communes_table, synthesis_table, uncovered_table
from zonesblanches.maps.transit_layer import gap_layers, gap_sections
from zonesblanches.modes import ALL_MODES
from zonesblanches.writers import write_csv

MAX_STATIC_MAPS = 4
"""Static maps drawn by default when the territory is large (each takes seconds): the first
category for each mode. Small territories (≤ 300 units) get one per category × mode."""

# --------------------------------------------------------------------------- formatting


def _is_bundled_registry(services: pd.DataFrame) -> bool:
    """True when most services (80 %) are the bundled example registry's."""
    from zonesblanches.geodata import reference

    ids = set(services["service_id"].astype(str)) if len(services) else set()
    bundled = set(reference.load_registry()["service_id"].astype(str))
    return bool(ids) and len(ids & bundled) >= 0.8 * len(ids)


REPORT_SERVICES_MAX = 2000
"""Services listed one per row in the report; beyond, the first ones and the full list's files
(a 100,000-row table made a 35 MB page, issue 16)."""


def _services_listing(services: pd.DataFrame, columns: Sequence[Column]) -> str:
    """The report's services table, cut at :data:`REPORT_SERVICES_MAX` rows with a note that
    says how many there are by category and where the whole list is."""
    if len(services) <= REPORT_SERVICES_MAX:
        return html_table(services, columns)
    counts = ""
    if "libelle_categorie" in services:
        by_cat = services["libelle_categorie"].value_counts(sort=False).sort_index()
        counts = " (" + ", ".join(f"{_e(c)} : {fr_int(n)}" for c, n in by_cat.items()) + ")"
    note = (
        f"<p class='note'>{fr_int(len(services))} services pris en compte{counts} : le tableau "
        f"ci-dessous montre les {fr_int(REPORT_SERVICES_MAX)} premiers. La liste complète est "
        "dans <code>diagnostic.xlsx</code> (feuille « Services ») et "
        "<code>diagnostic.gpkg</code>.</p>"
    )
    return note + html_table(services.head(REPORT_SERVICES_MAX), columns)


# --------------------------------------------------------------------------- sections


def _map_parts(page: str) -> tuple[str, str, str]:
    """Head, body and trailing script of a rendered map page (our own output)."""
    head = re.search(r"<head>(.*)</head>", page, re.S).group(1)
    body = re.search(r"<body>(.*)</body>", page, re.S).group(1)
    script = re.search(r"</body>\s*(<script>.*</script>)\s*</html>", page, re.S).group(1)
    head = re.sub(r"<title>.*?</title>", "", head, flags=re.S)
    head = re.sub(r'<meta name="viewport"[^>]*>', "", head, flags=re.S)
    head = re.sub(r"<style>html, body \{.*?\}\s*</style>", "", head, flags=re.S)
    return head, body, script


def _key_figures(result: CoverageResult, order: Sequence[tuple[str, str]] = ()) -> str:
    overall = result.summary(by=None)
    if order:
        rank = {spec: i for i, spec in enumerate(order)}
        overall = overall[
            [(c, m) in rank for c, m in zip(overall["categorie"], overall["mode"], strict=True)]
        ]
        overall = overall.assign(
            _r=[
                rank.get((c, m), len(rank))
                for c, m in zip(overall["categorie"], overall["mode"], strict=True)
            ]
        ).sort_values("_r", kind="stable")
    cards = [
        (fr_int(result.population), "habitants dans le territoire"),
        (fr_int(len(result.units)), unit_words(result.unit_kind).plural),
        (fr_int(len(result.services)), "services pris en compte"),
    ]
    for r in overall.to_dict("records"):
        cards.append(
            (
                fr_pct(r["part_couverte"]),
                f"de la population à moins de {fr_num(r['seuil_min'], 0)} min "
                f"{ALL_MODES[r['mode']].label} d'un service « {category_label(r['categorie'])} » "
                f"({fr_count(r['population_zone_blanche'], 'habitant')} en zone blanche)",
            )
        )
    if result.services_caveat:  # the example registry, said on the card itself (issue 12 §6)
        cards[2] = (cards[2][0], f"{cards[2][1]} — {result.services_caveat}")
    body = "".join(
        f'<div class="card"><span class="big">{_e(big)}</span>'
        f'<span class="what">{_e(what)}</span></div>'
        for big, what in cards
    )
    return f'<div class="cards">{body}</div>'


def _method_section(
    result: CoverageResult, run_date: str, files: Sequence[str], n_classes_note: str
) -> str:
    from zonesblanches.geodata.reference import sources

    items = []
    for mode, minutes in result.thresholds.items():
        model = result.models[mode]
        items.append(
            f"<dt>{_e(ALL_MODES[mode].label.capitalize())} — seuil {_e(fr_num(minutes, 0))} min</dt>"
            f"<dd>{_e(model.description)}</dd>"
        )
    notes = "".join(f"<li>{_e(n)}</li>" for n in result.notes)
    provenance = "".join(
        f"<dt>{_e(s['jeu'])} ({_e(s['fichier'])})</dt><dd>{_e(s['source'])}<br>"
        f"Licence : {_e(s['licence'])} — date : {_e(s['date'])}<br>"
        f"Traitements : {_e(s['modifications'])}</dd>"
        for s in sources()
    )
    svc_sources = sorted(
        {str(s) for s in result.services.get("source", pd.Series(dtype=str)) if str(s)}
    )
    svc = "".join(f"<li>{_e(s)}</li>" for s in svc_sources)
    file_list = "".join(f"<li><code>{_e(f)}</code></li>" for f in files)
    return (
        "<h3>Modèles de temps de trajet et seuils</h3>"
        f'<dl class="meta">{"".join(items)}</dl>'
        f"<p>{_e(n_classes_note)}</p>"
        f"<h3>Remarques de méthode</h3><ul>{notes}</ul>"
        f'<h3>Données de référence</h3><dl class="meta">{provenance}</dl>'
        f"<h3>Sources des services</h3><ul>{svc}</ul>"
        "<h3>Calcul</h3>"
        f'<dl class="meta"><dt>Date du calcul</dt><dd>{_e(run_date)}</dd>'
        f"<dt>Logiciel</dt><dd>zonesblanches {_e(__version__)} (licence MIT), carte Leaflet "
        f"{_e(leaflet_version())} (licence BSD-2) intégrée au fichier.</dd></dl>"
        + (f"<h3>Fichiers produits</h3><ul>{file_list}</ul>" if files else "")
    )


TOP_COLUMNS: list[Column] = [
    ("nom", "Commune", "text"),
    ("code", "Code INSEE", "text"),
    ("population", "Population", "int"),
    ("part", "Part de la population", "pct"),
    ("temps", "Temps au plus proche", "words:temps_min"),
    ("service_proche", "Service le plus proche", "text"),
    ("commune_service", "Situé à", "text"),
]


def _top_columns(result: CoverageResult) -> list[Column]:
    words = unit_words(result.unit_kind)
    if result.unit_kind == "commune":
        return TOP_COLUMNS
    return [("nom", "Commune", "text"), ("code", words.id_label, "text"), *TOP_COLUMNS[2:]]


def _top_table(result: CoverageResult, cat: str, mode: str, n: int) -> tuple[pd.DataFrame, str]:
    """The ``n`` largest units without access, a time whose trip leaves the road network for
    more than the model's limit marked « ⚠ », and the note that says where and how far."""
    top = findings.without_access(result, cat, mode, n, legs=True)
    far = top.pop("hors_reseau").to_numpy(dtype=object)
    marked = np.flatnonzero(far != "")
    if not len(marked):
        return top, ""
    top.loc[top.index[marked], "temps"] = top["temps"].iloc[marked] + " ⚠"
    where = " ; ".join(f"{top['nom'].iloc[k]} ({far[k]})" for k in marked)
    note = (
        f"⚠ Temps incertain, sans doute trop long : {where}. Ce bout de trajet est compté à "
        "pied en ligne droite jusqu'au nœud le plus proche du réseau lu, faute de rue plus "
        "proche dans ce réseau."
    )
    return top, f'<p class="note">{_e(note)}</p>'


def _zones_html(result: CoverageResult, zones, cat: str, mode: str) -> str:
    """The « zone blanche quasi continue » note of an indicator, if its zones say so."""
    frame = zones.get(f"{cat}_{mode}") if isinstance(zones, Mapping) else None
    note = findings.zones_note(frame, result.unit_kind)[1] if frame is not None else None
    return f'<p class="note">{_e(note)}</p>' if note else ""


def _answer_section(result: CoverageResult, order: Sequence[tuple[str, str]], zones=None) -> str:
    """The report's first screen: the answer for the principal indicator, the key figures
    with the reliability box beside them, the 10 most populated units without access and
    where their nearest service is, notes on identical figures, and the sensitivity of
    every answer to the threshold."""
    cat, mode = order[0]
    words = unit_words(result.unit_kind)
    top, far_note = _top_table(result, cat, mode, 10)
    total = int(result.units[blank_col(cat, mode)].to_numpy(dtype=bool).sum())
    reliability = "".join(
        f"<li>{_e(line)}</li>"
        for line in findings.reliability(result, _is_bundled_registry(result.services))
    )
    if len(top):
        shown = (
            f"Les {fr_int(len(top))} {_e(words.plural)} sans accès"
            if total == len(top)
            else f"Les {len(top)} {_e(words.plural)} sans accès les plus "
            f"{words.agree('peuplé')} sur {fr_int(total)}"
        )
        table = (
            html_table(top, _top_columns(result))
            + far_note
            + (
                f'<p class="note">{shown} ; la liste complète, un indicateur par colonne, est '
                "dans <code>communes_zone_blanche.csv</code>.</p>"
            )
        )
    else:
        table = "<p>Aucune zone blanche pour cet indicateur.</p>"
    identical = "".join(
        f'<p class="identical note">{_e(n)}</p>' for n in findings.identical_notes(result)
    )
    sens = findings.sensitivity(result)
    sens["_r"] = [order.index((c, m)) for c, m in zip(sens["categorie"], sens["mode"], strict=True)]
    sens = sens.sort_values("_r", kind="stable")
    sens_cols: list[Column] = [
        ("indicateur", "Indicateur", "text"),
        ("seuil_min", "Seuil", "minutes"),
        ("seuil-5", "Seuil − 5 min", "int"),
        ("seuil+0", "Au seuil", "int"),
        ("seuil+5", "Seuil + 5 min", "int"),
        ("seuil+10", "Seuil + 10 min", "int"),
    ]
    key = (
        f"{fr_int(result.population)} habitants · {words.count(len(result.units))} · "
        f"{fr_count(len(result.services), 'service')} pris en compte"
    )
    if result.services_caveat:  # next to the headline figure, not only in the method
        key += f" — ⚠ {result.services_caveat}"
    return (
        f"<p class='lead'>{_e(findings.headline(result, cat, mode))}</p>"
        f"<p class='note'>{_e(key)}</p>"
        f"<div class='answer'><div>"
        f"<h3>Les {_e(words.plural)} les plus {words.agree('peuplé')} à plus de "
        f"{_e(fr_num(result.thresholds[mode], 1).removesuffix(',0'))} min "
        f"{_e(ALL_MODES[mode].label)} d'un service « {_e(category_label(cat))} »</h3>"
        f"{table}{_zones_html(result, zones, cat, mode)}</div>"
        f"<aside class='reliability' aria-label='Fiabilité'><h3>Fiabilité de ces chiffres</h3>"
        f"<ul>{reliability}</ul></aside></div>"
        f"{identical}"
        "<h3>Et si le seuil changeait ?</h3>"
        + html_table(
            sens,
            sens_cols,
            caption="Habitants sans accès selon le seuil retenu (5 min de moins, le seuil, "
            "5 et 10 min de plus) : un chiffre qui bouge beaucoup dépend du seuil choisi.",
        )
        + f"<h3>Chiffres clés</h3>{_key_figures(result, order)}"
    )


def _others_section(result: CoverageResult, order: Sequence[tuple[str, str]], zones=None) -> str:
    """One short section per other indicator: the answer and its 5 largest units."""
    parts = []
    for cat, mode in order[1:]:
        top, far_note = _top_table(result, cat, mode, 5)
        body = (
            html_table(top, _top_columns(result)) + far_note
            if len(top)
            else "<p>Aucune zone blanche pour cet indicateur.</p>"
        )
        parts.append(
            f"<h3>{_e(findings.indicator_label(cat, mode))}</h3>"
            f"<p>{_e(findings.headline(result, cat, mode))}</p>{body}"
            + _zones_html(result, zones, cat, mode)
        )
    return "".join(parts)


def _default_static(result: CoverageResult) -> list[tuple[str, str]]:
    specs = [(c, m) for c in result.categories for m in result.modes]
    if len(result.units) <= 300 or len(specs) <= MAX_STATIC_MAPS:
        return specs
    return [(result.categories[0], m) for m in result.modes][:MAX_STATIC_MAPS]


def _any_blank(result: CoverageResult, specs: Sequence[tuple[str, str]]) -> bool:
    """Whether a static map of ``specs`` will draw zones blanches (commune units only)."""
    if result.unit_kind != "commune":
        return False
    return any(bool(result.units[blank_col(c, m)].to_numpy(dtype=bool).any()) for c, m in specs)


def _maps_base(
    result: CoverageResult,
    communes: gpd.GeoDataFrame,
    epci: gpd.GeoDataFrame | None,
    specs: Sequence[tuple[str, str]],
    simplified: list[Simplification],
) -> FigureBase | None:
    """:func:`figure_base` of the static maps of ``specs`` (None without maps), its clean
    coverage started in a thread when they draw zones blanches, its polygons the interactive
    map's simplification when ``simplified`` holds it."""
    if not specs:
        return None
    blank = _any_blank(result, specs)
    return figure_base(result, communes, epci, clean_ahead=blank, simplified=simplified)


def _add_labels(frame: pd.DataFrame) -> None:
    """French category and mode labels beside their codes (in place)."""
    frame["libelle"] = frame["categorie"].map(category_label)
    frame["mode_fr"] = frame["mode"].map(lambda m: ALL_MODES[m].label)


def _text_pieces(
    result: CoverageResult,
    order: Sequence[tuple[str, str]],
    kwargs: Mapping,
    run_date: str,
    files: Sequence[str],
) -> list[tuple[str, Callable[[], object]]]:
    """The report's text, in pieces (name, function that writes it): the answer, the other
    indicators, the transit sections (a list), the synthesis, the EPCI and services tables
    and the method. :func:`write_report` writes them while its maps are drawn."""
    words = unit_words(result.unit_kind)
    zones = kwargs.get("zones")
    synth_cols: list[Column] = [
        ("libelle", "Catégorie", "text"),
        ("mode_fr", "Mode", "text"),
        ("seuil_min", "Seuil", "minutes"),
        ("population", "Population", "int"),
        ("part_couverte", "Part couverte", "pct"),
        ("population_zone_blanche", "Habitants en zone blanche", "int"),
        ("unites_zone_blanche", f"{words.title} en zone blanche", "int"),
        ("temps_median_min", "Temps médian", "time"),
    ]

    def synthesis() -> str:
        overall = result.summary(by=None)
        _add_labels(overall)
        return html_table(
            overall, synth_cols, caption="Cliquez sur un titre de colonne pour trier."
        )

    def per_epci() -> str:
        by_epci = synthesis_table(result)
        _add_labels(by_epci)
        return html_table(
            by_epci, [("nom_epci", "EPCI", "text"), ("code_epci", "SIREN", "text"), *synth_cols]
        )

    def listing() -> str:
        services = services_table(result)
        if "statut" in services:
            services["statut"] = services["statut"].map(lambda v: style.STATUS_LABELS.get(v, v))
        svc_cols: list[Column] = [
            ("nom", "Service", "text"),
            ("libelle_categorie", "Catégorie", "text"),
            ("commune", "Commune", "text"),
            ("statut", "Statut", "text"),
            ("source", "Source", "text"),
            ("date_source", "Date", "text"),
            ("date_maj", "Mise à jour (data·inclusion)", "text"),
            ("lien_source", "Fiche d'origine", "text"),
        ]
        return _services_listing(services, [c for c in svc_cols if c[0] in services])

    def method() -> str:
        classes = style.check_classes(kwargs.get("thresholds_classes"))
        note = "Classes de temps de la carte : " + ", ".join(style.class_labels(classes))
        return _method_section(result, run_date, files, note + ", inaccessible.")

    return [
        ("answer", lambda: _answer_section(result, order, zones)),
        ("others", lambda: _others_section(result, order, zones) if len(order) > 1 else ""),
        ("gaps", lambda: gap_sections(result, html_table)),
        ("synth", synthesis),
        ("per_epci", per_epci),
        ("listing", listing),
        ("method", method),
    ]


@freezing_old_objects
@reusing_tables
def write_report(
    result: CoverageResult,
    communes: gpd.GeoDataFrame,
    folder: str | Path,
    *,
    epci: gpd.GeoDataFrame | None = None,
    title: str | None = None,
    run_date: dt.date | str | None = None,
    static_maps: Sequence[tuple[str, str]] | None = None,
    files: Sequence[str] = (),
    map_kwargs: Mapping | None = None,
    principal: str | tuple[str, str] | None = None,
    dpi: int = 150,
    map_page: str | None = None,
    base: FigureBase | None = None,
) -> Path:
    """Write ``rapport.html`` (self-contained) and its figures in ``folder``; return its path.

    The report leads with the answer for the principal indicator (the 10 most populated units
    without access, their share of the population, where the nearest service is), a
    reliability box beside the key figures, the sensitivity of every answer to the threshold
    and notes on identical figures; then one short section per other indicator, the map,
    the figures, the tables and the method.

    Parameters
    ----------
    result : CoverageResult
        The analysis.
    communes : geopandas.GeoDataFrame
        Commune polygons (``code_insee``), as for :func:`~zonesblanches.maps.coverage_map`.
    folder : str or Path
        Output folder; figures go to ``folder/figures/`` (PNG, for Word or PDF).
    epci : geopandas.GeoDataFrame, optional
        EPCI polygons, drawn on the maps.
    title : str, optional
        Default « Diagnostic d'accès aux services de mobilité inclusive — <territoire> ».
    run_date : datetime.date or str, optional
        Date printed as the run date (default: today). Fix it to get byte-identical reports.
    static_maps : sequence of (categorie, mode), optional
        Indicators drawn as PNG maps; default: all of them for ≤ 300 units, else the first
        category for each mode (:data:`MAX_STATIC_MAPS`).
    files : sequence of str
        Names of the other files written beside the report, listed in its method section.
    map_kwargs : mapping, optional
        Extra arguments of :func:`~zonesblanches.maps.coverage_map` (``isochrones``, ``zones``,
        ``qpv``, ``thresholds_classes``…).
    principal : str or (str, str), optional
        The indicator the report answers first and the map opens on
        (``"garage_solidaire:voiture"``); default the first category and mode.
    dpi : int
        Resolution of ``figures/*.png`` (A4 landscape maps): 150, or 300 for print.
    map_page : str, optional
        The map's page already rendered (:func:`~zonesblanches.maps.render_map`) with these
        ``map_kwargs`` and ``principal``, as :func:`write_outputs` writes it to ``carte.html``:
        embedded as it is instead of building the map a second time.
    base : FigureBase, optional
        The static maps' :func:`~zonesblanches.maps.static_base.figure_base` of these arguments,
        made by the caller: :func:`write_outputs` makes it before the tables, so that its
        clean coverage is made in a thread while the tables, workbook and GeoPackage are
        written (a single GEOS call, without Python's lock: it does not slow them down).

    Returns
    -------
    Path
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    run_date = str(run_date or dt.date.today().isoformat())
    territory = result.territory or "territoire analysé"
    if title is None:
        title = f"Diagnostic d'accès aux services de mobilité inclusive — {territory}"
    words = unit_words(result.unit_kind)
    kwargs = dict(map_kwargs or {})
    all_specs = [(c, m) for c in result.categories for m in result.modes]
    order = findings.specs(result, all_specs[principal_index_of(principal, all_specs)])
    simplified: list[Simplification] = []  # the map's communes, for the static maps
    if map_page is None:
        map_page = render_map(
            coverage_map(
                result, communes, epci=epci, principal=order[0], simplified=simplified, **kwargs
            )
        )
    head, body, script = _map_parts(map_page)

    specs = list(static_maps) if static_maps is not None else _default_static(result)
    classes = kwargs.get("thresholds_classes")
    figdir = folder / "figures"
    # The maps' shared polygons first: the clean coverage their zones blanches' outline needs
    # (0.8 s for a region) then runs in a background thread while the chart is drawn and the
    # text of the report is written, piece by piece, until it is ready; the maps' process is
    # forked then (at once when the coverage came ready, e.g. during write_outputs' tables),
    # and this one draws the rest beside its own maps (issue 17). The pages' bytes do not
    # depend on the order.
    if base is None or not specs:
        base = _maps_base(result, communes, epci, specs, simplified)
    pixels: list[np.ndarray] = []  # the chart's pixels, to embed without decoding its PNG
    chart_path = figdir / "part_couverte.png"
    pieces = [
        ("chart", lambda: coverage_chart(result, chart_path, dpi=dpi, pixels=pixels)),
        *_text_pieces(result, order, kwargs, run_date, files),
    ]
    text: dict = {}
    cleaning = base.clean_job if base is not None else None
    while pieces and cleaning is not None and not cleaning.done():
        name, build = pieces.pop(0)
        text[name] = build()
    if cleaning is not None:
        base.clean_frame  # noqa: B018 - ready before a fork: the child draws from it too

    def write_text() -> None:
        text.update((name, build()) for name, build in pieces)

    def draw(cat: str, mode: str):
        def job() -> tuple[Path, bytes]:
            rgb: list[np.ndarray] = []
            path = static_map(
                result,
                communes,
                cat,
                mode,
                figdir / f"carte_{cat}_{mode}.png",
                epci=epci,
                thresholds_classes=classes,
                dpi=dpi,
                base=base,
                pixels=rgb,
            )
            return path, _screen_png(rgb[0])

        return job

    # The later half of the maps drawn in a forked process on the second core, when there is
    # one and two maps or more; same files and bytes either way (maps/_forked.py, issue 17).
    jobs = [write_text, *(draw(c, m) for c, m in specs)]
    drawn = run_split(jobs, here=1 + max(1, len(specs) // 2))[1:]
    screens = [(text["chart"], _screen_png(pixels[0])), *drawn]
    captions = [
        "Part de la population à moins du seuil, par catégorie et mode.",
        *(
            f"{category_label(c)}, {ALL_MODES[m].label} : temps d'accès au plus proche."
            for c, m in specs
        ),
    ]
    figures_html = []
    for (path, png), caption in zip(screens, captions, strict=True):
        data = base64.b64encode(png).decode("ascii")
        figures_html.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)} Fichier : <code>figures/{_e(path.name)}</code>"
            "</figcaption></figure>"
        )
    sections = [
        ("reponse", f"La réponse : {findings.indicator_label(*order[0]).lower()}", text["answer"]),
        (
            "carte",
            "Carte interactive",
            f'<div class="zb-report-map">{body}</div><p class="note">Choisissez l\'indicateur '
            "(catégorie × mode) dans le sélecteur de couches en haut à droite ; cliquez sur "
            f"{'une' if words.feminine else 'un'} {_e(words.singular)} ou un service pour le "
            "détail. La même carte est dans le fichier "
            "<code>carte.html</code>. Elle fonctionne sans connexion internet ; les fonds "
            "OpenStreetMap et IGN sont proposés en option quand on est connecté.</p>",
        ),
        *([("autres", "Les autres indicateurs", text["others"])] if len(order) > 1 else []),
        *text["gaps"],  # transit / car (issue 14); none without both
        ("figures", "Cartes et graphique pour vos documents", "".join(figures_html)),
        ("synthese", "Synthèse par catégorie et mode", text["synth"]),
        ("epci", "Par EPCI", text["per_epci"]),
        ("services", "Services pris en compte", text["listing"]),
        ("methode", "Méthode et sources", text["method"]),
    ]
    return write_page(folder / "rapport.html", title, territory, run_date, sections, head, script)


def write_page(
    path: Path,
    title: str,
    territory: str,
    run_date: str,
    sections: Sequence[tuple[str, str, str]],
    head: str = "",
    script: str = "",
) -> Path:
    """Write a report page (self-contained HTML) atomically: its header, a table of contents
    and ``sections`` (``(id, French title, inner HTML)``), with the report's style, ``head``
    (extra head elements) and ``script`` (extra scripts) around them; return ``path``."""
    from zonesblanches.writers import atomic_path

    nav = "".join(f'<li><a href="#{sid}">{_e(name)}</a></li>' for sid, name, _ in sections)
    content = "".join(
        f'<section id="{sid}"><h2>{_e(name)}</h2>{inner}</section>' for sid, name, inner in sections
    )
    page = (
        '<!DOCTYPE html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{REPORT_CSS}</style>\n{head}\n</head>\n<body>\n"
        f"<main>\n<header><h1>{_e(title)}</h1>"
        f"<p>Territoire : {_e(territory)} — calcul du {_e(run_date)} — zonesblanches "
        f"{_e(__version__)}</p><nav aria-label='Sommaire'><ul>{nav}</ul></nav></header>\n"
        f"{content}\n</main>\n{script}\n<script>{SORT_JS}</script>\n</body>\n</html>\n"
    )
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8", newline="\n")
    return path


@freezing_old_objects
@reusing_tables
def write_outputs(
    result: CoverageResult,
    communes: gpd.GeoDataFrame,
    folder: str | Path,
    *,
    epci: gpd.GeoDataFrame | None = None,
    title: str | None = None,
    run_date: dt.date | str | None = None,
    isochrones: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | Mapping[str, gpd.GeoDataFrame] | None = None,
    qpv: gpd.GeoDataFrame | None = None,
    static_maps: Sequence[tuple[str, str]] | None = None,
    progress: bool = True,
    principal: str | tuple[str, str] | None = None,
    dpi: int = 150,
) -> dict[str, Path]:
    """Write the whole diagnostic in ``folder``; return ``{name: path}``.

    Files: ``carte.html`` (interactive map), ``rapport.html`` (report), ``figures/*.png``,
    ``communes.csv``, ``synthese.csv``, ``communes_zone_blanche.csv`` (the same three tables
    as the command line writes), ``diagnostic.xlsx`` and ``diagnostic.gpkg`` (every layer,
    for QGIS). Keys: ``carte``, ``communes_csv``, ``synthese_csv``, ``zones_csv``, ``xlsx``,
    ``gpkg``, ``rapport``.

    Parameters
    ----------
    result, communes, epci, title, run_date, static_maps
        As for :func:`write_report` (``title`` is the map's title).
    isochrones, zones, qpv : optional
        Extra layers drawn on the map and written to the GeoPackage.
    progress : bool
        Show a progress bar (only on a terminal). The whole region takes tens of seconds.
    principal : str or (str, str), optional
        The indicator the map opens on and the report answers first
        (``"garage_solidaire:voiture"``); default the first category and mode.
        ``communes_zone_blanche.csv`` is sorted by it.
    dpi : int
        Resolution of the figures (150, or 300 for print).
    """
    import sys

    from tqdm import tqdm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    extra = {"isochrones": isochrones, "zones": zones, "qpv": qpv}
    map_extra = {**extra, "extra_layers": gap_layers(result, communes)}  # transit / car
    all_specs = [(c, m) for c in result.categories for m in result.modes]
    first = all_specs[principal_index_of(principal, all_specs)]
    written: dict[str, Path] = {}
    steps = ["carte", "tableaux CSV", "classeur Excel", "GeoPackage", "rapport"]
    bar = tqdm(
        total=len(steps),
        desc="Écriture des résultats",
        unit="fichier",
        disable=not progress or not sys.stderr.isatty(),
        leave=False,
    )
    with bar:
        bar.set_postfix_str(steps[0])
        # Rendered once: the report embeds the same page (issue 16 item 9: at 100,000 services
        # building and rendering the map twice cost tens of seconds).
        # the map's simplified communes, handed to the static maps: the same polygons
        simplified: list[Simplification] = []
        page = render_map(
            coverage_map(
                result,
                communes,
                epci=epci,
                title=title,
                principal=first,
                simplified=simplified,
                **map_extra,
            )
        )
        written["carte"] = save_map(page, folder / "carte.html")
        bar.update()
        # The static maps' shared polygons now, for the report: their clean coverage (1 s for
        # a region) is then made in a thread while the tables, workbook and GeoPackage are
        # written, on the core they leave idle (issue 17).
        specs = list(static_maps) if static_maps is not None else _default_static(result)
        base = _maps_base(result, communes, epci, specs, simplified)
        bar.set_postfix_str(steps[1])
        written["communes_csv"] = write_csv(communes_table(result), folder / "communes.csv")
        written["synthese_csv"] = write_csv(synthesis_table(result), folder / "synthese.csv")
        written["zones_csv"] = write_csv(
            uncovered_table(result, first), folder / "communes_zone_blanche.csv"
        )
        bar.update()
        bar.set_postfix_str(steps[2])
        written["xlsx"] = write_xlsx(result, folder / "diagnostic.xlsx", run_date=run_date)
        bar.update()
        bar.set_postfix_str(steps[3])
        written["gpkg"] = write_geopackage(
            result, communes, folder / "diagnostic.gpkg", epci=epci, **extra
        )
        bar.update()
        bar.set_postfix_str(steps[4])
        names = [p.name for p in written.values()]
        written["rapport"] = write_report(
            result,
            communes,
            folder,
            epci=epci,
            title=None,
            run_date=run_date,
            static_maps=static_maps,
            files=["rapport.html", *names, "figures/*.png"],
            map_kwargs={**map_extra, "title": title} if title else map_extra,
            principal=first,
            dpi=dpi,
            map_page=page if title is None or title else None,
            base=base,
        )
        bar.update()
    return written
