"""The command line, end to end on the bundled data."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from zonesblanches.cli import build_parser, main, parse_modes
from zonesblanches.errors import ParameterError


def _read(path):
    return pd.read_csv(path, dtype={"code_insee": str, "code_epci": str, "code_departement": str})


def _payload(page: str) -> dict:
    """The data of a map page, as its script reads it."""
    match = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    assert match, "no map data in the page"
    return json.loads(match.group(1))


def _summary_lines(out: str, synthese: pd.DataFrame, singular: str, plural: str) -> None:
    """Each indicator's summary line counts its units in zone blanche, in the words of the unit
    kind (singular below 2). ``synthese`` is of a one-EPCI territory, so its rows are the
    territory's totals."""
    from zonesblanches.geodata.categories import category_label
    from zonesblanches.modes import MODES

    for r in synthese.itertuples():
        n = int(r.unites_zone_blanche)
        head = f"  {category_label(r.categorie)}, {MODES[r.mode].label} (≤ {r.seuil_min:.0f} min) :"
        (line,) = [x for x in out.splitlines() if x.startswith(head)]
        assert f"en zone blanche ({n} {singular if n < 2 else plural})" in line
        people = float(r.population_zone_blanche)
        assert ("habitant en zone blanche" if people < 2 else "habitants en zone blanche") in line


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--sans-carte", "--sortie", str(out)]) == 0
    return out


def test_demo_tables_add_up(demo_dir):
    communes = _read(demo_dir / "communes.csv")
    assert len(communes) == 3782
    # The demo's population adds up to the region's total (population municipale 2023).
    assert communes["population"].sum() == 5_992_194
    for col in (
        "code_insee",
        "nom",
        "code_epci",
        "population",
        "temps_garage_solidaire_voiture_min",
        "zone_blanche_garage_solidaire_voiture",
        "temps_atelier_velo_marche_min",
        "zone_blanche_atelier_velo_marche",
    ):
        assert col in communes.columns
    synthese = _read(demo_dir / "synthese.csv")
    n_categories = sum(
        c.startswith("zone_blanche_") and c.endswith("_voiture") for c in communes.columns
    )
    assert len(synthese) == 92 * n_categories * 2
    assert (synthese["methode"] == "vol_d_oiseau").all()
    # Per category × mode, EPCI populations add up to the region's.
    totals = synthese.groupby(["categorie", "mode"])["population"].sum()
    assert (totals == 5_992_194).all()
    zb = synthese["population_zone_blanche"] + synthese["population_couverte"]
    assert (zb == synthese["population"]).all()


def test_demo_flags_match_times(demo_dir):
    communes = _read(demo_dir / "communes.csv")
    t = communes["temps_garage_solidaire_voiture_min"]
    flag = communes["zone_blanche_garage_solidaire_voiture"]
    # Times are written rounded to 0.1 min: a flagged commune is at least 20 min away.
    assert (t[flag == 1] >= 20).all()
    assert (t[flag == 0] <= 20).all()


def test_demo_prints_french_summary(tmp_path, capsys):
    main(["demo", "--sans-carte", "--sortie", str(tmp_path)])
    out = capsys.readouterr().out
    assert "Territoire : Hauts-de-France" in out
    assert "vol d'oiseau" in out
    assert "zone blanche" in out
    # the example registry: a « 0 » would read as reassurance, the line says it is not checked
    assert "Problèmes signalés dans les fichiers lus : 0 — le registre d'exemple n'est pas" in out


