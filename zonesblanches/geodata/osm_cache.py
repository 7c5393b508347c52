"""The network cache: one compressed graph per OSM source and mode, territories cut from it.

Files live in ``cache_dir("reseaux")``: ``{mode}-{key}.npz`` (the graph's arrays) and a
``.json`` record (key, the .npz's sha256, extent, provenance). The key is made of the source's
content (sha256 of the file, or of the Overpass query), the mode, the rules version and
parameters; an unreadable or altered file is rebuilt with a French warning.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np

from zonesblanches.geodata import cache as _cache
from zonesblanches.geodata.osm_graph import _GRAPH_ARRAYS, _Graph
from zonesblanches.geodata.osm_rules import RULES_VERSION, NetworkRules

_CACHE_FORMAT = "2"  # 2: one graph per source and mode, territories cut from it (issue 17)


def _cache_key(source_id: str, mode: str, rules: NetworkRules) -> str:
    payload = {
        "cache_format": _CACHE_FORMAT,
        "source": source_id,
        "mode": mode,
        "rules_version": RULES_VERSION,
        "rules": rules.as_dict(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _cache_files(folder: Path, mode: str, key: str) -> tuple[Path, Path]:
    stem = f"{mode}-{key[:40]}"
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def _write_cache(graph: _Graph, folder: Path, key: str) -> None:
    """Write the graph compressed (zip deflate level 1: fast, about half the raw size).

    Node ids and edge tails are stored as differences (sorted arrays: small numbers, which
    compress well); the .json record holds the .npz's sha256, checked on every read.
    """
    npz, meta_file = _cache_files(folder, graph.meta["mode"], key)
    arrays = graph.arrays()
    arrays["node_id"] = np.diff(arrays["node_id"], prepend=0)
    # differences of the int32 tails computed in int32 (the same values, no int64 copies)
    tail = arrays["tail"]
    arrays["tail"] = np.diff(tail, prepend=tail.dtype.type(0)).astype(np.int32, copy=False)
    with _cache.atomic_path(npz) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            for name, arr in arrays.items():
                with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)
        digest = _cache.file_digest(tmp)
    record = {
        "key": key,
        "npz_sha256": digest,
        "mode": graph.meta["mode"],
        "extent": graph.extent,
        "meta": graph.meta,
    }
    with _cache.atomic_path(meta_file) as tmp:
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")


def _read_cache(folder: Path, mode: str, key: str) -> _Graph | None:
    """The cached graph, or ``None`` (with a French warning if a cache file is unusable)."""
    npz, meta_file = _cache_files(folder, mode, key)
    if not npz.exists() and not meta_file.exists():
        return None
    try:
        record = json.loads(meta_file.read_text(encoding="utf-8"))
        if record.get("key") != key or record.get("mode") != mode:
            raise ValueError("clé du cache différente")
        if _cache.file_digest(npz) != record.get("npz_sha256"):
            raise ValueError("empreinte du fichier .npz différente (fichier modifié ou tronqué)")
        with np.load(npz, allow_pickle=False) as data:
            arrays = {name: data[name] for name in _GRAPH_ARRAYS}  # each read is a new array
        np.cumsum(arrays["node_id"], out=arrays["node_id"])
        np.cumsum(arrays["tail"], dtype=np.int32, out=arrays["tail"])  # partial sums are tails
        _validate_arrays(arrays)
        extent = record.get("extent")
        graph = _Graph(
            **arrays,
            extent=None if extent is None else tuple(extent),
            meta=dict(record.get("meta") or {}),
        )
    except Exception as exc:  # noqa: BLE001 - any failure means "rebuild"
        warnings.warn(
            f"Cache du réseau {mode} illisible ({npz.name} : {exc}) ; le réseau est reconstruit.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    graph.meta["cache_file"] = str(npz)
    return graph


def _validate_arrays(a: dict[str, np.ndarray]) -> None:
    n = len(a["node_id"])
    m = len(a["tail"])
    if any(a[k].ndim != 1 for k in _GRAPH_ARRAYS):
        raise ValueError("tableaux de dimension inattendue")
    if len(a["lon"]) != n or len(a["lat"]) != n:
        raise ValueError("nombre de coordonnées incohérent")
    if any(len(a[k]) != m for k in ("head", "length_m", "kmh_code")):
        raise ValueError("nombre d'arêtes incohérent")
    if m == 0 or n == 0:
        raise ValueError("réseau vide")
    if n > 1 and not (np.diff(a["node_id"]) > 0).all():
        raise ValueError("identifiants de nœuds non triés")
    for k in ("tail", "head"):
        if a[k].dtype.kind not in "iu" or a[k].min() < 0 or a[k].max() >= n:
            raise ValueError("indices de nœuds hors limites")
    if a["kmh_code"].min() < 0 or a["kmh_code"].max() >= len(a["kmh_table"]):
        raise ValueError("codes de vitesse hors limites")
    if not (np.isfinite(a["kmh_table"]).all() and (a["kmh_table"] > 0).all()):
        raise ValueError("vitesses non positives")
    if not (np.isfinite(a["length_m"]).all() and (a["length_m"] >= 0).all()):
        raise ValueError("longueurs invalides")
    if not (np.isfinite(a["lon"]).all() and np.isfinite(a["lat"]).all()):
        raise ValueError("coordonnées invalides")
