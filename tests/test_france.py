"""Acceptance runs of issue 13 outside Hauts-de-France, end to end through the command line.

Each run writes map, report and tables from a small services file written here. The services are
TEST SERVICES, labelled as such in their name and source: each sits at the interior point of a
real commune taken from the bundled reference data (no invented place, population or boundary);
they are not claims that such a service exists there.
"""

from __future__ import annotations

import csv

import pandas as pd
import pytest

from zonesblanches.cli import main
from zonesblanches.geodata import reference


def _services(path, rows):
    """Write a services CSV: (service_id, categorie, code_insee) at the commune's point."""
    points = reference.load_communes(None).set_index("code_insee")
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["service_id", "nom", "categorie", "code_insee", "lon", "lat", "source"])
        for sid, cat, code in rows:
            p = points.loc[code]
            out.writerow(
                [
                    sid,
                    f"Service de test au point de la commune de {p['nom']}",
                    cat,
                    code,
                    p["lon"],
                    p["lat"],
                    "test zonesblanches : point intérieur de la commune (données embarquées)",
                ]
            )
    return path


def _run(tmp_path, territoire, rows, *extra):
    tmp_path.mkdir(parents=True, exist_ok=True)
    sortie = tmp_path / "sortie"
    source = _services(tmp_path / "services.csv", rows)
    args = ["analyse", "--territoire", territoire, "--services", str(source)]
    args += ["--mode", "voiture:20", *extra, "--sortie", str(sortie)]
    assert main(args) == 0
    return sortie


def _communes(sortie):
    return pd.read_csv(sortie / "communes.csv", dtype={"code_insee": str, "code_epci": str})


@pytest.mark.slow
@pytest.mark.parametrize(
    "territoire,rows,n_communes",
    [
        # CU Angers Loire Métropole: Angers and Trélazé.
        (
            "244900015",
            [("T-ANG-1", "garage_solidaire", "49007"), ("T-ANG-2", "garage_solidaire", "49353")],
            29,
        ),
        # Toulouse Métropole: Toulouse and Colomiers.
        (
            "243100518",
            [("T-TLS-1", "auto_ecole_sociale", "31555"), ("T-TLS-2", "atelier_velo", "31149")],
            37,
        ),
        # Métropole d'Aix-Marseille-Provence: Marseille and Aix-en-Provence.
        (
            "200054807",
            [("T-AMP-1", "plateforme_mobilite", "13055"), ("T-AMP-2", "garage_solidaire", "13001")],
            92,
        ),
        # The Cher: Bourges, Vierzon, Saint-Amand-Montrond.
        (
            "18",
            [
                ("T-CHER-1", "plateforme_mobilite", "18033"),
                ("T-CHER-2", "plateforme_mobilite", "18279"),
                ("T-CHER-3", "plateforme_mobilite", "18197"),
            ],
            286,
        ),
    ],
)
def test_acceptance_runs(tmp_path, territoire, rows, n_communes):
    sortie = _run(tmp_path, territoire, rows)
    for name in ("carte.html", "rapport.html", "communes.csv", "synthese.csv", "diagnostic.gpkg"):
        assert (sortie / name).stat().st_size > 0, name
    communes = _communes(sortie)
    expected = reference.load_communes(None)
    if territoire.isdigit() and len(territoire) == 9:
        expected = expected[expected["code_epci"] == territoire]
    else:
        expected = expected[expected["code_departement"] == territoire]
    assert len(communes) == len(expected) == n_communes
    assert int(communes["population"].sum()) == int(expected["population"].sum())
    # The communes holding a service are covered.
    for _, cat, code in rows:
        row = communes.set_index("code_insee").loc[code]
        assert row[f"zone_blanche_{cat}_voiture"] == 0
    # An EPCI map stays within the 3 MB budget of an EPCI map (Aix-Marseille: 92 communes).
    if len(territoire) == 9:
        assert (sortie / "carte.html").stat().st_size <= 3_000_000
    if territoire == "18":
        assert (sortie / "carte.html").stat().st_size <= 8_000_000


@pytest.mark.slow
def test_senlis_reaches_a_service_across_the_region_border(tmp_path):
    """CC Senlis Sud Oise (Oise, Hauts-de-France) and a service in Fosses (Val-d'Oise,
    Île-de-France): its southern communes reach it within 20 min by car; without the margin
    (--marge 0) they are in zone blanche."""
    rows = [("T-FOS-1", "garage_solidaire", "95250"), ("T-SEN-1", "auto_ecole_sociale", "60612")]
    south = ["60505", "60631", "60241"]  # Pontarmé, Thiers-sur-Thève, Fontaine-Chaalis
    first = _run(tmp_path / "a", "200066975", rows)
    # The map draws the margin lightly, the method says which services came from it.
    assert "Marge de 12,8 km" in (first / "carte.html").read_text(encoding="utf-8")
    assert "1 service hors du territoire" in (first / "rapport.html").read_text(encoding="utf-8")
    with_margin = _communes(first).set_index("code_insee")
    col = "zone_blanche_garage_solidaire_voiture"
    assert (with_margin.loc[south, col] == 0).all()
    assert (with_margin.loc[south, "temps_garage_solidaire_voiture_min"] <= 20).all()
    assert (with_margin.loc[south, "service_garage_solidaire_voiture"] == "T-FOS-1").all()
    inside = _run(tmp_path / "b", "200066975", rows, "--marge", "0", "--sans-carte")
    inside = _communes(inside).set_index("code_insee")
    assert (inside.loc[south, col] == 1).all()
    # The service inside the EPCI is unaffected.
    pd.testing.assert_series_equal(
        inside["zone_blanche_auto_ecole_sociale_voiture"],
        with_margin["zone_blanche_auto_ecole_sociale_voiture"],
    )


def test_services_by_commune_code_outside_the_default_region(tmp_path, capsys):
    """Outside Hauts-de-France a services file giving only INSEE codes is geocoded among all
    communes of metropolitan France, the next département's included (Nevers, 58194)."""
    source = tmp_path / "services.csv"
    source.write_text(
        "service_id,nom,categorie,code_insee\n"
        "T-1,Service de test au point de Bourges,plateforme_mobilite,18033\n"
        "T-2,Service de test au point de Nevers,plateforme_mobilite,58194\n",
        encoding="utf-8",
    )
    args = ["analyse", "--territoire", "cher", "--services", str(source), "--mode", "voiture:20"]
    assert main([*args, "--sans-carte", "--sortie", str(tmp_path / "sortie")]) == 0
    out = capsys.readouterr().out
    assert "1 service hors du territoire retenu" in out
    communes = _communes(tmp_path / "sortie").set_index("code_insee")
    assert communes.at["18033", "service_plateforme_mobilite_voiture"] == "T-1"
    # Communes of the Cher next to Nevers are served from across the border.
    assert "T-2" in set(communes["service_plateforme_mobilite_voiture"])
