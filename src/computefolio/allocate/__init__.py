"""Portfolio construction (placeholder API while being written)."""
from .base import Allocator
from .naive import EqualWeight, InverseVolatility
from .hierarchical import HierarchicalRiskParity, HierarchicalEqualRiskContribution
from .riskparity import RiskParity
