"""Build ``ScoreInputs`` from a request body, validating every field.

Observations are converted to canonical units through ``patients.units`` (any unit it knows)
and checked against the hard plausibility limits. Errors carry the field path in
``detail["field"]`` (e.g. ``observations[2].unit``, ``findings.lung_nodules[0].type``).

Unknown keys are rejected at every level: a misspelt finding ("ascities") must fail loudly,
not silently leave a score not computable. ``null`` for a finding means "not stated".

Duplicate observations of one analyte: the one with the latest date wins. If any of them is
undated, or two share the latest date, the request fails with ``duplicate_observation``.
Dates are ISO 8601 dates or date-times, not in the future; a date-time without a time zone is
read as UTC. Every field is read by the parsers of ``patients.validation``, so a mistake gets
the same error class and code here as in the record API and the imports.
An observation may carry ``comparator`` (<, <=, >=, >) for a censored result: scores use it at
its limit and say so (``censored`` and ``censored_inputs`` in the score's result).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from inference.risk.errors import DuplicateObservation, UnknownScore
from patients.errors import InconsistentValues, InvalidField
from patients.validation import (
    LAB_QUANTITY_FIELDS,
    Parser,
    boolean,
    choice,
    fields_parse,
    integer,
    lab_quantity_read,
    list_read,
    mapping_read,
    number,
    past_datetime,
)

from .types import (
    Ascites,
    BclcBPattern,
    ChildPughClass,
    Encephalopathy,
    Findings,
    FindingSource,
    LabValue,
    LiverFunction,
    Nodule,
    NoduleContext,
    NodulePatientRisk,
    NoduleStatus,
    NoduleType,
    PriorCategory,
    ScoreInputs,
    ScreeningExam,
    Sex,
    Tumour,
)

MAX_AGE_YEARS = 120.0


@dataclass(frozen=True)
class ScoreRequest:
    inputs: ScoreInputs
    score_ids: list[str] | None
    modifiers: Mapping[str, Any] | None


def _enum(literal: Any) -> Parser:
    return choice(get_args(literal))


def _positive(high: float) -> Parser:
    return number(0.0, high, low_inclusive=False)


def _fields(raw: Any, path: str, parsers: Mapping[str, Parser], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The stated fields of an object; ``null`` is "not stated" and left out."""
    parsed = fields_parse(raw, parsers=parsers, required=required, path=path)
    return {name: value for name, value in parsed.items() if value is not None}


def _items(value: Any, path: str, parsers: Mapping[str, Parser], required: str) -> list[dict[str, Any]]:
    """The stated fields of each object in a list, naming ``path[i]`` in errors."""
    return [
        _fields(raw, f"{path}[{index}]", parsers, (required,)) for index, raw in enumerate(list_read(value, path))
    ]


TUMOUR_FIELDS: dict[str, Parser] = {
    "diameter_cm": _positive(40.0),
    "source": _enum(FindingSource),
}

NODULE_FIELDS: dict[str, Parser] = {
    "type": _enum(NoduleType),
    "long_axis_mm": _positive(300.0),
    "short_axis_mm": _positive(300.0),
    "mean_diameter_mm": _positive(300.0),
    "volume_mm3": _positive(15_000_000.0),
    "solid_component_mm": _positive(300.0),
    "upper_lobe": boolean,
    "spiculated": boolean,
    "status": _enum(NoduleStatus),
    "prior_category": _enum(PriorCategory),
}


def _tumours(value: Any, path: str) -> tuple[Tumour, ...]:
    return tuple(Tumour(**fields) for fields in _items(value, path, TUMOUR_FIELDS, "diameter_cm"))


def _nodules(value: Any, path: str) -> tuple[Nodule, ...]:
    nodules = []
    for index, fields in enumerate(_items(value, path, NODULE_FIELDS, "type")):
        item_path = f"{path}[{index}]"
        long_axis, short_axis = fields.get("long_axis_mm"), fields.get("short_axis_mm")
        if long_axis is not None and short_axis is not None and short_axis > long_axis:
            raise InconsistentValues(
                f"{item_path}.short_axis_mm: {short_axis:g} exceeds long_axis_mm {long_axis:g}.",
                detail={"field": f"{item_path}.short_axis_mm", "value": short_axis},
            )
        if "solid_component_mm" in fields and fields["type"] != "part_solid":
            raise InconsistentValues(
                f"{item_path}.solid_component_mm: only a part-solid nodule has one.",
                detail={"field": f"{item_path}.solid_component_mm"},
            )
        nodules.append(Nodule(**fields))
    return tuple(nodules)


