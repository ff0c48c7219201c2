"""The service's writes: propose an order list, override a block, release, cancel.

Each one is the library step the CLI runs (``computefolio rebalance``, ``compliance
override|release|cancel``), in the same order with the same inputs, plus the one rule
the CLI cannot enforce because it does not know who is typing: **four eyes**. A list's
proposer is the ``actor`` of its ``propose`` entry in the compliance log; overriding a
block of it (role risk or admin) and releasing it (pm, risk or admin) must be done by
another signed-in user, and both names stay in the log (``propose``, ``override`` and
``release`` entries carry their actors). A list proposed outside the service (no name in
its ``propose`` entry) cannot be released or overridden here: four eyes cannot be shown.

Writes run one at a time (:meth:`~computefolio.service.gate.StoreGate.write`); the plan
is computed before taking the lock and recorded inside it, where
:meth:`~computefolio.rebalance.store.OrderStore.record` refuses it if the ledger moved.
"""

from __future__ import annotations

from ..errors import ComputefolioError
from .state import ServiceState
from .users import User
from .views import parse_day, proposer_of


class FourEyes(ComputefolioError):
    """The same person may not propose and approve (or override) an order list."""


class Conflict(ComputefolioError):
    """The request does not fit the current state (already released, unknown list, ...)."""


def plan_and_check(state: ServiceState, *, asof=None, trade_date=None, supersede: bool = False):
    """``computefolio rebalance``'s plan and pre-trade compliance on the stored book."""
    from ..compliance.checks import Compliance
    from ..compliance.log import ComplianceLog
    from ..rebalance.plan import plan_rebalance
    from ..rebalance.store import OrderStore

    a, t = parse_day(asof, "asof"), parse_day(trade_date, "trade_date")
    L = state.loaded
    fp = state.fingerprint(fresh=True)
    market = state.market(fp)
    with state.gate.read() as bs:
        entries, accounts, st = bs.entries(), bs.accounts(), bs.state()
        since = ComplianceLog(bs).passive_since()
        n_same = len([1 for r in OrderStore(bs).lists().itertuples() if r.book_state == st.head])
    plan = plan_rebalance(L.strategy, entries=entries, accounts=accounts, state=st, market=market,
                          universe=state.universe, mandate=L.mandate, asof=a, trade_date=t, venues=L.rules.book,
                          costs=L.rules.costs, supersede_n=n_same + 1 if supersede else 1)
    report = Compliance(L.mandate, L.policy, state.universe, L.rules).check(
        plan.orders, plan.valuation, prices=plan.prices, adv=plan.adv, accounts=accounts,
        transfers=plan.transfers, asof=plan.asof, passive_since=since)
    return plan, report


def propose_orders(state: ServiceState, user: User, *, asof=None, trade_date=None, supersede: bool = False,
                   dry_run: bool = False) -> dict:
    """Plan, check and (unless ``dry_run``) record an order list proposed by ``user``."""
    from ..compliance.workflow import propose

    plan, report = plan_and_check(state, asof=asof, trade_date=trade_date, supersede=supersede)
    out = plan.to_dict(report)
    if dry_run:
        out["recorded"] = None
        return out
    with state.gate.write() as bs:
        rec = propose(bs, plan, report, supersede=supersede, actor=user.username)
    state.invalidate()
    out["recorded"] = rec
    out["proposed_by"] = user.username
    return out


def _check_four_eyes(state: ServiceState, bs, list_id: str, user: User, what: str) -> str:
    from ..rebalance.store import OrderStore

    try:
        OrderStore(bs).get(list_id)
    except ComputefolioError as exc:
        raise LookupError(str(exc)) from None
    proposer = proposer_of(bs, list_id)
    if not proposer:
        raise FourEyes(f"order list {list_id} was proposed outside the service (no name in the compliance log): "
                       f"four eyes cannot be shown, so it cannot be {what} here; propose it in the service, or use "
                       f"computefolio compliance {'release' if what == 'released' else 'override'}")
    if proposer == user.username:
        raise FourEyes(f"{user.username} proposed order list {list_id}; it must be {what} by another person "
                       "(four eyes)")
    return proposer


def override_block(state: ServiceState, user: User, list_id: str, *, check: str, target: str = "*",
                   reason: str) -> dict:
    from ..compliance.workflow import override

    if not (reason or "").strip():
        raise Conflict("an override needs a reason")
    with state.gate.write() as bs:
        proposer = _check_four_eyes(state, bs, list_id, user, "overridden")
        r = override(bs, list_id, check, target or "*", reason=reason.strip(), by=user.username)
    state.invalidate()
    r.update(by=user.username, proposed_by=proposer, check=check, target=target or "*")
    return r


def release_list(state: ServiceState, user: User, list_id: str) -> dict:
    from ..compliance.workflow import release

    with state.gate.write() as bs:
        proposer = _check_four_eyes(state, bs, list_id, user, "released")
        r = release(bs, list_id, by=user.username)
    state.invalidate()
    r.update(by=user.username, proposed_by=proposer)
    return r


def cancel_list(state: ServiceState, user: User, list_id: str, *, reason: str = "") -> dict:
    from ..compliance.workflow import cancel
    from ..rebalance.store import OrderStore

    with state.gate.write() as bs:
        try:
            OrderStore(bs).get(list_id)
        except ComputefolioError as exc:
            raise LookupError(str(exc)) from None
        r = cancel(bs, list_id, by=user.username, reason=reason)
    state.invalidate()
    r["by"] = user.username
    return r
