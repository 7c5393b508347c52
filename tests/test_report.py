"""The report and the exports: escaping, determinism, contents, file formats.

Inputs are the bundled reference data (CA Valenciennes Métropole); one service gets an attack
string as its name, every other field copied from a real registry row. The grid-cell report uses
the test grid of tests/data/carreaux (official Filosofi layout and real coordinates at
Valenciennes, synthetic populations: see SOURCE.md there).
"""

from __future__ import annotations

import re
import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from openpyxl import load_workbook
from real_coverage import point_units

from zonesblanches.coverage.analysis import commune_demand, compute_coverage
from zonesblanches.geodata import reference
from zonesblanches.maps.export import write_geopackage, write_xlsx
from zonesblanches.maps.report import html_table, write_outputs, write_report

VM = "245901160"
ATTACK = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def vm():
    communes = reference.load_communes()
    communes = communes[communes["code_epci"] == VM].reset_index(drop=True)
    registry = reference.load_registry()
    row = registry[registry["commune"] == "Valenciennes"].iloc[[0]].copy()
    row["service_id"] = "TEST-XSS"
    row["nom"] = ATTACK
    row["source"] = ATTACK
    services = pd.concat([registry, row], ignore_index=True)
    result = compute_coverage(
        commune_demand(communes),
        services,
        {"voiture": 20, "marche": 30},
        categories=["garage_solidaire", "atelier_velo"],
        territory="CA Valenciennes Métropole",
    )
    return result, communes


@pytest.fixture(scope="module")
def outputs(vm, tmp_path_factory):
    result, communes = vm
    epci = reference.load_epci()
    runs = []
    for name in ("a", "b"):
        folder = tmp_path_factory.mktemp(f"out_{name}")
        runs.append(
            write_outputs(
                result,
                communes,
                folder,
                epci=epci,
                run_date="2026-01-15",
                static_maps=[("garage_solidaire", "voiture")],
            )
        )
    return runs


def test_all_files_written(outputs):
    files = outputs[0]
    for key in ("carte", "rapport", "communes_csv", "synthese_csv", "zones_csv", "xlsx", "gpkg"):
        assert files[key].exists() and files[key].stat().st_size > 0, key
    figures = sorted(p.name for p in (files["rapport"].parent / "figures").glob("*.png"))
    assert figures == ["carte_garage_solidaire_voiture.png", "part_couverte.png"]
    for name in figures:
        data = (files["rapport"].parent / "figures" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"matplotlib" not in data  # no software/version chunk: deterministic bytes


def test_same_inputs_same_bytes(outputs):
    a, b = outputs
    for key in ("carte", "rapport", "communes_csv", "synthese_csv", "zones_csv"):
        assert a[key].read_bytes() == b[key].read_bytes(), key
    for name in ("part_couverte.png", "carte_garage_solidaire_voiture.png"):
        pa = a["rapport"].parent / "figures" / name
        pb = b["rapport"].parent / "figures" / name
        assert pa.read_bytes() == pb.read_bytes()
    layers_a = pyogrio.list_layers(a["gpkg"]).tolist()
    assert layers_a == pyogrio.list_layers(b["gpkg"]).tolist()
    for layer, _ in layers_a:
        fa = pyogrio.read_dataframe(a["gpkg"], layer=layer)
        fb = pyogrio.read_dataframe(b["gpkg"], layer=layer)
        pd.testing.assert_frame_equal(pd.DataFrame(fa), pd.DataFrame(fb))


def test_report_escapes_data(outputs):
    page = outputs[0]["rapport"].read_text(encoding="utf-8")
    assert ATTACK not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # shown as text in the tables
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)