def test_same_inputs_same_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    main(["analyse", "--territoire", "245901160", "--sans-carte", "--sortie", str(a)])
    main(["analyse", "--territoire", "245901160", "--sans-carte", "--sortie", str(b)])
    for name in ("communes.csv", "synthese.csv", "communes_zone_blanche.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_analyse_options(tmp_path, capsys):
    code = main(
        [
            "analyse",
            "--territoire",
            "valenciennes metropole",
            "--categorie",
            "garage_solidaire",
            "--mode",
            "velo:15",
            "--mode",
            "voiture",
            "--seuil",
            "25",
            "--sans-carte",
            "--sortie",
            str(tmp_path),
        ]
    )
    assert code == 0
    synthese = _read(tmp_path / "synthese.csv")
    assert set(synthese["categorie"]) == {"garage_solidaire"}
    assert dict(zip(synthese["mode"], synthese["seuil_min"], strict=True)) == {
        "velo": 15.0,
        "voiture": 25.0,
    }
    out = capsys.readouterr().out
    assert "CA Valenciennes Métropole" in out
    assert set(synthese["code_epci"]) == {"245901160"}
    _summary_lines(out, synthese, "commune", "communes")
    if synthese.loc[synthese["mode"] == "velo", "unites_zone_blanche"].iloc[0] > 0:
        assert "Communes en zone blanche les plus peuplées (Garage solidaire, à vélo)" in out
    assert "Carreaux en zone blanche" not in out


def test_principal_indicator_leads_the_terminal_and_the_table(tmp_path, capsys):
    """--principal: the terminal names the principal indicator's worst communes, with times
    capped in words; communes_zone_blanche.csv is sorted by it; a wrong one is a French error
    before anything is written."""
    args = ["analyse", "--territoire", "245901160", "--categorie", "garage_solidaire"]
    args += ["--mode", "voiture:20", "--mode", "marche:30", "--sans-carte"]
    code = main([*args, "--principal", "garage_solidaire:marche", "--sortie", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if "en zone blanche les plus" in x]
    assert "(Garage solidaire, à pied)" in line
    minutes = [float(m.replace(",", ".")) for m in re.findall(r"(\d+(?:,\d)?) min", line)]
    assert all(m <= 60 for m in minutes), line  # beyond 60 min: « plus de 60 min »
    table = _read(tmp_path / "communes_zone_blanche.csv")
    flags = table["zone_blanche_garage_solidaire_marche"].to_numpy()
    assert flags[0] == 1 and (flags[:-1] >= flags[1:]).all()  # principal's zones blanches first
    walkers = table[flags == 1]
    assert (walkers["population"].diff().dropna() <= 0).all()  # most populated first

    bad = tmp_path / "bad"
    code = main([*args, "--principal", "atelier_velo:marche", "--sortie", str(bad)])
    assert code == 2
    assert "Indicateur" in capsys.readouterr().err
    assert not (bad / "communes.csv").exists()


def test_unknown_territory_is_a_french_error(tmp_path, capsys):
    code = main(["analyse", "--territoire", "valencienes", "--sortie", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("Erreur : Territoire inconnu")
    assert "Valenciennes" in err


def test_unknown_mode_is_a_french_error(tmp_path, capsys):
    assert main(["analyse", "--mode", "fusee", "--sortie", str(tmp_path)]) == 2
    assert "Mode de déplacement inconnu" in capsys.readouterr().err


def test_parse_modes():
    assert parse_modes(None, None) == {"voiture": 20.0, "marche": 30.0}
    assert parse_modes(None, 10) == {"voiture": 10.0, "marche": 10.0}
    assert parse_modes(["bike:12,5", "car"], 30) == {"velo": 12.5, "voiture": 30.0}
    with pytest.raises(ParameterError):
        parse_modes(["voiture:vingt"], None)


def test_sources_command(capsys):
    assert main(["sources"]) == 0
    out = capsys.readouterr().out
    assert "Licence Ouverte" in out and "decoupage-administratif" in out


@pytest.mark.parametrize("command", ["demo", "analyse", "sources"])
def test_help_is_french_with_example(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "exemple" in out or command == "sources"
    assert "utilisation :" in out and "affiche cette aide" in out
    if command == "analyse":
        for option in (
            "--territoire",
            "--services",
            "--crs",
            "--categorie",
            "--mode",
            "--seuil",
            "--sortie",
        ):
            assert option in out
        assert "zonesblanches analyse --territoire" in out


def test_parser_has_commands():
    actions = [a for a in build_parser()._actions if a.dest == "commande"]
    assert set(actions[0].choices) >= {"demo", "analyse", "sources"}


def test_usage_errors_are_french(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyse", "--seuil", "vingt"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Erreur : option --seuil : nombre invalide" in err
    assert "utilisation :" in err


def test_acceptance_file_bad_rows(tmp_path, capsys):
    """A services file with a <script> name, swapped coordinates, an unknown commune and an
    unknown category: map with the name as text, rejects with reasons, problems counted."""
    from pathlib import Path

    source = Path(__file__).parent / "data" / "services" / "acceptance.csv"
    code = main(["analyse", "--services", str(source), "--sortie", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    problems = int(out.split("Problèmes signalés : ")[1].split()[0])
    assert problems >= 3  # swapped pair fixed and reported, two rows rejected
    assert "Coordonnées inversées" in out and "ligne 6" in out

    rejects = pd.read_csv(tmp_path / "rejets.csv", dtype=str)
    by_line = dict(zip(rejects["ligne"], rejects["motif"], strict=True))
    assert "Abeville" in by_line["7"] and "Abbeville" in by_line["7"]  # suggests the right name
    assert "catégorie inconnue" in by_line["8"] and "pizzeria" in by_line["8"]

    html = (tmp_path / "carte.html").read_text(encoding="utf-8")
    assert "alert('zonesblanches')" in html  # the service is on the map…
    assert "<script>alert('zonesblanches')" not in html  # …never as markup
    communes = _read(tmp_path / "communes.csv")
    assert communes["population"].sum() == 5_992_194


def test_demo_says_which_population_and_qpv(demo_dir, tmp_path, capsys):
    main(["demo", "--sans-carte", "--sortie", str(tmp_path)])
    out = capsys.readouterr().out
    assert "Population : un point par commune" in out
    assert "QPV : pas de fichier" in out
    assert "Mode hors ligne" in out  # the network step says why it did not run


def test_analyse_with_grid_and_qpv_files(tmp_path, capsys):
    """--carreaux and --qpv reach the analysis: the test grid (official layout, synthetic
    values, real coordinates at Valenciennes) and a real QPV file of another region."""
    from pathlib import Path

    data = Path(__file__).parent / "data"
    code = main(
        [
            "analyse",
            "--territoire",
            "valenciennes",
            "--sans-carte",
            "--carreaux",
            str(data / "carreaux" / "carreaux_200m_test.csv"),
            "--qpv",
            str(data / "qpv" / "qp2015_occitanie.geojson"),
            "--sortie",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Population : carreaux INSEE Filosofi" in out
    assert "QPV : 0 quartier prioritaire dans le territoire" in out
    synthese = _read(tmp_path / "synthese.csv")
    assert set(synthese["code_epci"]) == {"245901160"}
    _summary_lines(out, synthese, "carreau", "carreaux")
    assert "Communes en zone blanche" not in out
    units = pd.read_csv(tmp_path / "communes.csv", dtype=str)
    # Only the grid's cells whose centre lies in CA Valenciennes Métropole are units.
    assert set(units["code_epci"]) == {"245901160"}


def test_isochrones_need_a_network(tmp_path, capsys):
    assert (
        main(
            ["analyse", "--territoire", "arras", "--isochrones", "10,20", "--sortie", str(tmp_path)]
        )
        == 2
    )
    assert "Les isochrones demandent un réseau routier" in capsys.readouterr().err


def test_osm_file_that_misses_the_territory_is_a_french_error(tmp_path, capsys):
    from pathlib import Path

    andorra = Path(__file__).parent / "data" / "osm" / "andorra.osm.pbf"
    code = main(
        [
            "analyse",
            "--territoire",
            "valenciennes",
            "--osm",
            str(andorra),
            "--sans-carte",
            "--sortie",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "Aucune voie utilisable" in capsys.readouterr().err


def test_scenario_lens_to_wingles_adds_up(tmp_path, capsys):
    """The real 2025 move of the Garage Solidaire du Bassin Minier, from the CLI, with its
    regional map (about 3 MB since only the units that change are drawn)."""
    code = main(["scenario", "--deplacer", "HDF-002:62895", "--sortie", str(tmp_path)])
    assert code == 0
    page = tmp_path / "carte_scenario.html"
    assert 0 < page.stat().st_size < 8_000_000
    from zonesblanches.geodata import reference

    registry = reference.load_registry()
    (name,) = registry.loc[registry["service_id"] == "HDF-002", "nom"]
    (moves,) = [
        layer
        for layer in _payload(page.read_text(encoding="utf-8"))["extra"]
        if layer["name"].startswith("Services changés par le scénario")
    ]
    drawn = {f["properties"]["k"]: f["properties"] for f in moves["data"]["features"]}
    assert set(drawn) == {"avant", "apres", "trajet"}
    assert {p["nom"] for p in drawn.values()} == {name}
    assert (drawn["apres"]["avant"], drawn["apres"]["apres"]) == ("Lens", "Wingles")
    out = capsys.readouterr().out
    assert "Lens (62498) → Wingles (62895)" in out
    units = pd.read_csv(tmp_path / "scenario_unites.csv", dtype={"code_insee": str})
    for (_cat, _mode), g in units.groupby(["categorie", "mode"]):
        gained = g.loc[g["evolution"] == "gagne", "population"].sum()
        lost = g.loc[g["evolution"] == "perd", "population"].sum()
        before = g.loc[g["couvert_avant"], "population"].sum()
        after = g.loc[g["couvert_apres"], "population"].sum()
        assert gained - lost == after - before
    walk = units[(units["mode"] == "marche") & (units["categorie"] == "garage_solidaire")]
    assert set(walk.loc[walk["evolution"] == "gagne", "nom"]) == {"Wingles"}
    assert set(walk.loc[walk["evolution"] == "perd", "nom"]) == {"Lens"}
    epci = pd.read_csv(tmp_path / "scenario_epci.csv", dtype={"code_epci": str})
    assert (epci["population_gagnante"] - epci["population_perdante"] == epci["variation"]).all()


def test_scenario_needs_a_change(tmp_path, capsys):
    assert main(["scenario", "--sortie", str(tmp_path)]) == 2
    assert "au moins un changement" in capsys.readouterr().err


def test_suggerer_small_territory(tmp_path, capsys):
    code = main(
        [
            "suggerer",
            "--territoire",
            "valenciennes",
            "--categorie",
            "atelier_velo",
            "--mode",
            "marche",
            "--seuil",
            "30",
            "--nombre",
            "2",
            "--sortie",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Garantie de la sélection gloutonne" in out
    assert "écart à l'optimum" in out
    table = pd.read_csv(tmp_path / "sites_suggeres.csv", dtype=str)
    assert len(table) == 2
    gained = table["population_gagnee"].astype(float)
    assert gained.is_monotonic_decreasing and (gained > 0).all()
    assert (tmp_path / "sites_suggeres.gpkg").exists()


def test_qpv_indicators_reach_tables_summary_and_map(tmp_path, capsys):
    """Wiring test. The QPV here is SYNTHETIC (a rectangle drawn over cells of the test grid,
    code QN05999T): no real QPV file of Hauts-de-France is available offline."""
    from pathlib import Path

    import geopandas as gpd
    from shapely.geometry import box

    from zonesblanches.geodata.carreaux import load_carreaux

    data = Path(__file__).parent / "data"
    grid = data / "carreaux" / "carreaux_200m_test.csv"
    from zonesblanches.geodata.territory import select_territory

    vm = select_territory("valenciennes").geometry
    cells = load_carreaux(grid, mask=vm, progress=False).to_crs(2154)
    square = box(*cells.geometry.iloc[:2].total_bounds)  # over the first cells inside VM
    qpv = gpd.GeoDataFrame(
        {
            "code_qp": ["QN05999T"],
            "lib_qp": ["Quartier de test (synthétique)"],
            "insee_dep": ["59"],
            "insee_com": ["59606"],
            "lib_com": ["Valenciennes"],
            "siren_epci": ["245901160"],
        },
        geometry=[square],
        crs=2154,
    ).to_crs(4326)
    qpv_file = tmp_path / "qpv_test.geojson"
    qpv.to_file(qpv_file, driver="GeoJSON")
    out_dir = tmp_path / "out"
    code = main(
        [
            "analyse",
            "--territoire",
            "valenciennes",
            "--carreaux",
            str(grid),
            "--qpv",
            str(qpv_file),
            "--sortie",
            str(out_dir),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "QPV : 1 quartier prioritaire" in out
    assert "Habitants des QPV à portée" in out
    table = pd.read_csv(out_dir / "qpv.csv")
    assert set(table["code_qp"]) == {"QN05999T"}
    assert (table["population"] > 0).all()
    html = (out_dir / "carte.html").read_text(encoding="utf-8")
    assert "Quartier de test (synth" in html
    assert "à portée" in html


def test_suggerer_writes_the_gain_curve(tmp_path):
    """k = 1…10 from one greedy run even when 2 sites are asked: the table and the figure."""
    code = main(
        ["suggerer", "--territoire", "62", "--categorie", "garage_solidaire", "--nombre", "2",
         "--methode", "glouton", "--sans-carte", "--sortie", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    curve = pd.read_csv(tmp_path / "courbe_gain.csv", encoding="utf-8-sig")
    assert list(curve["k"]) == list(range(1, len(curve) + 1)) and len(curve) == 10
    gains = curve["population_gagnee"].to_numpy()
    assert (gains[:-1] >= gains[1:]).all()  # greedy gains never increase
    covered = curve["population_couverte"].to_numpy()
    assert (covered[1:] - covered[:-1] == gains[1:]).all()
    sites = pd.read_csv(tmp_path / "sites_suggeres.csv", encoding="utf-8-sig")
    assert len(sites) == 2
    assert (tmp_path / "courbe_gain.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
