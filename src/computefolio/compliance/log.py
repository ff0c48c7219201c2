"""The compliance log: every check, result, override, release and fill, hash-chained.

One table in the store, ``compliance_log``: ``seq`` (1, 2, ...), ``logged_at`` (UTC), ``event``
(``check``, ``result``, ``propose``, ``override``, ``release``, ``cancel``, ``supersede``,
``fill``), ``list_id``, ``order_id``, ``check_name``, ``status``, ``actor`` (a person's
name), ``detail`` (JSON), ``prev_hash`` and ``hash``. Rows are only appended; each stores
the hash of the one before it (:mod:`computefolio.book.chain`), so editing or deleting a
row makes :meth:`ComplianceLog.verify` fail at the first bad row. Removing rows from the
end is detected against a head hash kept elsewhere (``verify(head=...)``; ``compliance log``
prints the head, and every order list records the head at the time it was proposed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import pandas as pd

from ..book.chain import GENESIS, link_hash, verify_chain
from ..book.store import BookStore, utcnow

EVENTS = ("check", "result", "propose", "override", "release", "cancel", "supersede", "fill")
FIELDS = ("seq", "logged_at", "event", "list_id", "order_id", "check_name", "status", "actor", "detail")

_SCHEMA = """CREATE TABLE IF NOT EXISTS compliance_log (
    seq BIGINT PRIMARY KEY, logged_at TIMESTAMP NOT NULL, event VARCHAR NOT NULL, list_id VARCHAR, order_id VARCHAR,
    check_name VARCHAR, status VARCHAR, actor VARCHAR, detail VARCHAR, prev_hash VARCHAR NOT NULL,
    hash VARCHAR NOT NULL)"""


def _json(d) -> str | None:
    if d is None:
        return None
    return json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)


class ComplianceLog:
    """The hash-chained compliance log in a :class:`~computefolio.book.store.BookStore`'s file."""

    def __init__(self, book: BookStore):
        self.book = book
        self._ready = False

    @property
    def con(self):
        con = self.book.con
        if not self._ready:
            con.execute(_SCHEMA)
            self._ready = True
        return con

    def head(self, con=None) -> tuple[int, str]:
        """``(last seq, its hash)`` (0 and the genesis hash when empty)."""
        con = con or self.con
        r = con.execute("SELECT seq, hash FROM compliance_log ORDER BY seq DESC LIMIT 1").fetchall()
        return (int(r[0][0]), r[0][1]) if r else (0, GENESIS)

    def append(self, events: Iterable[Mapping], con=None) -> tuple[int, str]:
        """Append events (dicts with keys of :data:`FIELDS` but ``seq``/``at``) inside the
        caller's transaction ``con`` (or one of its own). Returns the new head."""
        if con is None:
            with self.book.transaction() as c:
                return self.append(events, con=c)
        self.con  # noqa: B018  (creates the table)
        seq, prev = self.head(con)
        now = utcnow()
        rows = []
        for e in events:
            if e.get("event") not in EVENTS:
                raise ValueError(f"unknown compliance log event {e.get('event')!r}")
            seq += 1
            row = {"seq": seq, "logged_at": now, "event": e["event"], "list_id": e.get("list_id"),
                   "order_id": e.get("order_id"), "check_name": e.get("check_name"), "status": e.get("status"),
                   "actor": e.get("actor"), "detail": _json(e.get("detail"))}
            h = link_hash(prev, row)
            rows.append([*(row[f] for f in FIELDS), prev, h])
            prev = h
        if rows:
            con.executemany(f"INSERT INTO compliance_log VALUES ({', '.join('?' * (len(FIELDS) + 2))})", rows)
        return seq, prev

    def entries(self, since=None, list_id: str | None = None, event: str | None = None) -> pd.DataFrame:
        """Log rows in ``seq`` order (``logged_at`` on or after ``since``; one list; one event kind)."""
        where, args = [], []
        if since is not None:
            where.append("logged_at >= ?")
            args.append(pd.Timestamp(since).to_pydatetime())
        if list_id is not None:
            where.append("list_id = ?")
            args.append(list_id)
        if event is not None:
            where.append("event = ?")
            args.append(event)
        sql = "SELECT * FROM compliance_log" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        return self.con.execute(sql, args).df()

    def verify(self, head: str | None = None) -> tuple[bool, str | None, int]:
        """Check the chain: ``(ok, first problem, rows checked)``."""
        cur = self.con.execute(f"SELECT {', '.join(FIELDS)}, prev_hash, hash FROM compliance_log ORDER BY seq")
        names = [d[0] for d in cur.description]
        return verify_chain((dict(zip(names, r)) for r in cur.fetchall()), FIELDS, seq="seq", head=head)

    def passive_since(self) -> dict[str, str]:
        """``"check:key" -> date`` each passive breach was first logged (for cure deadlines)."""
        rows = self.con.execute("SELECT check_name, detail, min(logged_at) FROM compliance_log WHERE event = 'result' "
                                "AND detail LIKE '%\"kind\":\"passive\"%' GROUP BY check_name, detail").fetchall()
        out: dict[str, str] = {}
        for chk, detail, at in rows:
            try:
                key = json.loads(detail).get("key")
            except (TypeError, ValueError):
                continue
            k = f"{chk}:{key}"
            d = str(pd.Timestamp(at).date())
            out[k] = min(out.get(k, d), d)
        return out
