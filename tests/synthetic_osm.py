"""The SYNTHETIC region-shaped OSM extract of ``scripts/make_region_pbf.py`` (not real places),
for the tests that need a region-sized network offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_region_pbf.py"


def synthetic_region_pbf(tmp_path_factory, scale: float) -> Path:
    """Write the synthetic extract at ``scale`` in a fresh temporary folder; return its path."""
    spec = importlib.util.spec_from_file_location("make_region_pbf", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("osm") / f"region-{scale:g}.osm.pbf"
    module.main(["--scale", f"{scale:g}", "--output", str(path)])
    return path
