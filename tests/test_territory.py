"""Territory selection from what planners type."""

from __future__ import annotations

import geopandas as gpd
import pytest

from zonesblanches.errors import TerritoryError
from zonesblanches.geodata.territory import select_territory


@pytest.mark.parametrize(
    "spec",
    [
        "valenciennes metropole",
        "Valenciennes Métropole",
        "VALENCIENNES-MÉTROPOLE",
        "CA Valenciennes Metropole",
        "245901160",
    ],
)
def test_epci_by_name_or_siren(spec):
    t = select_territory(spec)
    assert t.kind == "epci"
    assert t.code == "245901160"
    assert t.label == "CA Valenciennes Métropole"
    assert len(t.communes) == 35
    # DOMAIN.md: about 192,000 inhabitants.
    assert 185_000 < t.population < 200_000


def test_epci_short_name_without_type():
    assert select_territory("arras").code == "200033579"
    assert len(select_territory("Métropole Européenne de Lille").communes) == 95


@pytest.mark.parametrize("spec,count", [("59", 647), ("62", 887), ("Somme", 771), ("aisne", 797)])
def test_departement(spec, count):
    t = select_territory(spec)
    assert t.kind == "departement"
    assert len(t.communes) == count


@pytest.mark.parametrize("spec", [None, "region", "Hauts-de-France", "hauts de france"])
def test_region(spec):
    t = select_territory(spec)
    assert t.kind == "region"
    assert t.population == 5_992_194


def test_commune_codes_list_and_string():
    a = select_territory(["59606", "59014"])
    b = select_territory("59606, 59014")
    assert a.kind == b.kind == "communes"
    assert (
        sorted(a.communes["code_insee"]) == sorted(b.communes["code_insee"]) == ["59014", "59606"]
    )
    # A single code gives the commune's name as label.
    assert select_territory("59606").label == "Valenciennes"


def test_old_commune_code_resolves_to_current():
    t = select_territory(["59070", "59606"])  # 59070 merged into 59006 in 2025
    assert "59006" in set(t.communes["code_insee"])


def test_unknown_name_suggests_closest():
    with pytest.raises(TerritoryError) as err:
        select_territory("valencienes metropol")
    message = str(err.value)
    assert "Territoire inconnu" in message
    assert "CA Valenciennes Métropole" in message


def test_unknown_codes():
    with pytest.raises(TerritoryError, match="SIREN"):
        select_territory("123456789")
    with pytest.raises(TerritoryError, match="Code commune inconnu"):
        select_territory(["99999", "59606"])


def test_geometry_is_union(communes):
    t = select_territory("245901160")
    assert t.geometry.is_valid
    union_area = gpd.GeoSeries([t.geometry], crs=4326).to_crs(2154).area.iloc[0]
    # Communes tile the EPCI: the union's area is the sum of theirs (to 1 m² per km²).
    assert union_area == pytest.approx(t.communes.to_crs(2154).area.sum(), rel=1e-6)


# --- metropolitan France (issue 13): check figures from the bundled files --------------------


@pytest.mark.parametrize(
    "spec,kind,code,n,population",
    [
        ("18", "departement", "18", 286, 298_660),
        ("Cher", "departement", "18", 286, 298_660),
        ("2A", "departement", "2A", 124, None),
        ("32", "departement", "32", 458, None),  # the Gers, not the region's old code
        ("244900015", "epci", "244900015", 29, None),
        ("CU Angers Loire Metropole", "epci", "244900015", 29, None),
        ("toulouse metropole", "epci", "243100518", 37, None),
        ("200054807", "epci", "200054807", 92, None),
        ("Occitanie", "region", "76", None, None),
        ("region 84", "region", "84", None, None),
        ("Hauts-de-France", "region", "32", 3782, 5_992_194),
    ],
)
def test_any_territory_of_metropolitan_france(spec, kind, code, n, population):
    t = select_territory(spec)
    assert (t.kind, t.code) == (kind, code)
    if n is not None:
        assert len(t.communes) == n
    if population is not None:
        assert t.population == population


def test_epci_across_a_region_border_is_whole():
    # CC Senlis Sud Oise is inside Oise; CA Roissy Pays de France (200055655) spans Val-d'Oise
    # and Seine-et-Marne: all its members are selected, whatever their département.
    t = select_territory("200055655")
    assert set(t.communes["code_departement"]) == {"77", "95"}


@pytest.mark.parametrize("code", ["85113", "22016", "29083", "29155"])
def test_island_communes_without_epci_are_selectable(code):
    t = select_territory(code)
    assert len(t.communes) == 1
    assert t.communes["code_epci"].iloc[0] == ""


def test_arrondissement_codes_give_their_commune():
    t = select_territory("75111, 13201 69381")
    assert sorted(t.communes["code_insee"]) == ["13055", "69123", "75056"]


@pytest.mark.parametrize("spec", ["971", "Martinique", "97411", "974"])
def test_overseas_is_refused_in_french(spec):
    with pytest.raises(TerritoryError, match="outre-mer ne sont pas embarqués"):
        select_territory(spec)


def test_unknown_name_suggests_nationwide():
    with pytest.raises(TerritoryError, match="CU Angers Loire Métropole"):
        select_territory("angers loire metropol")
