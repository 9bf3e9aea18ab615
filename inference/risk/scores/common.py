"""Shared plumbing of the score functions: reading inputs at a score's edge, rounding.

Rounding and unit snapping use only IEEE basic operations (multiply, add, floor, divide), which
numpy and Python evaluate identically, so the vectorised batch path can reproduce them bit for
bit (``batch.py`` mirrors these helpers).
"""

from __future__ import annotations

import math
from typing import Any

from patients.units import unit_from_canonical

from .types import ScoreInputs, ScoreResult

# Unit conversion leaves float noise (3.0 mg/dL creatinine -> 265.2 umol/L -> 3.0000000000000004);
# snapping to 1e-9 keeps values that sit exactly on a cut-off on the side the clinician meant.
SNAP = 1e9


def snap(value: float) -> float:
    return math.floor(value * SNAP + 0.5) / SNAP


def round_half_up(value: float, digits: int = 0) -> float:
    """Round half away from zero, as clinical calculators and OPTN policy do (not banker's)."""
    scale = 10.0**digits
    return math.copysign(math.floor(abs(value) * scale + 0.5), value) / scale


def clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


class Collector:
    """Reads one score's inputs, recording what was used and what was missing, and builds its
    result with the score's id, citation and guideline version."""

    def __init__(self, inputs: ScoreInputs, *, score_id: str, citation: str, guideline_version: str) -> None:
        self.inputs = inputs
        self.score_id = score_id
        self.citation = citation
        self.guideline_version = guideline_version
        self.used: list[dict[str, Any]] = []
        self.missing: list[str] = []
        self.censored: list[dict[str, Any]] = []

    def _missing(self, name: str) -> None:
        if name not in self.missing:
            self.missing.append(name)

    def lab(self, key: str, unit: str, *, required: bool = True) -> float | None:
        """A lab value converted from canonical to the unit this score is defined in.

        A censored value ("<5") is used at its limit and recorded in ``censored``, so the result
        says it is a bound rather than passing it off as exact.
        """
        lab = self.inputs.labs.get(key)
        if lab is None:
            if required:
                self._missing(key)
            return None
        value = snap(unit_from_canonical(code=lab.code, value=lab.value, unit=unit))
        used = {"name": key, "code": lab.code, "value": value, "unit": unit, "date": lab.date}
        if lab.comparator:
            used["comparator"] = lab.comparator
            self.censored.append({"name": key, "code": lab.code, "comparator": lab.comparator, "value": value, "unit": unit})
        self.used.append(used)
        return value

    def censored_note(self) -> str | None:
        if not self.censored:
            return None
        shown = ", ".join(f"{c['name']} {c['comparator']}{c['value']:g} {c['unit']}".rstrip() for c in self.censored)
        return (
            f"Computed from censored input(s) at their reported limit ({shown}): the true value lies beyond "
            "that limit, so this result is a bound, not an exact score."
        )

    def age(self) -> float | None:
        age = self.inputs.age_years
        if age is None:
            self._missing("age_years")
            return None
        self.used.append({"name": "age_years", "code": None, "value": age, "unit": "a", "date": None})
        return age

    def sex(self) -> str | None:
        sex = self.inputs.sex
        if sex is None:
            self._missing("sex")
            return None
        self.used.append({"name": "sex", "code": None, "value": sex, "unit": None, "date": None})
        return sex

    def finding(self, name: str, *, unit: str | None = None, required: bool = True) -> Any:
        """A finding by name; ``required=False`` reads it without naming it missing when absent."""
        value = getattr(self.inputs.findings, name)
        if value is None:
            if required:
                self._missing(name)
            return None
        if not isinstance(value, tuple):
            self.used.append({"name": name, "code": None, "value": value, "unit": unit, "date": None})
        return value

    def record(self, name: str, value: Any, *, unit: str | None = None) -> None:
        """Record a derived input (e.g. a nodule measurement) in ``inputs_used``."""
        self.used.append({"name": name, "code": None, "value": value, "unit": unit, "date": None})

    def lacks(self, name: str) -> None:
        self._missing(name)

    def result(self, *, value: int | float | str | None, category: str | None, details: dict[str, Any]) -> ScoreResult:
        note = self.censored_note()
        return ScoreResult(
            id=self.score_id,
            computable=True,
            value=value,
            category=category,
            details={**details, "censored_note": note} if note else details,
            inputs_used=self.used,
            missing=[],
            citation=self.citation,
            guideline_version=self.guideline_version,
            censored_inputs=list(self.censored),
        )

    def not_computable(self, *, reason: str | None = None, details: dict[str, Any] | None = None) -> ScoreResult:
        message = reason or "not computable: lacks " + ", ".join(self.missing)
        return ScoreResult(
            id=self.score_id,
            computable=False,
            value=None,
            category=None,
            details={**(details or {}), "reason": message},
            inputs_used=self.used,
            missing=list(self.missing),
            citation=self.citation,
            guideline_version=self.guideline_version,
        )
