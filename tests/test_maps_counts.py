"""Services counted per commune beyond tens of thousands (issue 16 item 9).

Inputs: the bundled communes of CA Valenciennes Métropole and copies of one real registry row
(a garage solidaire) placed at the real points of those communes — a LOAD TEST of the drawing,
not real services. The threshold is lowered for the test so that a few hundred copies exercise
the same code as 100,000 (``scripts/bench_maps.py`` measures the real size).
"""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
import pytest

from zonesblanches.coverage.analysis import commune_demand, compute_coverage
from zonesblanches.geodata import reference
from zonesblanches.maps import _services, carto, coverage_map, render_map
from zonesblanches.maps._services import decode_services, service_counts

VM = "245901160"


@pytest.fixture(scope="module")
def vm_communes():
    communes = reference.load_communes()
    return communes[communes["code_epci"] == VM].reset_index(drop=True)


def _copies(vm_communes, per_commune: list[int], category: str = "garage_solidaire"):
    """``per_commune[i]`` copies of a real registry row at the point of commune ``i``; their
    ``code_insee`` stays the real row's (Lens): counts must follow the position."""
    registry = reference.load_registry()
    real = registry[registry["categorie"] == category].iloc[[0]]
    points = vm_communes.representative_point().to_crs(registry.crs)
    pick = [i for i, n in enumerate(per_commune) for _ in range(n)]
    rows = real.loc[real.index.repeat(len(pick))].reset_index(drop=True)
    rows["service_id"] = [f"CHARGE-{category}-{j:05d}" for j in range(len(pick))]
    rows["nom"] = [f"Service de charge {j}" for j in range(len(pick))]
    return gpd.GeoDataFrame(
        rows.drop(columns="geometry"), geometry=points.iloc[pick].to_numpy(), crs=registry.crs
    )


def test_counts_follow_the_position_not_the_declared_commune(vm_communes):
    per_commune = [(i % 4) + 1 for i in range(len(vm_communes))]
    garages = _copies(vm_communes, per_commune)
    velos = _copies(vm_communes, [2] + [0] * (len(vm_communes) - 1), "atelier_velo")
    # one service far outside the EPCI (Amiens' point): counted in a 2 km square
    amiens = reference.load_communes().query("code_insee == '80021'")
    outside = _copies(amiens.reset_index(drop=True), [1])
    frame = pd.concat([garages, velos, outside], ignore_index=True)
    counts = service_counts(frame, ["garage_solidaire"], vm_communes)

    assert counts["categories"] == ["garage_solidaire", "atelier_velo"]
    assert counts["totals"] == [sum(per_commune) + 1, 2]
    departement, epci, commune = counts["levels"]
    assert [lv["label"] for lv in counts["levels"]] == ["département", "EPCI", "commune"]
    # coarser levels are shown from a lower zoom; the square is 20 km above the communes
    assert departement["min_zoom"] <= epci["min_zoom"] < commune["min_zoom"]
    assert (departement["square_km"], epci["square_km"], commune["square_km"]) == (20, 20, 2)
    for level, name in ((departement, "Nord"), (epci, "CA Valenciennes Métropole")):
        assert {p[2]: p[3] for p in level["places"]} == {
            name: [sum(per_commune), 2],
            "": [1, 0],  # Amiens' point: outside the map's communes, a square
        }
    by_name = {p[2]: p[3] for p in commune["places"]}
    for i, name in enumerate(vm_communes["nom"]):
        expected = [per_commune[i], 2 if i == 0 else 0]
        assert by_name[name] == expected, name
    squares = [p for p in commune["places"] if p[2] == ""]
    assert len(squares) == 1 and squares[0][3] == [1, 0]
    assert len(commune["places"]) == len(vm_communes) + 1
    # the disc sits on the services (here all at the commune point)
    first = vm_communes.representative_point().iloc[0]
    place = next(p for p in commune["places"] if p[2] == vm_communes["nom"].iloc[0])
    assert place[:2] == [round(first.y, 4), round(first.x, 4)]


def _payload(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def test_map_counts_services_beyond_the_threshold(vm_communes, monkeypatch):
    per_commune = [10] * len(vm_communes)
    services = _copies(vm_communes, per_commune)
    result = compute_coverage(
        commune_demand(vm_communes), services, {"voiture": 20}, categories=["garage_solidaire"]
    )
    below = _payload(render_map(coverage_map(result, vm_communes, tiles=False)))
    assert "counts" not in below["services"]
    assert len(below["services"]["records"]) == len(services)

    monkeypatch.setattr(_services, "AGGREGATE_FROM", 100)
    monkeypatch.setattr(carto, "AGGREGATE_FROM", 100)
    page = render_map(coverage_map(result, vm_communes, tiles=False))
    data = _payload(page)
    counts = data["services"]["counts"]
    assert counts["totals"] == [len(services)]
    communes = counts["levels"][-1]["places"]
    assert sorted(p[2] for p in communes) == sorted(vm_communes["nom"])
    assert all(p[3] == [10] for p in communes)
    # records: only the services some unit names as its nearest; no marker layer
    nearest = set(result.units["service_garage_solidaire_voiture"].dropna().astype(str))
    kept = {s["id"] for s in decode_services(data["services"])}
    assert kept == nearest and len(kept) < len(services)
    assert data["service_layers"] == {}
    for feature in data["units"]["features"]:
        for s in feature["properties"].get("s", []):
            assert s >= 0
    assert "leaflet-cluster-anim" not in page  # markercluster not inlined
    assert any("par EPCI ou par commune selon le zoom" in line for line in data["sources"])
    assert any(f"Services : {len(services)} services" in line for line in data["sources"])


def test_service_markers_sit_on_their_point(vm_communes, registry):
    """Each service of the map's data sits at its own position to about a metre (its lat/lon
    were rounded to 0.1°, up to 5 km off: Anzin's garage was drawn at 50.4, 3.5)."""
    result = compute_coverage(
        commune_demand(vm_communes), registry, {"voiture": 20}, territory="CA Valenciennes"
    )
    data = _payload(render_map(coverage_map(result, vm_communes, tiles=False)))
    drawn = decode_services(data["services"])
    where = registry.set_index("service_id").geometry
    assert drawn
    for s in drawn:
        point = where[s["id"]]
        assert abs(s["lat"] - point.y) <= 1e-5 and abs(s["lon"] - point.x) <= 1e-5, s["id"]
