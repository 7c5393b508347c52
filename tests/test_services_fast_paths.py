"""The services validator's fast paths for large files (issue 16 item 9) agree with the row-by-row
rules they replace: coordinates parsed in one batch, duplicate rows found by integer keys,
commune lookups memoised per distinct (code, name, postcode).

Each oracle here is the plain rule of the module documentation of
:mod:`zonesblanches.geodata.services`, written out row by row.
"""

from __future__ import annotations

import csv
import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from zonesblanches.geodata._service_places import parse_number, parse_numbers
from zonesblanches.geodata.services import read_services

# Texts a coordinate cell holds: plain numbers, French decimal commas, spaces, junk, empty.
_CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-200, max_value=200).map(lambda v: f"{v:.6f}".replace(".", ",")),
    st.sampled_from(["", "1_000", "1 234,5", "0x10", "nan", "-0", "١٢", "+3", ".5", "5.", "a"]),
    st.text(alphabet="0123456789.,-e +", max_size=8).map(str.strip),
)


@given(st.lists(_CELL, max_size=30))
@settings(max_examples=200, deadline=None)
def test_batch_parsing_agrees_with_the_row_rule(texts):
    fast = parse_numbers(texts)
    for text, value in zip(texts, fast, strict=True):
        if not math.isnan(value):  # NaN: the caller applies parse_number to that row
            assert parse_number(text) == value


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=30))
@settings(max_examples=100, deadline=None)
def test_plain_numbers_take_the_batch_path(values):
    assert parse_numbers([repr(v) for v in values]).tolist() == values


def _services_file(path, rows, header=("service_id", "nom", "categorie", "code_insee", "notes")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _duplicates_oracle(rows: list[list[str]]) -> dict[int, str]:
    """Line → reason, by the documented rule: a repeated id rejects the later row; a row without
    id that repeats a kept row (all other cells equal once stripped) is rejected."""
    first_of_id, first_of_row, out = {}, {}, {}
    for pos, row in enumerate(rows):
        line = pos + 2
        sid, key = row[0].strip(), tuple(c.strip() for c in row[1:])
        if sid and sid in first_of_id:
            same = first_of_row.get(key) == first_of_id[sid]
            out[line] = f"identifiant « {sid} » déjà utilisé ligne {first_of_id[sid]}" + (
                " (doublon exact)" if same else " (seule la première est gardée)"
            )
            continue
        if not sid and key in first_of_row:
            out[line] = f"doublon exact de la ligne {first_of_row[key]}"
            continue
        if sid:
            first_of_id[sid] = line
        first_of_row.setdefault(key, line)
    return out


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", "S1", " S1", "S2"]),
            st.sampled_from(["Garage", " Garage", "Atelier"]),
            st.sampled_from(["garage_solidaire", "atelier_velo"]),
            st.sampled_from(["59606", "59009"]),
            st.sampled_from(["", "note"]),
        ).map(list),
        min_size=1,
        max_size=12,
    )
)
@settings(max_examples=40, deadline=None)
def test_duplicate_rows_match_the_row_by_row_rule(tmp_path_factory, rows):
    path = _services_file(tmp_path_factory.mktemp("doublons") / "s.csv", rows)
    read = read_services(path)
    expected = _duplicates_oracle(rows)
    got = dict(zip(read.rejects["ligne"], read.rejects["motif"], strict=True))
    assert got == expected
    assert len(read.services) + len(read.rejects) == len(rows)


def test_features_without_id_differ_by_their_geometry(tmp_path):
    """Two features with the same properties but different points are two services."""
    point = {"type": "Point", "coordinates": [3.52, 50.357]}
    props = {"nom": "Garage", "categorie": "garage_solidaire"}
    features = [
        {"type": "Feature", "properties": props, "geometry": point},
        {"type": "Feature", "properties": props, "geometry": point},
        {"type": "Feature", "properties": props, "geometry": {**point, "coordinates": [3.5, 50.3]}},
    ]
    path = tmp_path / "s.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    read = read_services(path)
    assert list(read.rejects["ligne"]) == [2]
    assert read.rejects["motif"].iloc[0] == "doublon exact de la entité 1"
    assert len(read.services) == 2


def test_repeated_commune_lookups_give_each_row_its_own_flag(tmp_path):
    """The lookup of a (code, name, postcode) is memoised; every row still gets its flag,
    its reject or its note."""
    rows = [
        ["", "Garage", "garage_solidaire", "59606", ""],  # Valenciennes
        ["", "Atelier", "atelier_velo", "59606", ""],
        ["", "Auto-école", "auto_ecole_sociale", "99999", ""],  # unknown code
        ["", "Location", "location_solidaire", "99999", ""],
    ]
    read = read_services(_services_file(tmp_path / "s.csv", rows))
    assert list(read.services["code_insee"]) == ["59606", "59606"]
    assert (read.services["precision"] == "commune").all()
    assert list(read.rejects["ligne"]) == [4, 5]
    assert read.rejects["motif"].iloc[0] == read.rejects["motif"].iloc[1]
