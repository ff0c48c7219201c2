"""The numba core of the simulator: one pass over valuation dates on plain arrays.

State is shares per asset plus cash (currency). Every row ``i`` (a date of the
valuation basis):

1. cash accrues: ``cash *= growth[i]`` (``growth[0]`` is ignored);
2. the book is marked to market at ``px[i]`` (valuation prices: NaN outside an asset's
   life, carried flat inside it where a bar is missing or the exchange is closed;
   ``pv`` is the same with NaN -> 0 for the sum);
3. an asset whose life ends at row ``i`` (``last_row[j] == i``) is sold at that price
   (kind 2, "delist");
4. deferred trades (targets set on a day the asset could not trade) execute at the
   asset's next tradable row, sized on that row's book value (kind 1);
5. if ``sig[i] >= 0`` the book rebalances to ``targets[sig[i]]``; otherwise, when drift
   bands are set and the current target is breached, it rebalances to the current
   target (or, with ``stop_on_breach``, returns ``i`` so that the caller can refit an
   allocator and resume at ``i``);
6. after trading, equity, cash, costs, turnover (and optionally weights) are written.

With ``use_xp`` a scheduled rebalance at row ``i`` (decided at the close of ``i - 1``
by the caller) is sized and executed at the execution prices ``xp[i]`` (the open)
and the book is then marked at the close.

Sizing conventions (``conv``):

``NATIVE`` (0)
    Self-financing: the post-trade book equals ``targets * (V - C)`` where ``V`` is the
    pre-trade value and ``C`` the costs of the trades themselves. With proportional
    costs only, ``C`` solves ``C = sum r_j |w_j (V - C) - n_j p_j|`` in closed form
    (``C = A / (1 + B)`` on the signs of the trades); with impact, lots or minimum
    notionals, by fixed-point iteration to machine precision (the map contracts by
    about the cost rate). Costs are paid from cash. Trades of assets that cannot trade
    that day (closed exchange, missing bar) are deferred; their weight stays meanwhile.
``VECTORBT`` (1)
    vectorbt ``from_orders(size_type="targetpercent", cash_sharing=True,
    call_seq="auto")``: orders sized on the pre-trade value ``V`` (fees on top), sells
    before buys (ascending order value), a buy that cash cannot cover is reduced to
    what cash pays for, fees included. Proportional costs only.
``BT`` (2)
    bt ``Rebalance``: each asset receives ``(w - w_now) * V`` *including* its costs (a
    buy of amount ``A`` buys ``x`` with ``x + cost(x) = A``; a sale raises ``|A|`` net
    of costs); a zero target closes the position and pays costs from cash.

Gross and net: costs leave the book through cash only and are accumulated in
``state[1]``; the gross curve is ``equity + cumulative costs`` (the same share trades,
no cost deduction; interest on cash is computed on the net book's cash).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

NATIVE, VECTORBT, BT = 0, 1, 2
KIND_REBALANCE, KIND_DEFERRED, KIND_DELIST, KIND_SKIP_MIN, KIND_SKIP_UNLISTED = 0, 1, 2, 3, 4
# state vector layout
S_CASH, S_CUMCOST, S_TARGET, S_RESUME, S_NTR = 0, 1, 2, 3, 4
_REL, _ABS = 1e-9, 1e-12  # vectorbt's float tolerances (vectorbt.utils.math_)


@njit(cache=True)
def _is_close(a, b):
    return abs(a - b) <= max(_REL * max(abs(a), abs(b)), _ABS)


@njit(cache=True)
def _vbt_add(a, b):
    # vectorbt add_nb: a sum that is zero within tolerance is exactly zero
    if np.sign(a) != np.sign(b):
        if _is_close(abs(a), abs(b)):
            return 0.0
    elif _is_close(a + b, 0.0):
        return 0.0
    return a + b


@njit(cache=True)
def _impact(x, k, sigma, adv):
    if k > 0.0 and x > 0.0 and adv > 0.0 and sigma > 0.0:
        return k * sigma * np.sqrt(x / adv) * x
    return 0.0


@njit(cache=True, inline="always")
def _costs(x, fee, spread, impk, sigma, adv):
    # the costs of trading notional ``x``: fee, half-spread, impact, and their sum
    cf = fee * x
    cs = spread * x
    ci = _impact(x, impk, sigma, adv)
    return cf, cs, ci, cf + cs + ci


@njit(cache=True)
def _round_lot(n, lot):
    if lot > 0.0:
        m = np.floor(abs(n) / lot + 1e-9) * lot
        return m if n >= 0 else -m
    return n


@njit(cache=True)
def _record(i, j, q, p, cf, cs, ci, kind, tr_i, tr_f, state, keep):
    if not keep:
        return
    k = int(state[S_NTR])
    if k < tr_i.shape[0]:
        tr_i[k, 0] = i
        tr_i[k, 1] = j
        tr_i[k, 2] = kind
        tr_f[k, 0] = q
        tr_f[k, 1] = p
        tr_f[k, 2] = cf
        tr_f[k, 3] = cs
        tr_f[k, 4] = ci
    state[S_NTR] = k + 1


@njit(cache=True)
def _book_value(cash, shares, prow):
    # cash + sum(shares * price) over held assets (prices may be NaN where nothing is held)
    v = cash
    for j in range(shares.shape[0]):
        if shares[j] != 0.0:
            v += shares[j] * prow[j]
    return v


@njit(cache=True)
def _value_at(cash, shares, pv, i):
    # cash + sum(shares * price) with NaN prices already replaced by 0 (hot path; the
    # additions run in column order, like vectorbt's group value; no row view is made)
    v = cash
    for j in range(shares.shape[0]):
        v += shares[j] * pv[i, j]
    return v


@njit(cache=True)
def _breach(shares, prow, V, w, band_abs, band_rel, G, gband_abs, gband_rel):
    n = shares.shape[0]
    if V <= 0.0:
        return False
    use_abs = band_abs == band_abs
    use_rel = band_rel == band_rel
    if use_abs or use_rel:
        for j in range(n):
            cur = shares[j] * prow[j] / V if shares[j] != 0.0 else 0.0
            d = abs(cur - w[j])
            if use_abs and d > band_abs:
                return True
            if use_rel and d > band_rel * abs(w[j]):
                return True
    g_abs = gband_abs == gband_abs
    g_rel = gband_rel == gband_rel
    if (g_abs or g_rel) and G.shape[1] > 0:
        for g in range(G.shape[1]):
            cur = 0.0
            tgt = 0.0
            for j in range(n):
                if G[j, g] != 0.0:
                    if shares[j] != 0.0:
                        cur += G[j, g] * shares[j] * prow[j] / V
                    tgt += G[j, g] * w[j]
            d = abs(cur - tgt)
            if g_abs and d > gband_abs:
                return True
            if g_rel and d > gband_rel * abs(tgt):
                return True
    return False


@njit(cache=True, error_model="numpy")
def run_rows(i0, i1, px, pv, xp, use_xp, tradable, last_row, event, sig, stop, targets,
             band_abs, band_rel, G, gband_abs, gband_rel, stop_on_breach,
             fee, spread, impk, min_notional, lot, use_lots, sigma, adv, conv, growth,
             shares, pending, state,
             equity, cash_out, cost_out, turnover, weights_out, keep_weights,
             tr_i, tr_f, keep_trades):
    """Simulate rows ``i0 <= i < i1``; return the row where it stopped (``i1`` at the end).

    Shapes: ``px, tradable, sigma, adv``: (T, N); ``last_row``: (N,) int64 (T = never);
    ``pv``: ``px`` with NaN replaced by 0 (valuation);
    ``xp``: (T, N) execution prices of scheduled rebalances when ``use_xp`` (next open;
    NaN -> that row's close), else ignored;
    ``event``: (T,) bool, True on rows where some asset's life ends;
    ``sig``: (T,) int64 target row or -1; ``stop``: (T,) bool rows where the caller wants
    control before trading (returned unprocessed beyond marking); ``targets``: (K, N);
    ``G``: (N, M) group membership; cost vectors: (N,); ``growth``: (T,) cash growth
    factors; ``shares``: (N,), ``pending``: (N,) NaN = none; ``state``: see S_* indices;
    outputs (T,) and (T, N) (``weights_out`` may be (1, N) when not kept); trade records
    ``tr_i`` (R, 3) int64 [row, asset, kind] and ``tr_f`` (R, 5) [qty, price, fee,
    spread, impact]. Returns the stop row, or ``i1``.
    """
    n = px.shape[1]
    q = np.zeros(n)
    wv = np.zeros(n)
    order = np.zeros(n, dtype=np.int64)
    ov = np.zeros(n)
    xbuf = np.zeros(n)
    rate = np.zeros(n)
    simple = not use_lots
    for j in range(n):
        if impk[j] != 0.0 or min_notional[j] != 0.0:
            simple = False
    npend = 0
    for j in range(n):
        if pending[j] == pending[j]:
            npend += 1
    cash = state[S_CASH]
    cum = state[S_CUMCOST]
    bands_on = band_abs == band_abs or band_rel == band_rel or (
        G.shape[1] > 0 and (gband_abs == gband_abs or gband_rel == gband_rel))
    prow = px[min(i0, px.shape[0] - 1)]
    for i in range(i0, i1):
        resumed = state[S_RESUME] == i
        if keep_trades and not resumed and state[S_NTR] + 3 * n + 2 > tr_i.shape[0]:
            state[S_CASH] = cash
            state[S_CUMCOST] = cum
            return i  # trade buffer nearly full: the caller grows it and resumes at i
        if not resumed:
            # 1. interest on cash (net book's cash; the gross book gets the same)
            if i > 0:
                cash = cash * growth[i]
            row_cost = 0.0
            traded = 0.0
            if event[i] or npend > 0:
                prow = px[i]
            # 3. delisting: sell at the last price
            for j in range(n if event[i] else 0):
                if last_row[j] == i and shares[j] != 0.0:
                    x = abs(shares[j]) * prow[j]
                    cf, cs, ci, c = _costs(x, fee[j], spread[j], impk[j], sigma[i, j], adv[i, j])
                    _record(i, j, -shares[j], prow[j], cf, cs, ci, KIND_DELIST, tr_i, tr_f, state, keep_trades)
                    cash = cash + shares[j] * prow[j] - c
                    cum += c
                    row_cost += c
                    traded += x
                    shares[j] = 0.0
                    pending[j] = np.nan
            # 4. deferred trades
            for j in range(n if npend > 0 else 0):
                if pending[j] == pending[j] and tradable[i, j]:
                    V = _book_value(cash, shares, prow)
                    tgt = pending[j] * V / prow[j]
                    if use_lots:
                        tgt = _round_lot(tgt, lot[j])
                    dq = tgt - shares[j]
                    x = abs(dq) * prow[j]
                    pending[j] = np.nan
                    if x == 0.0:
                        continue
                    if x < min_notional[j]:
                        _record(i, j, dq, prow[j], 0.0, 0.0, 0.0, KIND_SKIP_MIN, tr_i, tr_f, state, keep_trades)
                        continue
                    cf, cs, ci, c = _costs(x, fee[j], spread[j], impk[j], sigma[i, j], adv[i, j])
                    _record(i, j, dq, prow[j], cf, cs, ci, KIND_DEFERRED, tr_i, tr_f, state, keep_trades)
                    cash = cash - dq * prow[j] - c
                    cum += c
                    row_cost += c
                    traded += x
                    shares[j] = tgt
            if npend > 0 or event[i]:
                npend = 0
                for j in range(n):
                    if pending[j] == pending[j]:
                        npend += 1
            cost_out[i] = row_cost
            turnover[i] = traded
            if stop[i]:
                state[S_RESUME] = i
                state[S_CASH] = cash
                state[S_CUMCOST] = cum
                return i
        else:
            state[S_RESUME] = -1.0
            row_cost = cost_out[i]
            traded = turnover[i]

        # 5. rebalance decision
        V = _value_at(cash, shares, pv, i)
        rebal = False
        if sig[i] >= 0:
            state[S_TARGET] = sig[i]
            rebal = True
        elif bands_on and state[S_TARGET] >= 0:
            t = int(state[S_TARGET])
            prow = px[i]
            if _breach(shares, prow, V, targets[t], band_abs, band_rel, G, gband_abs, gband_rel):
                if stop_on_breach:
                    state[S_RESUME] = i
                    cost_out[i] = row_cost
                    turnover[i] = traded
                    state[S_CASH] = cash
                    state[S_CUMCOST] = cum
                    return i
                rebal = True
        V_close = V
        if rebal:
            prow = px[i]
        if rebal and use_xp and sig[i] >= 0:
            # scheduled rebalance executed at this row's open (decided at the previous close)
            xrow = xbuf
            for j in range(n):
                xrow[j] = xp[i, j] if xp[i, j] == xp[i, j] else prow[j]
            prow = xrow
            V = _book_value(cash, shares, prow)
        all_tradable = True
        if rebal and V > 0.0:
            for j in range(n):
                if not tradable[i, j]:
                    all_tradable = False
                    break
            w = targets[int(state[S_TARGET])]
            # tradable subset; unlisted targets go to cash (recorded); closed exchange -> deferred
            for j in range(n):
                wv[j] = w[j]
                q[j] = 0.0
                if w[j] != 0.0 and (prow[j] != prow[j] or last_row[j] <= i):
                    _record(i, j, 0.0, np.nan, w[j], 0.0, 0.0, KIND_SKIP_UNLISTED, tr_i, tr_f, state, keep_trades)
                    wv[j] = 0.0
            if conv == NATIVE and simple:
                # proportional costs only: C = sum r_j |w_j (V - C) - n_j p_j|, piecewise linear
                # in C. With the signs s_j of w_j V - n_j p_j: C = A / (1 + B),
                # A = sum r_j |w_j V - n_j p_j|, B = sum r_j s_j w_j (exact unless a sign flips
                # within C of zero; then fixed-point iteration from there).
                A = 0.0
                B = 0.0
                for j in range(n):
                    if prow[j] == prow[j] and tradable[i, j]:
                        ov[j] = shares[j] * prow[j]
                        rate[j] = fee[j] + spread[j]
                        d = wv[j] * V - ov[j]
                        if d > 0.0:
                            A += rate[j] * d
                            B += rate[j] * wv[j]
                        elif d < 0.0:
                            A -= rate[j] * d
                            B -= rate[j] * wv[j]
                    else:
                        ov[j] = 0.0
                        rate[j] = 0.0
                C_used = A / (1.0 + B)
                flip = False
                for j in range(n):
                    if rate[j] != 0.0:
                        d0 = wv[j] * V - ov[j]
                        d1 = wv[j] * (V - C_used) - ov[j]
                        if (d0 > 0.0 and d1 < 0.0) or (d0 < 0.0 and d1 > 0.0):
                            flip = True
                if flip:
                    C = C_used
                    for it in range(60):
                        C_used = C
                        Cn = 0.0
                        for j in range(n):
                            Cn += rate[j] * abs(wv[j] * (V - C_used) - ov[j])
                        C = Cn
                        if abs(C - C_used) <= 1e-16 * V:
                            break
            if conv == NATIVE and not simple:
                C = 0.0
                C_used = 0.0
                for it in range(40):
                    C_used = C
                    Cn = 0.0
                    for j in range(n):
                        if prow[j] != prow[j] or not tradable[i, j]:
                            q[j] = 0.0
                            continue
                        tgt = wv[j] * (V - C_used) / prow[j]
                        if use_lots:
                            tgt = _round_lot(tgt, lot[j])
                        dq = tgt - shares[j]
                        x = abs(dq) * prow[j]
                        if x < min_notional[j]:
                            dq = 0.0
                            x = 0.0
                        q[j] = dq
                        Cn += (fee[j] + spread[j]) * x + _impact(x, impk[j], sigma[i, j], adv[i, j])
                    C = Cn
                    if abs(C - C_used) <= 1e-16 * V:
                        break
            if conv == NATIVE:
                for j in range(n):
                    if prow[j] != prow[j]:
                        continue
                    if not tradable[i, j]:
                        if wv[j] * V != shares[j] * prow[j]:
                            pending[j] = wv[j]
                        continue
                    pending[j] = np.nan
                    tgt = wv[j] * (V - C_used) / prow[j]
                    if use_lots:
                        tgt = _round_lot(tgt, lot[j])
                    dq0 = tgt - shares[j]
                    if simple:
                        dq = dq0
                    else:
                        if dq0 != 0.0 and q[j] == 0.0:
                            _record(i, j, dq0, prow[j], 0.0, 0.0, 0.0, KIND_SKIP_MIN, tr_i, tr_f, state,
                                    keep_trades)
                            continue
                        dq = q[j]
                    if dq == 0.0:
                        continue
                    x = abs(dq) * prow[j]
                    cf, cs, ci, c = _costs(x, fee[j], spread[j], impk[j], sigma[i, j], adv[i, j])
                    _record(i, j, dq, prow[j], cf, cs, ci, KIND_REBALANCE, tr_i, tr_f, state, keep_trades)
                    cash = cash - dq * prow[j] - c
                    cum += c
                    row_cost += c
                    traded += x
                    shares[j] = shares[j] + dq
            elif conv == VECTORBT:
                # order value of each tradable asset, then a stable insertion sort (sells first)
                m = 0
                for j in range(n):
                    if prow[j] != prow[j]:
                        continue
                    if not tradable[i, j]:
                        pending[j] = wv[j]
                        continue
                    ov[m] = wv[j] * V - shares[j] * prow[j]
                    order[m] = j
                    m += 1
                # stable sort (ties keep column order, like vectorbt's insertion argsort)
                # stable insertion sort (vectorbt's own insert_argsort_nb order; ties keep columns)
                for a in range(1, m):
                    key = ov[a]
                    kj = order[a]
                    b = a - 1
                    while b >= 0 and ov[b] > key:
                        ov[b + 1] = ov[b]
                        order[b + 1] = order[b]
                        b -= 1
                    ov[b + 1] = key
                    order[b + 1] = kj
                for a in range(m):
                    j = order[a]
                    p = prow[j]
                    f = fee[j] + spread[j]
                    pos = shares[j]
                    if _is_close(pos, 0.0):
                        pos = 0.0
                    vcash = cash
                    if _is_close(vcash, 0.0):
                        vcash = 0.0
                    dq = wv[j] * V / p - pos
                    if dq > 0.0:
                        if vcash == 0.0:
                            continue
                        req = dq * p
                        tot = req + req * f
                        if _is_close(tot, vcash) or tot < vcash:
                            paid_fee = req * f
                            new_cash = _vbt_add(vcash, -tot)
                        else:
                            mx = vcash / (1.0 + f)
                            if mx <= 0.0:
                                continue
                            dq = mx / p
                            paid_fee = vcash - mx
                            new_cash = _vbt_add(vcash, -vcash)
                        if _is_close(dq, 0.0):
                            continue
                        x = dq * p
                    elif dq < 0.0:
                        sz = -dq
                        if _is_close(sz, 0.0):
                            continue
                        x = sz * p
                        paid_fee = x * f
                        new_cash = vcash + _vbt_add(x, -paid_fee)
                    else:
                        continue
                    cf = paid_fee * (fee[j] / f) if f > 0.0 else 0.0
                    cs = paid_fee - cf
                    _record(i, j, dq, p, cf, cs, 0.0, KIND_REBALANCE, tr_i, tr_f, state, keep_trades)
                    cash = new_cash
                    shares[j] = _vbt_add(pos, dq)
                    cum += paid_fee
                    row_cost += paid_fee
                    traded += x
            else:  # BT
                for j in range(n):
                    if prow[j] != prow[j]:
                        continue
                    if not tradable[i, j]:
                        pending[j] = wv[j]
                        continue
                    p = prow[j]
                    cr = fee[j] + spread[j]
                    if wv[j] == 0.0:
                        if shares[j] == 0.0:
                            continue
                        dq = -shares[j]
                        x = abs(dq) * p
                    else:
                        A = wv[j] * V - shares[j] * p
                        if A == 0.0:
                            continue
                        a_abs = abs(A)
                        x = a_abs
                        sgn = 1.0 if A > 0 else -1.0
                        for it in range(60):
                            c = cr * x + (0.0 if simple else _impact(x, impk[j], sigma[i, j], adv[i, j]))
                            x_new = a_abs - sgn * c
                            if x_new == x:
                                break
                            x = x_new
                        dq = sgn * x / p
                    cf, cs, ci, c = _costs(x, fee[j], spread[j], impk[j], sigma[i, j], adv[i, j])
                    _record(i, j, dq, p, cf, cs, ci, KIND_REBALANCE, tr_i, tr_f, state, keep_trades)
                    cash = cash - dq * p - c
                    shares[j] = shares[j] + dq
                    cum += c
                    row_cost += c
                    traded += x
        V = V_close
        # 6. outputs
        if rebal:
            if npend > 0 or not all_tradable:
                npend = 0
                for j in range(n):
                    if pending[j] == pending[j]:
                        npend += 1
            E = _value_at(cash, shares, pv, i)
        else:
            E = V
        equity[i] = E
        cash_out[i] = cash
        cost_out[i] = row_cost
        turnover[i] = traded  # currency; the caller divides by the pre-trade value
        if keep_weights:
            for j in range(n):
                weights_out[i, j] = shares[j] * pv[i, j] / E if (shares[j] != 0.0 and E != 0.0) else 0.0
    state[S_CASH] = cash
    state[S_CUMCOST] = cum
    return i1


@njit(cache=True)
def _run_sets(s0, s1, px, pv, tradable, last_row, event, sig, targets, band_abs, band_rel, G, gband_abs, gband_rel,
              fee, spread, impk, min_notional, lot, use_lots, sigma, adv, conv, growth, capital,
              equity, costs, traded):
    T, N = px.shape
    shares = np.zeros(N)
    pending = np.full(N, np.nan)
    state = np.zeros(5)
    cash_out = np.empty(T)
    stop = np.zeros(T, dtype=np.bool_)
    w_dummy = np.zeros((1, N))
    ti = np.zeros((1, 3), dtype=np.int64)
    tf = np.zeros((1, 5))
    for s in range(s0, s1):
        s_sig = s if sig.shape[0] > 1 else 0
        shares[:] = 0.0
        pending[:] = np.nan
        state[0] = capital
        state[1] = 0.0
        state[2] = -1.0
        state[3] = -1.0
        state[4] = 0.0
        run_rows(0, T, px, pv, px, False, tradable, last_row, event, sig[s_sig], stop, targets[s],
                   band_abs[s], band_rel[s], G, gband_abs[s], gband_rel[s], False,
                   fee, spread, impk, min_notional, lot, use_lots, sigma, adv, conv, growth,
                   shares, pending, state, equity[s], cash_out, costs[s], traded[s], w_dummy, False,
                   ti, tf, False)


@njit(parallel=True, cache=True)
def run_many(px, pv, tradable, last_row, event, sig, targets, band_abs, band_rel, G, gband_abs, gband_rel,
          fee, spread, impk, min_notional, lot, use_lots, sigma, adv, conv, growth, capital,
          equity, costs, traded, n_chunks):
    """Many weight sets through :func:`run_rows` (same file, so numba's cache of this
    function is invalidated together with the kernel's). Chunks of sets per thread;
    each chunk is a plain serial loop."""
    S = targets.shape[0]
    for c in prange(n_chunks):
        s0 = c * S // n_chunks
        s1 = (c + 1) * S // n_chunks
        _run_sets(s0, s1, px, pv, tradable, last_row, event, sig, targets, band_abs, band_rel, G, gband_abs,
                  gband_rel, fee, spread, impk, min_notional, lot, use_lots, sigma, adv, conv, growth, capital,
                  equity, costs, traded)
