"""What a reader must know before trusting the numbers of a run: errors, warnings and notes.

Every step of the main job that meets something which changes a number (a stale price,
a position without volume, a mandate rule that could not be applied, a proxy in a stress
scenario, a validation finding) adds a :class:`Caveat` here. The collection is written
to ``results.json`` (``caveats``), printed as the last panel of the terminal summary and
shown in the box that opens the report, so it is never only a footnote.

Classes that change numbers (:data:`STRICT_CLASSES`) make ``computefolio run --strict``
exit non-zero, for scheduled runs that must not publish such numbers unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("error", "warning", "note")

#: Caveat classes that change numbers: ``--strict`` fails on any of them.
STRICT_CLASSES = frozenset({"stale_price", "missing_volume", "skipped_rule", "stress_proxy", "mandate_breach",
                            "data_error", "private_mark"})

#: Human names of the classes (terminal panel and report box).
CLASS_NAMES = {
    "data_error": "data errors",
    "stale_price": "stale prices",
    "missing_volume": "missing volume",
    "volume_scale": "volume sources disagree",
    "skipped_rule": "mandate rules not applied",
    "mandate_breach": "mandate breaches",
    "stress_proxy": "proxies in stress",
    "stress_recorded": "stress from recorded history",
    "history_fill": "history filled from proxies",
    "as_of": "as-of date",
    "simulated": "simulated data",
    "data_warning": "data warnings",
    "construction": "construction",
    "private_mark": "private marks",
    "unsmoothing": "risk of marked positions",
    "other": "other",
}


@dataclass
class Caveat:
    """One thing a reader must know: ``severity`` (error, warning, note), ``cls`` (see
    :data:`CLASS_NAMES`), a sentence, and the symbols involved."""

    severity: str
    cls: str
    text: str
    symbols: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"severity": self.severity, "class": self.cls, "class_name": CLASS_NAMES.get(self.cls, self.cls),
                "text": self.text, "symbols": list(self.symbols)}


class Caveats:
    """An ordered, de-duplicated collection of :class:`Caveat`."""

    def __init__(self):
        self.items: list[Caveat] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, severity: str, cls: str, text: str, symbols=()) -> None:
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
        key = (cls, text)
        if key in self._seen:
            return
        self._seen.add(key)
        self.items.append(Caveat(severity, cls, text, sorted({str(s) for s in symbols})))

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for c in self.items if c.severity == s) for s in SEVERITIES}

    def strict_failures(self) -> list[Caveat]:
        """Caveats of a class that changes numbers (errors and warnings only)."""
        return [c for c in self.items if c.cls in STRICT_CLASSES and c.severity in ("error", "warning")]

    def ordered(self) -> list[Caveat]:
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        return sorted(self.items, key=lambda c: rank[c.severity])

    def to_dict(self) -> dict:
        return {"counts": self.counts(), "strict_classes": sorted(STRICT_CLASSES),
                "items": [c.to_dict() for c in self.ordered()],
                "rule": "errors and warnings change numbers or their meaning; notes say how a number was made; "
                        "computefolio run --strict exits non-zero on any error or warning of a strict class"}
