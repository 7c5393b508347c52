"""Issue 12, phase 2: the services of an analysis from the example registry, data·inclusion (file,
cache or download), or the planner's inventory; --depuis, --exclure-a-verifier; the commands
``services`` and ``categories``. Offline, on the fixtures of tests/data/data_inclusion (SOURCE.md
there); the download goes to the local server of test_data_inclusion.py."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pandas as pd
import pytest
from test_data_inclusion import STATIC, server  # noqa: F401 (fixture)

from zonesblanches import api
from zonesblanches.cli import main
from zonesblanches.geodata import reference
from zonesblanches.geodata.categories import CATEGORIES
from zonesblanches.geodata.inventory import read_inventory
from zonesblanches.summaries import format_results

DATA = Path(__file__).parent / "data" / "data_inclusion"
PARQUET = DATA / "services.parquet"
VM = "245901160"  # CA Valenciennes Métropole
CAVEAT = (
    "Registre d'exemple : 19 services, non exhaustif — pour un diagnostic, utilisez "
    "l'inventaire data·inclusion ou votre fichier"
)


def test_example_registry_is_labelled_next_to_the_headline(capsys, tmp_path):
    res = api.diagnostic(VM)
    assert res.services_caveat == CAVEAT
    assert res.notes[0] == CAVEAT + "."
    assert CAVEAT in format_results(res).splitlines()[1]
    real = api.diagnostic(VM, services=PARQUET)
    assert real.services_caveat == "" and not any("Registre d'exemple" in n for n in real.notes)
    assert any("Inventaire data·inclusion" in n for n in real.notes)
    assert main(["analyse", "--territoire", VM, "--sans-carte", "--sortie", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count(CAVEAT) >= 2  # services line and next to the results


def test_data_inclusion_file_is_recognised_and_searched_with_the_margin(tmp_path, capsys):
    code = main(["analyse", "--territoire", VM, "--services", str(PARQUET), "--sans-carte",
                 "--mode", "voiture:20", "--sortie", str(tmp_path)])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "Registre d'exemple" not in out and "21 services lus" in out
    assert (tmp_path / "rejets.csv").is_file() and (tmp_path / "communes.csv").is_file()
    # the margin is coverage.margin's: 20 min by car at 50 km/h / 1.3 → 12.8 km
    wide = api.resolve_services(VM, PARQUET, thresholds={"voiture": 20})
    assert wide.margin_km == pytest.approx(20 / 60 * 50 / 1.3)
    none = api.resolve_services(VM, PARQUET, margin_km=0)
    assert len(none.services) < len(wide.services)
    ids = set(wide.services["service_id"])
    assert "mobin--gsh" in ids  # Denain: outside the EPCI, within the margin
    assert "dora--au5v" not in ids  # Creil: far beyond


@pytest.mark.parametrize("ext", [".csv", ".xlsx", ".gpkg"])
def test_inventory_round_trip(tmp_path, ext, capsys):
    first, second = tmp_path / f"inv{ext}", tmp_path / f"inv2{ext}"
    assert main(["services", "--territoire", VM, "--services", str(PARQUET),
                 "--sortie", str(first)]) == 0  # fmt: skip
    assert main(["services", "--territoire", VM, "--services", str(first),
                 "--sortie", str(second)]) == 0  # fmt: skip
    a, b = read_inventory(first).services, read_inventory(second).services
    pd.testing.assert_frame_equal(a, b)
    direct = api.service_inventory(VM, PARQUET).services
    assert list(a["service_id"]) == list(direct["service_id"])
    # the analysis reads the inventory back as the same services
    back = api.resolve_services(VM, first).services
    assert list(back["service_id"]) == list(direct["service_id"])
    assert back.geometry.x.to_numpy() == pytest.approx(direct.geometry.x.to_numpy(), abs=1e-9)
    assert set(a["statut"]) == {""}
    if ext == ".csv":
        assert first.read_bytes() == second.read_bytes()
    # never over an existing file
    assert main(["services", "--territoire", VM, "--sortie", str(first)]) == 2
    assert "existe déjà" in capsys.readouterr().err


def test_inventory_closed_rows_left_out_and_counted(tmp_path, capsys):
    inv = tmp_path / "inv.csv"
    assert main(["services", "--territoire", VM, "--services", str(PARQUET),
                 "--sortie", str(inv)]) == 0  # fmt: skip
    table = pd.read_csv(inv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    table.loc[table["service_id"] == "dora--mdv", "statut"] = "Fermé"
    table.to_csv(inv, index=False, encoding="utf-8-sig")
    capsys.readouterr()
    res = api.resolve_services(VM, inv)
    assert "dora--mdv" not in set(res.services["service_id"])
    assert len(res.services) == len(table) - 1
    assert any("1 service marqué « fermé »" in w for w in res.warnings)
    assert main(["analyse", "--territoire", VM, "--services", str(inv), "--sans-carte",
                 "--sortie", str(tmp_path / "r")]) == 0  # fmt: skip
    assert "« fermé »" in capsys.readouterr().out


def test_registry_inventory_says_a_verifier(tmp_path):
    inv = tmp_path / "registre.csv"
    assert main(["services", "--territoire", "region", "--sortie", str(inv)]) == 0
    table = pd.read_csv(inv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    registry = reference.load_registry()
    assert len(table) == len(registry) == 19
    assert (table["statut"] == "à vérifier").sum() == (registry["statut"] == "a_verifier").sum()
    assert "a_verifier" not in set(table["statut"])
    assert set(table["regle_categorie"]) == {"fichier"}
    back = read_inventory(inv).services
    assert (back["statut"] == "a_verifier").sum() == (registry["statut"] == "a_verifier").sum()


def test_depuis_and_exclure_a_verifier(capsys, tmp_path):
    registry = reference.load_registry()
    unverified = int((registry["statut"] == "a_verifier").sum())
    res = api.resolve_services(None, exclude_unverified=True)
    assert len(res.services) == 19 - unverified > 0
    assert res.caveat.startswith(f"Registre d'exemple : {19 - unverified} services")
    assert any(f"{unverified} services « à vérifier » écartés" in line for line in res.lines)
    dates = pd.to_datetime(registry["date_source"], format="mixed", errors="coerce")
    recent = int((dates >= "2024-01-01").sum())
    assert 0 < recent < 19
    assert len(api.resolve_services(None, depuis="2024-01-01").services) == recent
    di = api.resolve_services(VM, PARQUET, depuis="2025-01-01", margin_km=200)
    every = api.resolve_services(VM, PARQUET, margin_km=200)
    assert len(di.services) < len(every.services)
    assert (pd.to_datetime(di.services["date_maj"]) >= "2025-01-01").all()
    code = main(["analyse", "--territoire", VM, "--exclure-a-verifier", "--depuis", "2024-01-01",
                 "--sans-carte", "--sortie", str(tmp_path)])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "--exclure-a-verifier" in out and "--depuis 2024-01-01" in out
    assert main(["analyse", "--depuis", "hier", "--sortie", str(tmp_path)]) == 2
    assert "AAAA-MM-JJ" in capsys.readouterr().err


def test_services_data_inclusion_downloads_then_uses_the_cache(server, monkeypatch, tmp_path,  # noqa: F811
                                                               capsys):  # fmt: skip
    out = tmp_path / "inv.csv"
    assert main(["services", "--territoire", VM, "--services", "data-inclusion",
                 "--sortie", str(out)]) == 0  # fmt: skip
    assert server.hits.count(STATIC) == 1
    text = capsys.readouterr().out
    assert "inventaire data·inclusion (national)" in text and "licence etalab-2.0" in text
    server.hits.clear()
    monkeypatch.setenv("ZONESBLANCHES_HORS_LIGNE", "1")
    again = api.service_inventory(VM, "data-inclusion")
    assert server.hits == []
    assert list(again.services["service_id"]) == list(read_inventory(out).services["service_id"])


def test_data_inclusion_offline_without_cache_is_a_french_error(capsys, tmp_path):
    code = main(["analyse", "--territoire", VM, "--services", "data-inclusion",
                 "--sortie", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "Aucune copie de l'inventaire data·inclusion" in capsys.readouterr().err


def test_categories_command(capsys):
    assert main(["categories"]) == 0
    out = capsys.readouterr().out
    assert "regle_categorie" in out
    for code in CATEGORIES:
        assert code in out or CATEGORIES[code].label in out


def test_market_offer_is_context_never_a_service(tmp_path, capsys):
    from zonesblanches.coverage.traveltime import StraightLineModel
    from zonesblanches.geodata.bpe import load_bpe

    bpe = DATA / "bpe_wgs84.csv"
    plain = api.diagnostic(VM, {"voiture": 20})
    res = api.diagnostic(VM, {"voiture": 20}, market=bpe)
    # the coverage figures do not change: the market offer is not a service
    pd.testing.assert_frame_equal(plain.summary(by=None), res.summary(by=None))
    assert len(res.services) == len(plain.services)
    equipments = load_bpe(bpe).equipments
    for kind in ("ecole_de_conduite", "reparation_automobile"):
        col = f"temps_offre_marchande_{kind}_voiture"
        points = equipments.loc[equipments["equipement"] == kind].geometry
        oracle = StraightLineModel("voiture").nearest(res.units.geometry, points).minutes
        assert res.units[col].to_numpy() == pytest.approx(oracle)
    assert any("jamais comptés comme services solidaires" in n for n in res.notes)
    code = main(["analyse", "--territoire", VM, "--offre-marchande", str(bpe), "--sans-carte",
                 "--mode", "voiture:20", "--sortie", str(tmp_path)])  # fmt: skip
    assert code == 0
    table = pd.read_csv(tmp_path / "communes.csv", encoding="utf-8-sig")
    assert "temps_offre_marchande_ecole_de_conduite_voiture_min" in table
    assert "temps_offre_marchande_reparation_automobile_voiture_min" in table


def test_demo_uses_data_inclusion_when_a_copy_exists(server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("ZONESBLANCHES_HORS_LIGNE", "1")
    assert api.demo_services(progress=False) is None  # offline, nothing cached: the registry
    monkeypatch.setenv("ZONESBLANCHES_HORS_LIGNE", "0")
    assert api.demo_services(progress=False) == "data-inclusion"  # online: downloaded
    assert server.hits.count(STATIC) == 1
    monkeypatch.setenv("ZONESBLANCHES_HORS_LIGNE", "1")
    assert api.demo_services(progress=False) == "data-inclusion"  # cached copy


def test_flagged_rows_are_written_beside_the_rejects(tmp_path, capsys):
    """Issue 12 §2: a service declared in Valenciennes whose coordinates are in Lille keeps its
    coordinates and is flagged with both communes, on the terminal and in signalements.csv
    (data·inclusion and a user's file alike); the services command writes it beside its rejects."""
    out = tmp_path / "di"
    assert main(["analyse", "--territoire", "59", "--services", str(PARQUET), "--sans-carte",
                 "--mode", "voiture:20", "--sortie", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "gardées mais signalées, détail dans" in text or "gardée mais signalée, détail" in text
    flags = pd.read_csv(out / "signalements.csv", encoding="utf-8-sig", dtype=str)
    motif = flags.set_index("id").loc["dora--decl", "motif"]
    assert "Valenciennes (59606)" in motif and "Lille (59350)" in motif
    assert motif in text
    assert "signalements.csv" in (out / "manifeste.json").read_text(encoding="utf-8")

    lille = reference.load_communes().set_index("code_insee").loc["59350"]
    mine = tmp_path / "mes_services.csv"
    mine.write_text(
        "nom,categorie,code_insee,longitude,latitude\n"
        f"Garage test,garage_solidaire,59606,{lille['lon']},{lille['lat']}\n",
        encoding="utf-8",
    )
    out = tmp_path / "fichier"
    assert main(["analyse", "--territoire", "59", "--services", str(mine), "--sans-carte",
                 "--mode", "voiture:20", "--sortie", str(out)]) == 0  # fmt: skip
    flags = pd.read_csv(out / "signalements.csv", encoding="utf-8-sig", dtype=str)
    assert flags["ligne"].tolist() == ["2"]
    assert (
        "Valenciennes (59606)" in flags.loc[0, "motif"] and "Lille (59350)" in flags.loc[0, "motif"]
    )
    inventory = tmp_path / "inv.csv"
    assert main(["services", "--territoire", "59", "--services", str(mine),
                 "--sortie", str(inventory)]) == 0  # fmt: skip
    assert (tmp_path / "inv_signalements.csv").is_file() and (tmp_path / "inv_rejets.csv").is_file()


ADDRESSES = (
    "nom,categorie,adresse,code_postal,commune,code_insee,longitude,latitude\n"
    "Garage A,garage_solidaire,22 Boulevard Flandrin,75116,Paris,75116,,\n"
    "Atelier B,atelier_velo,Place de l Hotel de Ville,75004,Paris,75104,,\n"
    "Auto-école C,auto_ecole_sociale,rue vague,69001,Lyon,69123,,\n"
    "Location D,location_solidaire,1 rue introuvable,59300,Valenciennes,59606,,\n"
    "Plateforme E,plateforme_mobilite,,59300,Valenciennes,59606,,\n"
    "Garage F,garage_solidaire,22 Boulevard Flandrin,59300,Valenciennes,59606,3.5234,50.3579\n"
)
"""A user's file: addresses the local geocoder answers (test_data_inclusion.ANSWERS: a house
number and a street in Paris, a Lyon answer below the score threshold), one it does not know,
one row without address, one with coordinates (never geocoded)."""


def test_user_file_addresses_are_geocoded(server, tmp_path):  # noqa: F811
    """Issue 12 §2: rows of a user's file with an address and no coordinates go through the
    Géoplateforme batch geocoder as data·inclusion rows do (one batch, citycode, threshold,
    429 retry-after, cache); the others fall back on their commune, flagged."""
    from zonesblanches.geodata.geocodage import Geocoder
    from zonesblanches.geodata.services import read_services

    path = tmp_path / "adresses.csv"
    path.write_text(ADDRESSES, encoding="utf-8")
    waits: list[float] = []
    server.throttle_once = True
    geocoder = Geocoder(sleep=lambda s: waits.append(s))
    read = read_services(path, communes=reference.load_communes(None), geocoder=geocoder)
    assert 1.0 in waits and len(server.posts) == 2  # the 429, then one batch of 4 addresses
    s = read.services.set_index("nom")
    assert s["precision"].to_dict() == {
        "Garage A": "adresse", "Atelier B": "rue", "Auto-école C": "commune",
        "Location D": "commune", "Plateforme E": "commune", "Garage F": "coordonnees",
    }  # fmt: skip
    assert s.loc["Garage A", "geometry"].x == pytest.approx(2.272782)
    assert s.loc["Atelier B", "geometry"].y == pytest.approx(48.854287)
    assert s.loc["Garage F", "geometry"].x == pytest.approx(3.5234)
    assert (s.loc["Auto-école C", "code_insee"], s.loc["Location D", "code_insee"]) == (
        "69123",
        "59606",
    )
    flags = dict(zip(read.flags["ligne"].astype(int), read.flags["motif"], strict=True))
    assert "0.55 sous le seuil 0.60" in flags[4] and "placé à la commune" in flags[4]
    assert "introuvable" in flags[5]
    assert any("2 adresses géocodées (Géoplateforme) : 1 à l'adresse, 1 à la rue" in w
               for w in read.warnings)  # fmt: skip
    # the method notes sum the precisions (Hauts-de-France: the Lyon row, placed at its commune
    # only, has no commune point in the region's reference and is rejected)
    resolved = api.resolve_services(None, path)
    assert resolved.lines == ["Localisation : 1 par coordonnées fournies, 1 géocodé à l'adresse, "
                              "1 à la rue, 2 à la commune."]  # fmt: skip
    assert resolved.rejects["motif"].str.contains("69123").all() and len(resolved.rejects) == 1
    assert len(server.posts) == 2  # answered from the cache
    # a re-run sends no request: every answer is cached by normalised address
    again = read_services(path, communes=reference.load_communes(None), geocoder=Geocoder())
    assert len(server.posts) == 2
    pd.testing.assert_frame_equal(again.services, read.services)


def test_user_file_addresses_offline_go_to_their_commune(tmp_path):
    from zonesblanches.geodata.services import read_services

    path = tmp_path / "adresses.csv"
    path.write_text(ADDRESSES, encoding="utf-8")
    read = read_services(path, communes=reference.load_communes(None))
    assert set(read.services["precision"]) == {"commune", "coordonnees"}
    assert any("Mode hors ligne" in w and "4 adresses non géocodées" in w for w in read.warnings)


def test_report_says_the_example_registry_next_to_the_headline_and_on_the_card(tmp_path):
    """Issue 12 §6: the report built on the example registry says so under its headline and on
    the « services pris en compte » key-figure card, not only in the method; a real inventory's
    report does not."""
    from zonesblanches.maps.report import write_report

    territory = api.as_territory(VM)
    res = api.diagnostic(territory, {"voiture": 20})
    html = write_report(res, territory.communes, tmp_path / "a", static_maps=[]).read_text(
        encoding="utf-8"
    )
    caveat = escape(CAVEAT)
    lead = html.index("<p class='lead'>")
    assert html.index(f"services pris en compte — ⚠ {caveat}") - lead < 600
    assert f"services pris en compte — {caveat}</span></div>" in html
    real = api.diagnostic(territory, {"voiture": 20}, services=PARQUET)
    html = write_report(real, territory.communes, tmp_path / "b", static_maps=[]).read_text(
        encoding="utf-8"
    )
    assert "Registre d'exemple" not in html


def test_data_inclusion_fields_reach_every_table(tmp_path):
    """Issue 12 §1: source, date_maj, score_qualite, lien_source and the data·inclusion id are
    carried to the services sheet of diagnostic.xlsx, the GeoPackage layer and the report."""
    import geopandas as gpd

    out = tmp_path / "out"
    assert main(["analyse", "--territoire", VM, "--services", str(PARQUET), "--mode",
                 "voiture:20", "--sortie", str(out)]) == 0  # fmt: skip
    wanted = ["service_id", "source", "date_maj", "score_qualite", "lien_source",
              "id_data_inclusion", "precision", "regle_categorie"]  # fmt: skip
    sheet = pd.read_excel(out / "diagnostic.xlsx", sheet_name="Services", dtype=str)
    layer = gpd.read_file(out / "diagnostic.gpkg", layer="services")
    for table in (sheet, layer):
        assert set(wanted) <= set(table.columns)
        row = table.set_index("service_id").loc["dora--mdv"]
        assert row["date_maj"] == "2025-02-10" and row["lien_source"].endswith("dora--mdv")
        assert float(row["score_qualite"]) == pytest.approx(0.6)
    report = (out / "rapport.html").read_text(encoding="utf-8")
    assert "Mise à jour (data·inclusion)" in report and "2025-02-10" in report
