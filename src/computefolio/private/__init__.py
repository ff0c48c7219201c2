"""Private stakes and locked tokens: marks, the NAV between marks, unsmoothed risk, lock-ups.

Public API::

    from computefolio.private import (load_private_book, value_sleeve, private_risk, access_terms,
                                      Marks, Mark, mark_valuation, GeltnerUnsmoother, GLMUnsmoother)

    book = load_private_book(universe=u)              # resources/private_positions.yaml
    sv = value_sleeve(book, market, u, days)          # every position on every day, by marks/prices
    sv.snapshot()                                     # today's positions: value, mark, age, locked part
    sv.trueups()                                      # every jump when a new mark (or the listing) arrived
    pr = private_risk(sv, market, u, asof=day)        # stand-in daily returns, never smoothed ones
    GLMUnsmoother(k=2).fit(quarterly_returns).theta_  # Getmansky-Lo-Makarov smoothing profile

Modules: ``marks`` (dated marks with provenance, the checks every mark passes), ``nav``
(the policy between marks: last mark or roll-forward on the proxy basket, true-ups, the
switch to market prices at a listing), ``unsmooth`` (Geltner, GLM by maximum likelihood,
the smoothing index), ``schedules`` (cliff/linear/step vesting, lock-ups, IPO lock-ups, fund
gates, token overhang), ``positions`` (the positions file), ``sleeve`` (the sleeve a run
holds beside its liquid book), ``store`` (marks in the store with provenance).
See docs/private.md.
"""

from .marks import SOURCES, Mark, Marks, check_mark
from .nav import POLICIES, POLICY_TEXT, Basket, MarkValuation, mark_valuation
from .positions import (
                       PrivateBook,
                       default_private_path,
                       load_private_book,
                       positions_frame,
)
from .schedules import (
                       Cliff,
                       Gate,
                       IpoLockup,
                       Linear,
                       Lockup,
                       Step,
                       Terms,
                       TokenSupply,
                       locked_value_by_month,
)
from .sleeve import (
                       PrivateRisk,
                       SleeveValuation,
                       access_terms,
                       private_risk,
                       value_sleeve,
)
from .store import HeldTerms, PrivateData, PrivateStore
from .unsmooth import (
                       GeltnerUnsmoother,
                       GLMUnsmoother,
                       UnsmoothingResult,
                       geltner,
                       lag1_autocorrelation,
                       smooth_ar1,
                       smooth_ma,
                       smoothing_index,
                       unsmooth_marks,
)

__all__ = [
                       "POLICIES",
                       "POLICY_TEXT",
                       "SOURCES",
                       "Basket",
                       "Cliff",
                       "GLMUnsmoother",
                       "Gate",
                       "GeltnerUnsmoother",
                       "HeldTerms",
                       "IpoLockup",
                       "Linear",
                       "Lockup",
                       "Mark",
                       "MarkValuation",
                       "Marks",
                       "PrivateBook",
                       "PrivateData",
                       "PrivateRisk",
                       "PrivateStore",
                       "SleeveValuation",
                       "Step",
                       "Terms",
                       "TokenSupply",
                       "UnsmoothingResult",
                       "access_terms",
                       "check_mark",
                       "default_private_path",
                       "geltner",
                       "lag1_autocorrelation",
                       "load_private_book",
                       "locked_value_by_month",
                       "mark_valuation",
                       "positions_frame",
                       "private_risk",
                       "smooth_ar1",
                       "smooth_ma",
                       "smoothing_index",
                       "unsmooth_marks",
                       "value_sleeve",
]