def test_report_contents_in_french(outputs, vm):
    result, _ = vm
    page = outputs[0]["rapport"].read_text(encoding="utf-8")
    for title in (
        "La réponse : garage solidaire, en voiture",
        "Carte interactive",
        "Les autres indicateurs",
        "Synthèse par catégorie et mode",
        "Par EPCI",
        "Services pris en compte",
        "Méthode et sources",
    ):
        assert f">{title}</h2>" in page
    assert "calcul du 2026-01-15" in page
    # the answer first: the most populated communes without access, where the nearest is
    answer = page[page.index('id="reponse"') : page.index('id="carte"')]
    assert "Les communes les plus peuplées à plus de 20 min en voiture" in answer
    assert "Service le plus proche" in answer and "Situé à" in answer
    assert "Fiabilité de ces chiffres" in answer and "registre d&#x27;exemple" in answer
    for head in ("Seuil − 5 min", "Au seuil", "Seuil + 5 min", "Seuil + 10 min"):
        assert f'<th scope="col">{head}</th>' in answer
    # times said in words beyond the cap, no internal words
    minutes = [int(m.replace("\u202f", "")) for m in re.findall(r">([\d\u202f]+) min<", page)]
    assert minutes and max(minutes) <= 60, max(minutes)
    shown = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    for internal in ("vol_d_oiseau", "a_verifier", "(s)", "20,0 min"):
        assert internal not in shown, internal
    assert "Licence Ouverte" in page
    assert "vol d&#x27;oiseau" in page or "vol d'oiseau" in page
    assert page.count('<img src="data:image/png;base64,') == 2
    assert 'class="zb-table"' in page
    assert "L.map(" in page  # the interactive map is inside the report


def test_geopackage_layers(outputs, vm):
    result, communes = vm
    gpkg = outputs[0]["gpkg"]
    names = [name for name, _ in pyogrio.list_layers(gpkg)]
    assert names == ["communes", "unites", "services", "epci", "synthese"]
    layer = gpd.read_file(gpkg, layer="communes")
    assert len(layer) == len(communes)
    assert layer.crs.to_epsg() == 4326
    assert "temps_garage_solidaire_voiture_min" in layer
    services = gpd.read_file(gpkg, layer="services")
    assert ATTACK in set(services["nom"])  # data kept as is; escaping is for HTML only
    with sqlite3.connect(gpkg) as con:
        (n,) = con.execute("select count(*) from synthese").fetchone()
    assert n == len(result.summary(by="code_epci"))


def test_xlsx_sheets(vm, tmp_path):
    result, _ = vm
    path = write_xlsx(result, tmp_path / "d.xlsx", run_date="2026-01-15")
    book = load_workbook(path, read_only=True)
    assert book.sheetnames == [
        "Synthèse",
        "Par EPCI",
        "Communes",
        "Zones blanches",
        "Services",
        "Méthode",
    ]
    method = {row[0]: row[1] for row in book["Méthode"].iter_rows(min_row=2, values_only=True)}
    assert method["Date du calcul"] == "2026-01-15"
    assert "vol d'oiseau" in method["Modèle en voiture"]


def test_geopackage_replaces_existing_file(vm, tmp_path):
    result, communes = vm
    path = tmp_path / "d.gpkg"
    write_geopackage(result, communes, path)
    write_geopackage(result, communes, path)
    assert [n for n, _ in pyogrio.list_layers(path)] == [
        "communes",
        "unites",
        "services",
        "synthese",
    ]


def test_html_table_sorts_by_value_and_escapes():
    frame = pd.DataFrame({"nom": ["<b>x</b>", "Arras"], "t": [float("inf"), 12.5]})
    out = html_table(frame, [("nom", "Nom", "text"), ("t", "Temps", "min")])
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "<b>x</b>" not in out
    assert 'data-v="1e308">inaccessible<' in out
    assert 'data-v="12.5">12 min<' in out or 'data-v="12.5">13 min<' in out


def test_outputs_of_point_units(vm, tmp_path):
    """Units that are not communes (grid cells) give a map, a report with a PNG map of points,
    and a GeoPackage without the commune layer. The real commune points stand in for such
    units here, all placed in one commune as grid cells often are."""
    _, communes = vm
    result = point_units(communes)
    files = write_outputs(
        result,
        communes,
        tmp_path,
        run_date="2026-01-15",
        static_maps=[("garage_solidaire", "voiture")],
        progress=False,
    )
    assert (tmp_path / "figures" / "carte_garage_solidaire_voiture.png").stat().st_size > 0
    assert [n for n, _ in pyogrio.list_layers(files["gpkg"])] == ["unites", "services", "synthese"]
    units = gpd.read_file(files["gpkg"], layer="unites")
    assert len(units) == len(communes)


