"""Hash chains for append-only tables (the ledger and the compliance log).

Each row stores the hash of the row before it (``prev_hash``) and its own ``hash`` =
SHA-256 of ``prev_hash`` and the row's canonical JSON (sorted keys, no spaces, dates as
ISO strings). Editing a row changes its hash, which no longer matches the next row's
``prev_hash``; deleting a row breaks the sequence and the link. Truncating the tail is
detected only against a head hash recorded elsewhere (:func:`verify_chain` ``head=``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping

#: ``prev_hash`` of the first row.
GENESIS = "0" * 64


def _plain(v):
    if v is None:
        return None
    if isinstance(v, float):
        return None if math.isnan(v) else repr(v)
    if isinstance(v, (_dt.datetime, _dt.date)):
        return v.isoformat()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        return _plain(v.item())
    if hasattr(v, "isoformat"):  # pandas Timestamp
        return v.isoformat()
    if isinstance(v, bool) or isinstance(v, int) or isinstance(v, str):
        return v
    return str(v)


def canonical(payload: Mapping) -> str:
    """Canonical JSON of a row (floats by ``repr``, so every bit counts)."""
    return json.dumps({str(k): _plain(v) for k, v in payload.items()}, sort_keys=True, separators=(",", ":"))


def link_hash(prev_hash: str, payload: Mapping) -> str:
    """SHA-256 (hex) of ``prev_hash`` and the canonical row."""
    return hashlib.sha256((prev_hash + "\n" + canonical(payload)).encode()).hexdigest()


def verify_chain(rows: Iterable[Mapping], fields: Iterable[str], *, seq: str, head: str | None = None
                 ) -> tuple[bool, str | None, int]:
    """Check a chain of rows in ``seq`` order.

    Parameters
    ----------
    rows : iterable of mappings with ``fields``, ``prev_hash`` and ``hash``
    fields : the hashed fields
    seq : name of the sequence field (consecutive integers from 1)
    head : the expected hash of the last row (detects truncation), optional

    Returns
    -------
    (ok, message, rows_checked)
        ``message`` names the first bad row and what is wrong.
    """
    fields = list(fields)
    prev = GENESIS
    n = 0
    expect = 1
    for r in rows:
        n += 1
        s = int(r[seq])
        if s != expect:
            return False, f"{seq} {expect}: missing (next row is {s}): a row was deleted", n
        if r["prev_hash"] != prev:
            return False, f"{seq} {s}: prev_hash does not match the hash of row {s - 1}: a row before it was " \
                          f"edited or deleted", n
        h = link_hash(prev, {f: r[f] for f in fields})
        if h != r["hash"]:
            return False, f"{seq} {s}: its content does not match its hash: the row was edited", n
        prev = h
        expect += 1
    if head is not None and prev != head:
        return False, f"the last row's hash {prev[:16]}... is not the expected head {head[:16]}...: rows were " \
                      f"removed from the end or added", n
    return True, None, n
