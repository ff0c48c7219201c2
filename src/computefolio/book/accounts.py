"""Accounts: where the book's positions and cash are kept.

An account is a place that holds units and cash: a **broker** (routes equity orders to
exchanges such as NASDAQ and NYSE), a crypto **exchange** (holds tokens and stablecoin cash
and trades them), a **custodian** (holds, never trades: cold storage, a bank) or a
**private** holding (a stake recorded at its issuer or fund administrator).

``venues`` lists the trading venues (as in the universe's ``Asset.venue``) an account can
send orders to; it defaults to the account's own ``venue`` for brokers and exchanges and is
empty for custodians and private holdings. ``cash_min`` is the cash (in the account's
currency) the account must keep after any trade (a per-account cash floor for compliance).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import DataError

#: Kinds of account.
KINDS: tuple[str, ...] = ("broker", "exchange", "custodian", "private")


@dataclass(frozen=True)
class Account:
    """One account of the book.

    Parameters
    ----------
    account : str
        Identifier used in every ledger entry (e.g. ``"prime"``, ``"binance-main"``).
    kind : {"broker", "exchange", "custodian", "private"}
    venue : str
        The venue or custodian the account is at (e.g. ``"binance"``, ``"prime broker"``).
    currency : str
        Cash currency of the account (USD; crypto exchanges usually USDT).
    venues : tuple of str
        Trading venues reachable from the account (default: ``(venue,)`` for brokers and
        exchanges, none for custodians and private holdings).
    cash_min : float
        Cash floor of the account, in ``currency`` (default 0: never negative).
    name : str
        Display name.
    """

    account: str
    kind: str
    venue: str
    currency: str = "USD"
    venues: tuple[str, ...] = field(default_factory=tuple)
    cash_min: float = 0.0
    name: str = ""

    def __post_init__(self):
        if not self.account or not str(self.account).strip():
            raise DataError("account: a non-empty identifier")
        if self.kind not in KINDS:
            raise DataError(f"account {self.account}: field 'kind': one of {', '.join(KINDS)}, got {self.kind!r}")
        if not self.venue:
            raise DataError(f"account {self.account}: field 'venue': the venue or custodian name")
        if not (self.cash_min >= 0):
            raise DataError(f"account {self.account}: field 'cash_min': a non-negative amount, got {self.cash_min}")
        object.__setattr__(self, "venues", tuple(v for v in self.venues if v))

    @property
    def trading_venues(self) -> tuple[str, ...]:
        """Venues this account trades on (empty for custodians and private holdings)."""
        if self.kind in ("custodian", "private"):
            return ()
        return self.venues or (self.venue,)

    def trades_on(self, venue: str) -> bool:
        """Can this account send an order to ``venue``?"""
        return venue in self.trading_venues

    def to_dict(self) -> dict:
        return {"account": self.account, "kind": self.kind, "venue": self.venue, "currency": self.currency,
                "venues": list(self.trading_venues), "cash_min": self.cash_min, "name": self.name}
