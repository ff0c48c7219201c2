"""Trade generation: today's targets on the book, turned into orders by account and venue.

``plan.py`` (the step: value the book, fit the strategy's allocator, size orders, compare
the book before and after), ``orders.py`` (sizing, rounding, costs, cash sequencing),
``venues.py`` (lots, ticks, minimums, hours, settlement: ``resources/venues.yaml``),
``store.py`` (order lists in the store, one per book state).

Public API::

    from computefolio.rebalance import plan_rebalance, RebalancePlan, VenueRules
"""

from .orders import ORDER_FIELDS, estimate_costs, sequence_cash, size_orders
from .plan import RebalancePlan, book_risk, plan_rebalance, strategy_targets
from .venues import Rule, VenueRules, load_venues, round_quantity

__all__ = ["plan_rebalance", "RebalancePlan", "strategy_targets", "book_risk", "size_orders", "estimate_costs",
           "sequence_cash", "ORDER_FIELDS", "VenueRules", "Rule", "load_venues", "round_quantity"]