def test_report_of_grid_cells_speaks_of_carreaux(grid_result, tmp_path):
    """With Filosofi grid cells as units (``--carreaux``), headings, table headers, key figures
    and notes say « carreaux », not « communes »; the uncovered table gives each cell's id."""
    result, communes = grid_result
    uncovered = result.uncovered()
    assert len(uncovered)
    page = write_report(
        result, communes, tmp_path, run_date="2026-01-15", static_maps=[]
    ).read_text(encoding="utf-8")
    assert "Les carreaux les plus peuplés à plus de 30 min à pied" in page
    assert '<th scope="col">Carreaux en zone blanche</th>' in page
    assert '<th scope="col">Carreau</th>' in page
    assert f"<td>{uncovered['unit_id'].iloc[0]}</td>" in page
    assert f'<span class="big">{len(result.units)}</span><span class="what">carreaux</span>' in page
    assert "carreaux sans accès" in page
    assert "cliquez sur un carreau ou un service" in page
    assert "Communes en zone blanche" not in page


def test_static_map_for_word(vm, tmp_path):
    """A4 landscape at 300 dpi, the zone-blanche communes named first, a scale bar and a
    north arrow."""
    from PIL import Image

    from zonesblanches.maps import figures

    result, communes = vm
    path = figures.static_map(
        result, communes, "garage_solidaire", "voiture", tmp_path / "a4.png", dpi=300
    )
    width, height = Image.open(path).size
    assert abs(width - 27.7 / 2.54 * 300) <= 1 and abs(height - 19.0 / 2.54 * 300) <= 1
    named = []
    real = figures._commune_names
    try:
        figures._commune_names = lambda *a: named.extend(real(*a)) or named
        figures.static_map(result, communes, "garage_solidaire", "voiture", tmp_path / "b.png")
    finally:
        figures._commune_names = real
    # Condé-sur-l'Escaut (9,253 inhabitants) is beyond 20 min by car: named first
    assert named[0] == "Condé-sur-l'Escaut" and "Valenciennes" in named, named
    assert 5 <= len(named) <= 10


def test_static_map_services_beyond_glyph_limit_are_one_collection():
    """Issue 16 item 9: beyond GLYPHS_UP_TO services, one dot each in one collection (no text
    artist per service), every service drawn, and the legend says so in French."""
    from matplotlib.figure import Figure

    from zonesblanches.maps import figures

    n = figures.GLYPHS_UP_TO + 1
    xs, ys = np.arange(n, dtype=float) * 10.0, np.arange(n, dtype=float) * 5.0
    ax = Figure().add_subplot()
    (handle,) = figures._draw_services(ax, xs, ys, "garage_solidaire")
    assert len(ax.texts) == 0
    assert len(ax.collections) == 1
    offsets = ax.collections[0].get_offsets()
    assert len(offsets) == n
    assert offsets[-1].tolist() == [xs[-1], ys[-1]]
    label = handle.get_label()
    assert f"({n})" in label
    assert "sans pictogramme" in label and "2\u202f000" in label

    few = Figure().add_subplot()
    (handle,) = figures._draw_services(few, xs[:3], ys[:3], "garage_solidaire")
    (glyphs,) = few.texts  # one artist (issue 17), a glyph on each disc as before
    assert glyphs.positions.tolist() == [[x, y] for x, y in zip(xs[:3], ys[:3], strict=True)]
    assert len(few.collections[0].get_offsets()) == 3
    assert "pictogramme" not in handle.get_label()

    # Issue 12 §3: a service used outside the territory is drawn hollow, with its legend line.
    hollow = Figure().add_subplot()
    far = np.array([False, True, False])
    handles = figures._draw_services(hollow, xs[:3], ys[:3], "garage_solidaire", far)
    full, empty = hollow.collections
    assert full.get_offsets().tolist() == [[xs[0], ys[0]], [xs[2], ys[2]]]
    assert empty.get_offsets().tolist() == [[xs[1], ys[1]]]
    assert tuple(empty.get_facecolor()[0]) == (1.0, 1.0, 1.0, 1.0)
    assert [h.get_label() for h in handles][
        1
    ] == "dont 1 hors du territoire,\npris en compte (creux)"


def test_report_reuses_the_map_page_unchanged(vm, outputs, tmp_path):
    """write_outputs renders the map once and the report embeds that page (issue 16 item 9): the
    report is byte for byte the one write_report builds with its own map."""
    result, communes = vm
    files = outputs[0]
    alone = write_report(
        result,
        communes,
        tmp_path,
        epci=reference.load_epci(),
        run_date="2026-01-15",
        static_maps=[("garage_solidaire", "voiture")],
        files=[
            "rapport.html",
            *[p.name for k, p in files.items() if k != "rapport"],
            "figures/*.png",
        ],
        map_kwargs={"isochrones": None, "zones": None, "qpv": None, "extra_layers": []},
    )
    assert alone.read_bytes() == files["rapport"].read_bytes()
    carte = files["carte"].read_text(encoding="utf-8")
    body = re.search(r"<body>(.*)</body>", carte, re.S).group(1)
    assert body in files["rapport"].read_text(encoding="utf-8")


