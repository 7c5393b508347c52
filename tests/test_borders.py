"""Issue 12, §3: the services used outside the territory are listed (services_hors_territoire.csv),
and territories whose margin crosses a land border say that no French inventory holds the services
beyond it (real Natural Earth land borders, real EPCI)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from zonesblanches import api
from zonesblanches.cli import main
from zonesblanches.coverage.margin import borders_reached, margin_km
from zonesblanches.geodata import reference
from zonesblanches.geodata.borders import COUNTRIES, PRECISION_KM, load_land_borders
from zonesblanches.geodata.territory import select_territory
from zonesblanches.maps._services import decode_services
from zonesblanches.summaries import border_note

VM = "245901160"  # CA Valenciennes Métropole: Quiévrechain, Crespin… on the Belgian border
BELGIUM_NOTE = (
    "Le territoire et sa marge touchent la Belgique : les services belges ne figurent dans "
    "aucun inventaire français ; les temps près de la frontière peuvent être surestimés."
)

BORDER_DEPARTEMENTS = {
    "BE": {"02", "08", "54", "55", "59"},
    "LU": {"54", "57"},
    "DE": {"57", "67", "68"},
    "CH": {"01", "25", "39", "68", "74", "90"},
    "IT": {"04", "05", "06", "73", "74"},
    "MC": {"06"},
    "AD": {"09", "66"},
    "ES": {"09", "31", "64", "65", "66"},
}
"""The départements that border each country (COG; the well-known list), an independent check
of the Natural Earth lines."""


def _reached(query: str, km: float | None = None) -> list[str]:
    territory = select_territory(query)
    km = margin_km({"voiture": 20, "marche": 30}) if km is None else km
    return borders_reached(territory.communes, km, load_land_borders(), tolerance_km=PRECISION_KM)


def test_land_borders_run_along_the_border_departements():
    borders = load_land_borders().to_crs(2154)
    assert list(borders["code_pays"]) == list(COUNTRIES)
    deps = reference.load_departements(None).to_crs(2154)
    for row in borders.itertuples():
        # Exact at the département level: each line crosses every département it borders
        # (distance 0), and the nearest other département is kilometres away (Pas-de-Calais,
        # 4.9 km from the Belgian line).
        distance = deps.distance(row.geometry)
        expected = deps["code_departement"].isin(BORDER_DEPARTEMENTS[row.code_pays])
        assert (
            set(deps.loc[distance == 0, "code_departement"]) == BORDER_DEPARTEMENTS[row.code_pays]
        ), row.pays
        assert distance[~expected].min() > 4_000, row.pays
    # Lengths of the order of the real borders (Natural Earth 1:10m generalises a little).
    km = dict(zip(borders["code_pays"], borders.length / 1000, strict=True))
    assert 400 < km["BE"] < 700 and 8 < km["MC"] < 12 and 500 < km["ES"] < 700


@pytest.mark.parametrize(
    ("query", "km", "expected"),
    [
        (VM, None, ["BE"]),  # on the border
        ("amiens metropole", None, []),  # far from any border
        ("cambrai", None, []),  # 19.8 km from Belgium: beyond 12.8 km…
        ("cambrai", 25.0, ["BE"]),  # …within 25 km
        ("dunkerque", None, ["BE"]),
        ("eurometropole de strasbourg", None, ["DE"]),
        ("nice cote", None, ["IT", "MC"]),
        # Coastal territories of border départements (06, 66): the margin leaves France over
        # the sea only, not over a land border.
        ("cannes", None, []),
        ("perpignan", None, []),
    ],
)
def test_borders_reached_by_real_territories(query, km, expected):
    assert _reached(query, km) == expected
    # The PRECISION_KM tolerance decides none of these: the exact rule gives the same answer.
    territory = select_territory(query)
    km = margin_km({"voiture": 20, "marche": 30}) if km is None else km
    assert borders_reached(territory.communes, km, load_land_borders()) == expected


@pytest.mark.parametrize(
    ("code", "country", "metres"),
    [("08122", "BE", 278), ("09139", "AD", 549)],  # Chooz (Ardennes), L'Hospitalet-près-l'Andorre
)
def test_border_tolerance_is_needed_at_the_commune_level(code, country, metres):
    """Why the rule keeps PRECISION_KM rather than being exact: communes on the border (COG
    neighbours of Belgium and Andorra) lie a few hundred metres from the Natural Earth 1:10m
    line, so with --marge 0 the exact rule would miss the border they are on."""
    communes = select_territory(code).communes
    line = load_land_borders().set_index("code_pays").to_crs(2154).geometry[country]
    assert communes.to_crs(2154).distance(line).min() == pytest.approx(metres, abs=1)
    assert metres / 1000 <= PRECISION_KM
    assert borders_reached(communes, 0, load_land_borders()) == []
    assert borders_reached(communes, 0, load_land_borders(), tolerance_km=PRECISION_KM) == [country]


def test_border_note_in_french():
    assert border_note(["BE"]) == BELGIUM_NOTE
    assert border_note(["IT", "MC"]) == (
        "Le territoire et sa marge touchent l'Italie et Monaco : les services italiens et "
        "monégasques ne figurent dans aucun inventaire français ; les temps près des frontières "
        "peuvent être surestimés."
    )


def test_diagnostic_lists_the_services_outside_and_says_the_border():
    territory = select_territory(VM)
    registry = reference.load_registry()
    res = api.diagnostic(territory, {"voiture": 20, "marche": 30}, services=registry)
    assert res.border_countries == ["BE"]
    assert BELGIUM_NOTE in res.notes
    out = res.services_outside
    # Brute force: every registry service 0 < d ≤ 12.8 km from the territory's communes.
    polys = territory.communes.to_crs(2154).geometry
    d = np.array([polys.distance(p).min() / 1000 for p in registry.to_crs(2154).geometry])
    expected = registry.loc[(d > 0) & (d <= res.margin_km), "service_id"]
    assert sorted(out["service_id"]) == sorted(expected) == ["HDF-007"]
    row = out.iloc[0]
    assert (row["commune"], row["code_insee"]) == ("Denain", "59172")
    assert (row["code_departement"], row["departement"]) == ("59", "Nord")
    assert row["distance_territoire_km"] == pytest.approx(
        d[registry["service_id"] == "HDF-007"][0], abs=1e-3
    )
    assert row["source"].startswith("https://")
    # The Denain garage is the nearest garage of the communes that list it.
    nearest = res.units.filter(like="service_garage_solidaire").eq("HDF-007").any(axis=1)
    assert row["unites_servies"] == int(nearest.sum()) > 0
    assert row["population_servie"] == pytest.approx(res.units.loc[nearest, "population"].sum())


def test_non_border_territory_has_no_border_note():
    res = api.diagnostic("amiens metropole", {"voiture": 20})
    assert res.border_countries == []
    assert not any("inventaire français" in n for n in res.notes)


def test_analyse_writes_the_list_and_says_it(tmp_path, capsys):
    code = main(["analyse", "--territoire", VM, "--sans-carte", "--sortie", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert (
        "1 service hors du territoire pris en compte, liste dans services_hors_territoire.csv"
        in out
    )
    assert "Garage Solidaire du Hainaut - Denain (Denain, 2,7 km)" in out
    assert f"⚠ {BELGIUM_NOTE}" in out
    table = pd.read_csv(tmp_path / "services_hors_territoire.csv", encoding="utf-8-sig", dtype=str)
    assert list(table.columns) == list(api.OUTSIDE_COLUMNS)
    assert table.loc[0, ["service_id", "commune", "departement"]].tolist() == [
        "HDF-007",
        "Denain",
        "Nord",
    ]
    # With no margin, the list is empty but written (no earlier run's list left behind).
    assert main(["analyse", "--territoire", VM, "--sans-carte", "--marge", "0",
                 "--sortie", str(tmp_path)]) == 0  # fmt: skip
    assert "Aucun service hors du territoire" in capsys.readouterr().out
    empty = pd.read_csv(tmp_path / "services_hors_territoire.csv", encoding="utf-8-sig")
    assert len(empty) == 0 and list(empty.columns) == list(api.OUTSIDE_COLUMNS)


def test_report_says_the_border_and_the_list(tmp_path):
    assert main(["analyse", "--territoire", VM, "--mode", "voiture:20", "--sortie",
                 str(tmp_path)]) == 0  # fmt: skip
    report = (tmp_path / "rapport.html").read_text(encoding="utf-8")
    assert "les services belges ne figurent dans aucun inventaire français" in report
    assert "liste dans services_hors_territoire.csv" in report
    manifest = (tmp_path / "manifeste.json").read_text(encoding="utf-8")
    assert "services_hors_territoire.csv" in manifest
    # The map (carte.html, and the same page in the report) marks the service used outside the
    # territory, and only it: its popup says so, the script draws it hollow.
    text = "hors du territoire, pris en compte (à 2,7 km de sa limite)"
    for page in ("carte.html", "rapport.html"):
        html = (tmp_path / page).read_text(encoding="utf-8")
        match = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', html, re.S)
        if match is None:  # the report holds the map page as an escaped srcdoc
            assert html.count(text) == 1, page
            continue
        marked = {
            s["id"]: s["hors_territoire"]
            for s in decode_services(json.loads(match.group(1))["services"])
        }
        assert marked.pop("HDF-007") == text
        assert marked and set(marked.values()) == {""}


def test_suggestion_and_scenario_say_the_border_too():
    sug = api.suggest(VM, "garage_solidaire", "voiture", 1, method="greedy", progress=False)
    assert BELGIUM_NOTE in sug.notes
    res = api.scenario(VM, remove="HDF-007")
    assert BELGIUM_NOTE in res.notes and res.after.border_countries == ["BE"]
    inland = api.scenario("amiens metropole", remove="HDF-007")
    assert not any("inventaire français" in n for n in inland.notes)


def _outside_list(folder) -> pd.DataFrame:
    table = pd.read_csv(folder / "services_hors_territoire.csv", encoding="utf-8-sig", dtype=str)
    assert list(table.columns) == list(api.OUTSIDE_COLUMNS)
    return table


def test_suggerer_and_scenario_write_the_list_and_say_it(tmp_path, capsys):
    """Every command that uses services beyond the territory writes and names their list, as
    ``analyse`` does; the manifest records it."""
    sug = tmp_path / "suggerer"
    args = ["--territoire", VM, "--sans-carte", "--sortie", str(sug)]
    assert main(["suggerer", "--categorie", "garage_solidaire", "--mode", "voiture",
                 "--nombre", "1", *args]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert (
        "1 service hors du territoire pris en compte, liste dans services_hors_territoire.csv"
        in out
    )
    assert "Garage Solidaire du Hainaut - Denain (Denain, 2,7 km)" in out
    assert _outside_list(sug)["service_id"].tolist() == ["HDF-007"]
    assert "services_hors_territoire.csv" in (sug / "manifeste.json").read_text(encoding="utf-8")
    # Same list as analyse's (same services, same margin: car 20 min).
    direct = api.diagnostic(VM, {"voiture": 20}, categories=["garage_solidaire"])
    listed = _outside_list(sug)
    assert listed["distance_territoire_km"].astype(float).tolist() == pytest.approx(
        direct.services_outside["distance_territoire_km"].tolist()
    )

    scen = tmp_path / "scenario"
    assert main(["scenario", "--retirer", "HDF-013", "--mode", "voiture:20", "--territoire", VM,
                 "--sans-carte", "--sortie", str(scen)]) == 0  # fmt: skip
    assert "liste dans services_hors_territoire.csv" in capsys.readouterr().out
    assert _outside_list(scen)["service_id"].tolist() == ["HDF-007"]
    assert "services_hors_territoire.csv" in (scen / "manifeste.json").read_text(encoding="utf-8")
    # Removing the Denain garage: after the change no service outside is used; the list is
    # written empty (no earlier run's list left behind) and the terminal says so.
    assert main(["scenario", "--retirer", "HDF-007", "--mode", "voiture:20", "--territoire", VM,
                 "--sans-carte", "--sortie", str(scen)]) == 0  # fmt: skip
    assert "Aucun service hors du territoire" in capsys.readouterr().out
    assert len(_outside_list(scen)) == 0


def test_help_lists_the_outside_file_for_every_command(capsys):
    for command in ("analyse", "suggerer", "scenario"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "services_hors_territoire.csv" in capsys.readouterr().out, command


def test_static_map_reaches_the_outside_service_it_uses():
    """The printed map's extent takes in the service outside the territory that is the nearest
    of some commune (the Denain garage), so it is drawn (hollow) instead of cut off."""
    from zonesblanches.maps.figures import _with_outside_services

    territory = select_territory(VM)
    res = api.diagnostic(territory, {"voiture": 20})
    box = tuple(territory.communes.to_crs(2154).total_bounds)
    x, y = res.services_outside.to_crs(2154).geometry.iloc[0].coords[0]
    assert not (box[0] <= x <= box[2] and box[1] <= y <= box[3])  # Denain: beyond the box
    wide = _with_outside_services(res, "garage_solidaire", box)
    assert wide[0] <= x <= wide[2] and wide[1] <= y <= wide[3]
    assert _with_outside_services(res, "atelier_velo", box) == box
