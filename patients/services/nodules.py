"""Lung nodules and their scoring context in the record: validated like the other dated records.

Typed by a clinician through the API, or copied from an accepted imaging finding
(``lung_nodule_from_finding``, called by the findings lifecycle with plain values).
"""

from __future__ import annotations

import math
from typing import Any

from django.db import IntegrityError, transaction

from patients.errors import EmptyRecord, InconsistentValues, MissingField
from patients.models import LungNodule, LungNoduleAssessment, Patient, RecordSource
from patients.models.nodules import (
    NoduleContext,
    NodulePatientRisk,
    NodulePriorCategory,
    NoduleStatus,
    NoduleType,
    ScreeningExam,
)
from patients.services.records import RecordKind, record_create
from patients.validation import Parser, boolean, choice, integer, number, past_date, text

# The model's and the viewer's words for the types, mapped to the scores' vocabulary.
TYPE_ALIASES = {"ground-glass": "non_solid", "ground_glass": "non_solid", "part-solid": "part_solid"}
AXIS_TOLERANCE_MM = 0.05


def _nodule_type(value: Any, path: str) -> str:
    if isinstance(value, str):
        value = TYPE_ALIASES.get(value.strip().lower(), value.strip().lower())
    return choice(NoduleType)(value, path)


NODULE_FIELDS: dict[str, Parser] = {
    "observed_on": past_date,
    "nodule_type": _nodule_type,
    "long_axis_mm": number(0, 100, low_inclusive=False),
    "short_axis_mm": number(0, 100, low_inclusive=False),
    "mean_diameter_mm": number(0, 100, low_inclusive=False),
    "volume_mm3": number(0, 600_000, low_inclusive=False),
    "solid_component_mm": number(0, 100),
    "mean_hu": number(-1100, 3000),
    "calcified": boolean,
    "upper_lobe": boolean,
    "spiculated": boolean,
    "status": choice(NoduleStatus),
    "prior_category": choice(NodulePriorCategory),
    "centre_x_mm": number(-2000, 2000),
    "centre_y_mm": number(-2000, 2000),
    "centre_z_mm": number(-5000, 5000),
    "series_uid": text(64, pattern=r"[0-9.]+", hint="DICOM UID"),
    "finding_id": integer(1, 2_147_483_647),
    "model_key": text(64),
    "model_version": text(32),
    "confidence": number(0, 1),
    "note": text(500),
}


def _nodule_check(state: dict[str, Any], sent: set[str]) -> dict[str, Any]:
    long_axis, short_axis = state.get("long_axis_mm"), state.get("short_axis_mm")
    if long_axis is None and state.get("mean_diameter_mm") is None and state.get("volume_mm3") is None:
        raise MissingField("long_axis_mm: give a diameter or a volume.", detail={"field": "long_axis_mm"})
    if short_axis is not None and long_axis is None:
        raise MissingField("long_axis_mm: a short axis needs its long axis.", detail={"field": "long_axis_mm"})
    if long_axis is not None and short_axis is not None:
        if short_axis > long_axis + AXIS_TOLERANCE_MM:
            raise InconsistentValues("short_axis_mm: longer than the long axis.", detail={"field": "short_axis_mm"})
        mean = round((long_axis + short_axis) / 2.0, 1)
        given = state.get("mean_diameter_mm")
        if "mean_diameter_mm" in sent and given is not None and abs(given - mean) > 0.051:
            raise InconsistentValues(
                f"mean_diameter_mm: {given:g} is not the mean of the axes ({mean:g}).",
                detail={"field": "mean_diameter_mm", "computed": mean},
            )
        state["mean_diameter_mm"] = mean
    solid = state.get("solid_component_mm")
    if solid is not None:
        if state.get("nodule_type") != NoduleType.PART_SOLID:
            raise InconsistentValues("solid_component_mm: only a part-solid nodule has one.", detail={"field": "solid_component_mm"})
        if long_axis is not None and solid > long_axis + AXIS_TOLERANCE_MM:
            raise InconsistentValues("solid_component_mm: larger than the nodule.", detail={"field": "solid_component_mm"})
    if state.get("calcified") and state.get("nodule_type") != NoduleType.SOLID:
        raise InconsistentValues("calcified: a calcified nodule is solid.", detail={"field": "calcified"})
    if state.get("status") == NoduleStatus.NEW and state.get("prior_category"):
        raise InconsistentValues("prior_category: a new nodule has no prior category.", detail={"field": "prior_category"})
    centre = [state.get(f"centre_{a}_mm") for a in "xyz"]
    if any(c is not None for c in centre) and not all(c is not None for c in centre):
        raise MissingField("centre_x_mm: the centre needs x, y and z.", detail={"field": "centre_x_mm"})
    for name in ("status", "prior_category", "series_uid", "model_key", "model_version", "note"):
        state[name] = state.get(name) or ""
    return state


