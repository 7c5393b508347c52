"""The grid file of a partitioned run read by the Dask workers (issue 18): same bytes as the
unpartitioned run with ``api.read_demand``.

The file: :func:`grid_rows.grid_file`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import shapely

pytest.importorskip("distributed")

from grid_rows import grid_file  # noqa: E402

from zonesblanches import api  # noqa: E402
from zonesblanches.errors import DataError  # noqa: E402
from zonesblanches.geodata.carreaux import rejects_frame  # noqa: E402
from zonesblanches.geodata.services import write_rejects  # noqa: E402
from zonesblanches.jobs import write_level_syntheses  # noqa: E402
from zonesblanches.maps.tables import communes_table, synthesis_table  # noqa: E402
from zonesblanches.partition_inputs import (  # noqa: E402
    GridReadError,
    GridSource,
    grid_groups,
    merge_groups,
    read_group_cells,
)
from zonesblanches.partitioned import partitioned_diagnostic, select_territories  # noqa: E402
from zonesblanches.writers import write_csv  # noqa: E402

THRESHOLDS = {"voiture": 20.0, "marche": 30.0}


@pytest.fixture(scope="module")
def territory():
    return select_territories("59,2A")


def _outputs(result, rows: dict, folder: Path) -> dict[str, bytes]:
    folder.mkdir()
    paths = [
        write_csv(communes_table(result), folder / "communes.csv"),
        write_csv(synthesis_table(result), folder / "synthese.csv"),
        *write_level_syntheses(result, folder),
    ]
    frame = pd.DataFrame()
    frame.attrs["lecture"] = rows
    paths.append(write_rejects(rejects_frame(frame), folder / "rejets_carreaux.csv"))
    return {p.name: p.read_bytes() for p in paths}


def test_workers_reading_the_grid_give_the_unpartitioned_bytes_and_resume(
    client, territory, tmp_path
):
    path = grid_file(tmp_path / "carreaux.csv")
    demand = api.read_demand(territory, path, progress=False)
    whole = api.diagnostic(territory, THRESHOLDS, demand=demand)
    expected = _outputs(whole, demand.attrs["lecture"], tmp_path / "seul")
    assert {"communes.csv", "synthese.csv", "rejets_carreaux.csv"} <= set(expected)
    assert len(demand) == 21  # 20 test cells and the Corsican one

    reprise = tmp_path / "reprise"
    run = partitioned_diagnostic(
        territory, THRESHOLDS, client=client, carreaux=path, checkpoint_dir=reprise
    )
    assert _outputs(run.result, run.grid_rows, tmp_path / "dask") == expected
    assert run.grid_rows == demand.attrs["lecture"]
    rows = run.grid_rows
    assert rows["lignes"] == 25 == rows["retenus"] + rows["hors_territoire"] + len(rows["rejets"])
    assert rows["hors_territoire"] == 1
    assert [(r[0], r[1]) for r in rows["rejets"]] == [(9, "idcar_200m"), (11, "ind"), (26, "ind")]
    # one read per group, each on its worker, each with its département's cells
    reads = sorted(run.grid_reads, key=lambda r: r["departements"])
    assert [(r["departements"], r["carreaux"]) for r in reads] == [(["2A"], 1), (["59"], 20)]
    assert len({r["worker"] for r in reads}) == 2
    assert list(run.partitions["statut"]) == ["calculé", "calculé"]

    # a rerun resumes from the checkpoints (keyed by the file, not by cells read here)
    again = partitioned_diagnostic(
        territory, THRESHOLDS, client=client, carreaux=path, checkpoint_dir=reprise
    )
    assert list(again.partitions["statut"]) == ["repris", "repris"]
    assert _outputs(again.result, again.grid_rows, tmp_path / "reprise-sortie") == expected
    # a changed file is never served from the old checkpoints
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = partitioned_diagnostic(
        territory, THRESHOLDS, client=client, carreaux=path, checkpoint_dir=reprise
    )
    assert list(changed.partitions["statut"]) == ["calculé", "calculé"]


def test_a_cell_lost_between_groups_is_an_error_not_a_smaller_result(territory, tmp_path):
    path = grid_file(tmp_path / "carreaux.csv")
    source, wkb = GridSource.of(path), shapely.to_wkb(territory.geometry)
    groups = grid_groups(territory.communes, 2)
    assert sorted(groups) == [["2A"], ["59"]]
    reads = [
        read_group_cells(source, g, i == 0, wkb, territory.communes) for i, g in enumerate(groups)
    ]
    assert merge_groups(reads).attrs["lecture"]["retenus"] == 21
    with pytest.raises(GridReadError, match="perdus ou comptés deux fois"):
        merge_groups(reads[:1])
    with pytest.raises(GridReadError):
        merge_groups([reads[0], reads[1], reads[1]])
    # a group without cells (Pas-de-Calais), and a territory without any: as read_demand
    nord = select_territories("59,62")
    wkb = shapely.to_wkb(nord.geometry)
    groups = grid_groups(nord.communes, 2)
    reads = [read_group_cells(source, g, i == 0, wkb, nord.communes) for i, g in enumerate(groups)]
    assert sorted(len(r["lines"]) for r in reads) == [0, 20]
    demand = merge_groups(reads)
    assert demand.attrs["lecture"] == api.read_demand(nord, path, progress=False).attrs["lecture"]
    empty = select_territories("62,80")
    wkb = shapely.to_wkb(empty.geometry)
    groups = grid_groups(empty.communes, 2)
    reads = [read_group_cells(source, g, i == 0, wkb, empty.communes) for i, g in enumerate(groups)]
    with pytest.raises(DataError, match="Aucun carreau dans le territoire"):
        merge_groups(reads)
    # a worker whose file at that path is not the launcher's says so
    other = GridSource(source.path, source.size + 1, source.mtime_ns)
    with pytest.raises(DataError, match="n'est pas celui du poste"):
        read_group_cells(other, ["62"], True, wkb, empty.communes)


def test_cli_partitioned_run_has_the_workers_read_the_grid_file(client, tmp_path, capsys):
    from zonesblanches.cli import main

    path = grid_file(tmp_path / "carreaux.csv")
    args = ["analyse", "--territoire", "59,2A", "--sans-carte", "--mode", "voiture:20"]
    args += ["--carreaux", str(path)]
    assert main([*args, "--sortie", str(tmp_path / "seul")]) == 0
    alone = capsys.readouterr().out
    address = client.scheduler.address
    assert main([*args, "--cluster", address, "--sortie", str(tmp_path / "dask")]) == 0
    out = capsys.readouterr().out
    assert "lus par les workers Dask, une fois par groupe de départements" in out
    assert "au même chemin sur chaque worker" in out
    # the lines on the rows read and the population: those of the run that read it here
    for line in alone.splitlines():
        if line.startswith(("Carreaux (", "Population :", "    ligne ")):
            assert line in out.splitlines(), line
    names = sorted(p.name for p in (tmp_path / "seul").glob("*.csv"))
    assert {"communes.csv", "rejets_carreaux.csv", "synthese.csv"} <= set(names)
    for name in names:
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "seul" / name).read_bytes()


def test_geopackage_read_by_groups_as_read_demand(tmp_path):
    """The 2021 GeoPackage layout (Lambert-93 squares, LAEA ids; features numbered from 1):
    the groups' reads merged are ``read_demand``'s; a GeoPackage without cell ids is refused
    with a French error (its squares, not its ids, would place the cells)."""
    import geopandas as gpd

    from zonesblanches.crs import LAMBERT93
    from zonesblanches.geodata.carreaux import load_carreaux

    grid = Path(__file__).parent / "data" / "carreaux" / "carreaux_200m_test.csv"
    text = {c: str for c in ("idcar_200m", "idcar_1km", "idcar_nat", "lcog_geo")}
    raw = pd.read_csv(grid, dtype=text)
    squares = load_carreaux(grid, progress=False).to_crs(LAMBERT93).geometry.values
    gpkg = tmp_path / "carreaux_200m.gpkg"
    gpd.GeoDataFrame(raw, geometry=squares, crs=LAMBERT93).to_file(gpkg, driver="GPKG")
    nord = select_territories("59,62")
    source, wkb = GridSource.of(gpkg), shapely.to_wkb(nord.geometry)
    groups = grid_groups(nord.communes, 2)
    reads = [read_group_cells(source, g, i == 0, wkb, nord.communes) for i, g in enumerate(groups)]
    got, expected = merge_groups(reads), api.read_demand(nord, gpkg, progress=False)
    pd.testing.assert_frame_equal(pd.DataFrame(got), pd.DataFrame(expected))
    assert got.attrs["lecture"] == expected.attrs["lecture"]
    bare = tmp_path / "sans_id.gpkg"
    gpd.GeoDataFrame(raw.drop(columns=["idcar_200m", "idcar_1km"]), geometry=squares,
                     crs=LAMBERT93).to_file(bare, driver="GPKG")  # fmt: skip
    with pytest.raises(DataError, match="n'a pas d'identifiant de carreau"):
        read_group_cells(GridSource.of(bare), ["59"], True, wkb, nord.communes)
