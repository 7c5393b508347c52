"""Map layers of issue 12: the market offer as a grey context layer, and service popups that
give the precision of the location and the source of each service.

Inputs: CA Valenciennes Métropole (bundled communes); the BPE and data·inclusion fixtures of
tests/data/data_inclusion (real published schemas, see SOURCE.md there).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from zonesblanches import api
from zonesblanches._text import fr_count
from zonesblanches.geodata.bpe import load_bpe
from zonesblanches.maps import coverage_map, render_map
from zonesblanches.maps._services import decode_services

DATA = Path(__file__).parent / "data" / "data_inclusion"
VM = "245901160"


def _payload(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def territory():
    return api.select_territory(VM)


def test_market_offer_is_a_grey_context_layer(territory):
    bpe = DATA / "bpe_wgs84.csv"
    res = api.diagnostic(territory, {"voiture": 20}, market=bpe)
    data = _payload(render_map(coverage_map(res, territory.communes, tiles=False)))
    market = [x for x in data["extra"] if x["name"].startswith("Offre marchande")]
    assert len(market) == 1
    layer = market[0]
    equipments = load_bpe(bpe).equipments
    feats = layer["data"]["features"]
    assert 0 < len(feats) <= len(equipments)
    assert layer["name"].endswith(": " + fr_count(len(feats), "équipement"))
    assert layer["show"] is False  # context: the map opens on its question
    assert set(layer["palette"].values()) <= {"#5f5f5f", "#a3a3a3"}  # greys only
    assert {row[1] for row in layer["legend_rows"]} <= {
        "Réparation automobile (offre marchande)",
        "École de conduite (offre marchande)",
    }
    assert all(f["properties"]["source"].startswith("INSEE") for f in feats)
    valenciennes = [f for f in feats if f["properties"]["commune"] == "Valenciennes (59606)"]
    assert valenciennes and valenciennes[0]["properties"]["libelle"].startswith("École")
    # never a service: the services drawn are the same with or without the market offer
    plain = _payload(render_map(coverage_map(api.diagnostic(territory, {"voiture": 20}),
                                             territory.communes, tiles=False)))  # fmt: skip
    assert plain["services"] == data["services"]
    assert not [x for x in plain["extra"] if x["name"].startswith("Offre marchande")]


def test_service_popups_give_precision_and_source(territory):
    res = api.diagnostic(territory, {"voiture": 20}, services=DATA / "services.parquet")
    data = _payload(render_map(coverage_map(res, territory.communes, tiles=False)))
    shown = decode_services(data["services"])
    assert shown
    by_id = res.services.set_index("service_id")
    for s in shown:
        row = by_id.loc[s["id"]]
        assert s["source"] and s["source"] == row["source"]
        assert s["date_source"] == row["date_maj"]  # data·inclusion's date, in « Date »
        assert s["lien_source"] == row["lien_source"]
        if row["score_qualite"]:
            assert s["score_qualite"] == str(row["score_qualite"]).replace(".", ",")
        assert s["precision"].startswith(("à l'adresse", "à la rue", "à la commune",
                                          "coordonnées fournies"))  # fmt: skip
        assert "_" not in s["precision"]
    assert data["text"]["precision"] == "Précision de la localisation"
    # the page's script shows each of them in the popup
    page = render_map(coverage_map(res, territory.communes, tiles=False))
    for field in ("precision", "source", "date", "quality", "link", "ident", "outside"):
        assert f"row(t, P.text.{field}, s." in page
    assert data["text"]["ident"] == "Identifiant"