ASSESSMENT_FIELDS: dict[str, Parser] = {
    "assessed_on": past_date,
    "nodule_context": choice(NoduleContext),
    "screening_exam": choice(ScreeningExam),
    "nodule_patient_risk": choice(NodulePatientRisk),
    "family_history_lung_cancer": boolean,
    "emphysema": boolean,
    "known_cancer_or_immunosuppressed": boolean,
    "nodule_count": integer(0, 500),
}


def _assessment_check(state: dict[str, Any], sent: set[str]) -> dict[str, Any]:
    if all(state.get(n) in (None, "") for n in ASSESSMENT_FIELDS if n != "assessed_on"):
        raise EmptyRecord("The assessment states nothing.", detail={"field": None})
    if state.get("screening_exam") and state.get("nodule_context") == NoduleContext.INCIDENTAL:
        raise InconsistentValues("screening_exam: given for an incidental nodule.", detail={"field": "screening_exam"})
    for name in ("nodule_context", "screening_exam", "nodule_patient_risk"):
        state[name] = state.get(name) or ""
    return state


NODULES: RecordKind[LungNodule] = RecordKind(
    name="lung_nodule",
    model=LungNodule,
    date_field="observed_on",
    parsers=NODULE_FIELDS,
    required=("observed_on", "nodule_type"),
    check=_nodule_check,
)
NODULE_ASSESSMENTS: RecordKind[LungNoduleAssessment] = RecordKind(
    name="lung_nodule_assessment",
    model=LungNoduleAssessment,
    date_field="assessed_on",
    parsers=ASSESSMENT_FIELDS,
    required=("assessed_on",),
    check=_assessment_check,
)


class NoduleFromFindingInvalid(InconsistentValues):
    code = "nodule_finding_invalid"


def lung_nodule_from_finding(
    *, actor: Any, patient: Patient, finding_id: int, observed_on: Any, values: dict[str, Any], series_uid: str = "",
    model_key: str = "", model_version: str = "", request: Any = None,
) -> LungNodule:
    """Copy an accepted nodule finding into the record once (a repeated call returns the row)."""
    existing = LungNodule.objects.filter(patient=patient, finding_id=finding_id).first()
    if existing is not None:
        return existing
    data: dict[str, Any] = {"observed_on": observed_on.isoformat() if hasattr(observed_on, "isoformat") else observed_on,
                            "finding_id": finding_id}
    for name in ("nodule_type", "long_axis_mm", "short_axis_mm", "volume_mm3", "mean_hu", "calcified", "upper_lobe",
                 "centre_x_mm", "centre_y_mm", "centre_z_mm", "confidence"):
        value = values.get(name)
        if value is not None and not (isinstance(value, float) and not math.isfinite(value)):
            data[name] = value
    if series_uid:
        data["series_uid"] = series_uid
    if model_key:
        data["model_key"], data["model_version"] = model_key, model_version
    try:
        with transaction.atomic():
            return record_create(NODULES, actor=actor, patient=patient, data=data, source=RecordSource.IMPORT, request=request)
    except IntegrityError:
        return LungNodule.objects.get(patient=patient, finding_id=finding_id)
