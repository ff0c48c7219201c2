"""Exposure of the book by sleeve, layer, theme, asset class, asset, venue and account.

Taxonomy groupings (``sleeve``, ``layer``, ``theme``, ``asset_class``, ``asset``) use the
universe's weighted membership as of the NAV date (a 60/40 miner puts 60% of its value in
one layer, 40% in the other; themes overlap and need not add up). With look-through (the
default) a vehicle with an ``underlying`` in the universe counts as that asset first: GBTC
and IBIT are bitcoin exposure (sleeve digital assets, asset BTC) for concentration rules.
``venue`` and ``account`` say where the value sits: positions by their account (and that
account's venue), cash as its own rows.
"""

from __future__ import annotations

import pandas as pd

from ..errors import DataError

#: Groupings :func:`exposure` accepts.
BY: tuple[str, ...] = ("sleeve", "layer", "theme", "asset_class", "asset", "venue", "account")


def exposure(valuation, universe=None, by: str = "layer", *, look_through: bool = True, accounts=None,
             include_cash: bool = True) -> pd.DataFrame:
    """Value and weight of the book per group.

    Parameters
    ----------
    valuation : :class:`~computefolio.book.valuation.Valuation`
    universe : Universe (needed for taxonomy groupings)
    by : one of :data:`BY`
    look_through : bool
        Count vehicles as their underlying (taxonomy groupings only).
    accounts : mapping account id -> Account, optional
        Venue names for ``by="venue"`` (default: the account id).
    include_cash : bool
        Add a ``cash`` row.

    Returns
    -------
    pandas.DataFrame
        Index = group; ``value`` (currency), ``weight`` (fraction of NAV); themes overlap.
    """
    if by not in BY:
        raise DataError(f"--by: one of {', '.join(BY)}, got {by!r}")
    pos = valuation.positions
    nav = valuation.nav
    if by in ("account", "venue"):
        if by == "venue":
            key = pos["account"].map(lambda a: accounts[a].venue if accounts and a in accounts else a)
            ckey = valuation.cash["account"].map(lambda a: accounts[a].venue if accounts and a in accounts else a)
        else:
            key, ckey = pos["account"], valuation.cash["account"]
        v = pos.groupby(key)["value"].sum()
        c = valuation.cash.groupby(ckey)["value"].sum()
        out = pd.DataFrame({"positions": v, "cash": c}).fillna(0.0)
        out["value"] = out["positions"] + (out["cash"] if include_cash else 0.0)
        out["weight"] = out["value"] / nav if nav else float("nan")
        out.index.name = by
        return out.sort_values("value", ascending=False)
    if universe is None:
        raise DataError(f"exposure by {by} needs the universe")
    vals = valuation.values()
    if look_through:
        vals = universe.look_through(vals)
    vals = vals[vals != 0]
    unknown = [s for s in vals.index if s not in universe]
    if unknown:
        raise DataError(f"held symbols not in universe {universe.name!r}: {', '.join(unknown)}")
    e = universe.exposure(vals, by, date=valuation.day) if len(vals) else pd.Series(dtype=float)
    e = e[e != 0]
    out = pd.DataFrame({"value": e})
    if include_cash:
        out.loc["cash", "value"] = valuation.cash_total
    out["weight"] = out["value"] / nav if nav else float("nan")
    out.index.name = by
    return out.sort_values("value", ascending=False)