def test_services_table_is_cut_beyond_its_limit(vm, tmp_path, monkeypatch):
    """Beyond REPORT_SERVICES_MAX services the report lists the first ones, says how many there
    are by category and where the whole list is (a 100,000-row table made a 35 MB page)."""
    import re

    from zonesblanches.maps import report

    result, communes = vm
    monkeypatch.setattr(report, "REPORT_SERVICES_MAX", 3)
    page = write_report(
        result, communes, tmp_path, epci=reference.load_epci(), run_date="2026-01-15",
        static_maps=[],
    ).read_text(encoding="utf-8")  # fmt: skip
    section = page.split('<section id="services">')[1].split("</section>")[0]
    n_all = len(report.services_table(result))
    assert n_all > 3
    assert len(re.findall(r"<tr>", section.split("<tbody>")[1])) == 3
    assert f"{n_all} services pris en compte (" in section
    assert "les 3 premiers" in section and "diagnostic.xlsx" in section


def test_html_table_column_by_column_is_the_former_row_by_row():
    """Every kind of column, with missing, infinite and hostile values: the cells the former
    row-by-row writer made (its code kept here as the reference)."""
    import html as html_module

    from zonesblanches._text import fr_int, fr_num, fr_pct
    from zonesblanches.maps import style

    frame = pd.DataFrame(
        {
            "nom": ["<b>Anzin</b>", None, "Saint-Amand & co", '"=1+1"'],
            "n": [1234.0, np.nan, np.inf, 0.0],
            "p": [0.5, 1.0, np.nan, 0.1234],
            "t": [12.0, np.inf, np.nan, 61.0],
            "seuil_min": [20.0, 20.0, 30.0, 60.0],
            "mots": ["12 min", "plus de 20", None, "<1 min"],
        }
    )
    columns = [
        ("nom", "Nom <x>", "text"),
        ("absente", "Absente", "text"),
        ("n", "Entier", "int"),
        ("p", "Part", "pct"),
        ("n", "Nombre", "num"),
        ("seuil_min", "Seuil", "minutes"),
        ("t", "Minutes", "min"),
        ("t", "Temps", "time"),
        ("mots", "Mots", "words:t"),
    ]

    def e(v):
        return html_module.escape("" if v is None else str(v))

    def former(rec):  # the former writer's cell code, one row
        cells = []
        for col, _, kind in columns:
            v = rec.get(col)
            if kind == "text":
                cells.append(f"<td>{e(v)}</td>")
                continue
            if kind.startswith("words:"):
                value = rec.get(kind.split(":", 1)[1])
                num = float(value) if value is not None and not pd.isna(value) else float("nan")
                data_v = "NaN" if np.isnan(num) else ("1e308" if np.isinf(num) else repr(num))
                cells.append(f'<td class="num" data-v="{data_v}">{e(v)}</td>')
                continue
            num = float(v) if v is not None and not pd.isna(v) else float("nan")
            if kind == "time":
                shown = style.time_text(num if not np.isnan(num) else np.inf, rec["seuil_min"])
            else:
                shown = {
                    "int": fr_int,
                    "pct": fr_pct,
                    "num": fr_num,
                    "minutes": lambda x: fr_num(x, 1).removesuffix(",0") + " min",
                    "min": lambda x: fr_num(x, 0) + ("" if not np.isfinite(x) else " min"),
                }[kind](num)
            data_v = "NaN" if np.isnan(num) else ("1e308" if np.isinf(num) else repr(num))
            cells.append(f'<td class="num" data-v="{data_v}">{e(shown)}</td>')
        return "<tr>" + "".join(cells) + "</tr>"

    out = html_table(frame, columns, caption="<légende>")
    rows = "".join(former(rec) for rec in frame.to_dict("records"))
    assert f"<tbody>{rows}</tbody>" in out
    assert "<caption class='note'>&lt;légende&gt;</caption>" in out
    assert html_table(frame, []).count("<tr></tr>") == len(frame) + 1  # header and rows
