"""Checkpoints of finished tasks, so that an interrupted run resumes where it stopped.

A :class:`Checkpoint` is a folder with one file per finished task,
``<key>.pkl`` (pickle of ``{"key", "params", "value"}``), written to a temporary file
and renamed into place (``os.replace``), so a crash mid-write leaves no partial file
and a half-finished run loses nothing but the tasks in flight. Failed tasks are not
written: a re-run tries them again. Task keys (:func:`computefolio.scale.task_key`)
hash the parameters *and* a salt (the sweep uses the data hash and the base
strategy), so a changed input never reuses a stale result.

The files are pickles: load a checkpoint folder only if you trust whoever wrote it.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["Checkpoint"]


class Checkpoint:
    """A folder of finished task results keyed by task key.

    Parameters
    ----------
    folder : path
        Created when missing.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not key or any(c not in "0123456789abcdefABCDEF_-" for c in key):
            raise ValueError(f"checkpoint keys are hex digits, got {key!r}")
        return self.folder / f"{key}.pkl"

    def get(self, key: str) -> Any | None:
        """The stored value of ``key``, or None when absent or unreadable (then the task runs again)."""
        p = self._path(key)
        if not p.is_file():
            return None
        try:
            with p.open("rb") as fh:
                rec = pickle.load(fh)
        except Exception:  # noqa: BLE001 - a damaged file is a task to run again, not a crash
            return None
        return rec.get("value") if isinstance(rec, dict) and rec.get("key") == key else None

    def put(self, key: str, params: dict, value: Any) -> None:
        """Store a finished task atomically (temporary file, then ``os.replace``)."""
        p = self._path(key)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump({"key": key, "params": params, "value": value}, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def keys(self) -> list[str]:
        """Keys of the stored tasks."""
        return sorted(f.stem for f in self.folder.glob("*.pkl"))

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, key: str) -> bool:
        return self._path(key).is_file()
