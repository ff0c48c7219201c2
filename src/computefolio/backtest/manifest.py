"""Run manifests: what is needed to say that two results came from the same inputs."""

from __future__ import annotations

import hashlib
import json
import platform
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd


def package_version() -> str:
    """Installed version of computefolio (``importlib.metadata``)."""
    try:
        return version("computefolio")
    except PackageNotFoundError:  # pragma: no cover
        return "0.0.0+unknown"


def frame_hash(*frames) -> str:
    """SHA-256 of the index, columns and float values of pandas objects (None skipped)."""
    h = hashlib.sha256()
    for f in frames:
        if f is None:
            h.update(b"none")
            continue
        if isinstance(f, pd.Series):
            f = f.to_frame()
        h.update(np.ascontiguousarray(pd.DatetimeIndex(f.index).asi8).tobytes())
        h.update("|".join(map(str, f.columns)).encode())
        h.update(np.ascontiguousarray(f.to_numpy(dtype=float)).tobytes())
    return h.hexdigest()


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    return repr(v)


def make_manifest(data_hash: str, config: dict, seed: int | None = None, inputs_hash: str | None = None) -> dict:
    """A manifest dict: data hash, inputs hash, config (JSON-safe), versions, seed.

    ``config_hash`` is the SHA-256 of the canonical JSON of ``config``.
    """
    cfg = _jsonable(config)
    return {
        "data_hash": data_hash,
        "inputs_hash": inputs_hash,
        "config": cfg,
        "config_hash": hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest(),
        "package": "computefolio",
        "version": package_version(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "seed": seed,
    }
