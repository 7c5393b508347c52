"""The example notebook runs end to end on the bundled data and shows the map inline."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat absent (extra « test »)")
nbclient = pytest.importorskip("nbclient", reason="nbclient absent (extra « test »)")
pytest.importorskip("ipykernel", reason="ipykernel absent (extra « test »)")

NOTEBOOK = Path(__file__).parent.parent / "examples" / "diagnostic.ipynb"


def test_notebook_runs_and_shows_the_map(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert errors == []
    html_outputs = [
        out["data"]["text/html"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "text/html" in out.get("data", {})
    ]
    # folium shows the map in an iframe whose document holds Leaflet and the map data
    assert any("iframe" in h and "L.map(" in h.replace("&quot;", '"') for h in html_outputs)
    printed = "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream"
    )
    assert "rapport.html" in printed and "diagnostic.gpkg" in printed