FINDING_FIELDS: dict[str, Parser] = {
    "dialysis_twice_past_week": boolean,
    "ascites": _enum(Ascites),
    "encephalopathy": _enum(Encephalopathy),
    "cholestatic_disease": boolean,
    "ecog_ps": integer(0, 4),
    "liver_tumours": _tumours,
    "macrovascular_invasion": boolean,
    "extrahepatic_spread": boolean,
    "clinically_significant_portal_hypertension": boolean,
    "bilirubin_normal": boolean,
    "liver_function": _enum(LiverFunction),
    "child_pugh_class": _enum(ChildPughClass),
    "transplant_candidate": boolean,
    "bclc_b_pattern": _enum(BclcBPattern),
    "ast_upper_limit_normal_u_l": _positive(1000.0),
    "afp_l3_percent": number(0.0, 100.0),
    "dcp_ng_ml": _positive(1_000_000.0),
    "lung_nodules": _nodules,
    "nodule_count": integer(1, 1000),
    "lung_screening_exam": _enum(ScreeningExam),
    "nodule_context": _enum(NoduleContext),
    "nodule_patient_risk": _enum(NodulePatientRisk),
    "family_history_lung_cancer": boolean,
    "emphysema": boolean,
    "known_cancer_or_immunosuppressed": boolean,
}

PATIENT_FIELDS: dict[str, Parser] = {
    "age_years": number(0.0, MAX_AGE_YEARS),
    "sex": _enum(Sex),
}


# An observation in a score request: a laboratory quantity with an optional date.
OBSERVATION_FIELDS: dict[str, Parser] = {**LAB_QUANTITY_FIELDS, "date": past_datetime}


def _observation(raw: Any, path: str) -> tuple[LabValue, datetime | None]:
    fields = fields_parse(raw, parsers=OBSERVATION_FIELDS, required=("code", "value"), path=path)
    quantity = lab_quantity_read(
        code=fields["code"], value=fields["value"], unit=fields.get("unit") or "", comparator=fields.get("comparator"),
        path=path,
    )
    moment: datetime | None = fields.get("date")
    stated = raw.get("date")
    date = stated if isinstance(stated, str) else (moment.isoformat() if moment else None)
    lab = LabValue(
        key=quantity.analyte.key,
        code=quantity.analyte.loinc,
        value=quantity.canonical.value,
        unit=quantity.canonical.unit,
        date=date,
        comparator=quantity.comparator,
    )
    return lab, moment


def _labs(value: Any) -> dict[str, LabValue]:
    by_key: dict[str, list[tuple[int, LabValue, datetime | None]]] = {}
    for index, raw in enumerate(list_read(value, "observations")):
        lab, moment = _observation(raw, f"observations[{index}]")
        by_key.setdefault(lab.key, []).append((index, lab, moment))
    labs: dict[str, LabValue] = {}
    for key, entries in by_key.items():
        if len(entries) == 1:
            labs[key] = entries[0][1]
            continue
        indices = [index for index, _, _ in entries]
        dated = [(moment, lab) for _, lab, moment in entries if moment is not None]
        latest = max((moment for moment, _ in dated), default=None)
        winners = [lab for moment, lab in dated if moment == latest]
        if len(dated) != len(entries) or len(winners) != 1:
            raise DuplicateObservation(
                f"observations: {len(entries)} values of {key} that cannot be ordered by date "
                "(every duplicate needs a distinct date; the latest is used)",
                detail={"field": "observations", "code": entries[0][1].code, "indices": indices},
            )
        labs[key] = winners[0]
    return labs


def _score_ids(value: Any, known_scores: Mapping[str, Any]) -> list[str]:
    score_ids: list[str] = []
    for index, score_id in enumerate(list_read(value, "scores")):
        if not isinstance(score_id, str):
            raise InvalidField(f"scores[{index}]: must be a score id string.", detail={"field": f"scores[{index}]"})
        if score_id not in known_scores:
            raise UnknownScore(
                f"Unknown score {score_id!r}.",
                detail={"field": f"scores[{index}]", "score": score_id, "known": sorted(known_scores)},
            )
        if score_id not in score_ids:
            score_ids.append(score_id)
    return score_ids


def score_request_parse(body: Any, *, known_scores: Mapping[str, Any]) -> ScoreRequest:
    """Validate a request body and build the typed inputs (see the module docstring)."""
    obj = fields_parse(
        body,
        parsers={
            "patient": lambda value, path: _fields(value, path, PATIENT_FIELDS),
            "observations": lambda value, path: _labs(value),
            "findings": lambda value, path: Findings(**_fields(value, path, FINDING_FIELDS)),
            "scores": lambda value, path: _score_ids(value, known_scores),
            "modifiers": mapping_read,
        },
    )
    # Absent or null sections mean "nothing stated".
    patient = obj.get("patient") or {}
    inputs = ScoreInputs(
        age_years=patient.get("age_years"),
        sex=patient.get("sex"),
        labs=obj.get("observations") or {},
        findings=obj.get("findings") or Findings(),
    )
    return ScoreRequest(inputs=inputs, score_ids=obj.get("scores"), modifiers=obj.get("modifiers"))
