"""Pre-trade compliance: named checks (pass | warn | block), overrides, a hash-chained log.

Modules: ``checks`` (the pipeline of small named checks and the engine), ``policy``
(``resources/compliance_default.yaml``: collar, maximum order, stale age, cure days,
issuer caps), ``log`` (the hash-chained compliance log), ``workflow`` (propose, override,
release, cancel, fills).

Public API (importable without the CLI)::

    from computefolio.compliance import Compliance, ComplianceLog, propose, override, release

    report = Compliance(mandate, universe=universe, venue_rules=rules).check(orders, valuation, market=market)
    report.status, report.blocks()
"""

from .checks import (BLOCK, CHECKS, HARD_RULES, PASS, WARN, Check, CheckResult, Compliance, ComplianceReport,
                     Override)
from .log import ComplianceLog
from .policy import CompliancePolicy, load_policy, policy_from_dict
from .workflow import FillsReport, apply_fills, cancel, override, propose, recorded_results, release

__all__ = ["Compliance", "ComplianceReport", "CheckResult", "Check", "CHECKS", "HARD_RULES", "Override", "PASS",
           "WARN", "BLOCK", "ComplianceLog", "CompliancePolicy", "load_policy", "policy_from_dict", "propose",
           "override", "release", "cancel", "apply_fills", "recorded_results", "FillsReport"]
