"""Build ``ScoreInputs`` for tests from values in any unit the units module accepts."""

from __future__ import annotations

from typing import Any

from inference.risk.scores.types import Findings, LabValue, Nodule, ScoreInputs, Tumour
from patients.units import analyte_by_key, unit_to_canonical


def patient(
    *,
    age: float | None = None,
    sex: str | None = None,
    labs: dict[str, tuple[float, str]] | None = None,
    **findings: Any,
) -> ScoreInputs:
    """``labs`` maps analyte key to (value, unit); keyword findings go to ``Findings``."""
    converted = {}
    for key, (value, unit) in (labs or {}).items():
        code = analyte_by_key(key).loinc
        canonical = unit_to_canonical(code=code, value=value, unit=unit)
        converted[key] = LabValue(key=key, code=code, value=canonical.value, unit=canonical.unit)
    if "liver_tumours" in findings and findings["liver_tumours"] is not None:
        findings["liver_tumours"] = tuple(
            t if isinstance(t, Tumour) else Tumour(diameter_cm=t) for t in findings["liver_tumours"]
        )
    if "lung_nodules" in findings and findings["lung_nodules"] is not None:
        findings["lung_nodules"] = tuple(
            n if isinstance(n, Nodule) else Nodule(**n) for n in findings["lung_nodules"]
        )
    return ScoreInputs(age_years=age, sex=sex, labs=converted, findings=Findings(**findings))  # type: ignore[arg-type]
