"""Build ``ScoreInputs`` from a request body, validating every field.

Observations are converted to canonical units through ``patients.units`` (any unit it knows)
and checked against the hard plausibility limits. Errors carry the field path in
``detail["field"]`` (e.g. ``observations[2].unit``, ``findings.lung_nodules[0].type``).

Unknown keys are rejected at every level: a misspelt finding ("ascities") must fail loudly,
not silently leave a score not computable. ``null`` for a finding means "not stated".

Duplicate observations of one analyte: the one with the latest date wins. If any of them is
undated, or two share the latest date, the request fails with ``duplicate_observation``.
Dates are ISO 8601 dates or date-times; a date-time without a time zone is read as UTC.
An observation may carry ``comparator`` (<, <=, >=, >) for a censored result: scores use it at
its limit and say so (``censored`` and ``censored_inputs`` in the score's result).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

from inference.risk.errors import DuplicateObservation, ImplausibleFinding, InvalidRequest, UnknownScore
from patients.units import (
    ImplausibleValue,
    NotANumber,
    UnknownAnalyte,
    UnknownUnit,
    analyte_by_code,
    unit_to_canonical,
    value_check_plausible,
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


def _invalid(path: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {message}", detail={"field": path})


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(path, "must be an object")
    return value


def _keys(obj: dict[str, Any], path: str, allowed: set[str]) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise InvalidRequest(f"{where}: unknown field", detail={"field": where, "allowed": sorted(allowed)})


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(path, "must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise NotANumber(f"{path}: not a finite number", detail={"field": path, "value": repr(value)})
    return number


def _bounded(value: Any, path: str, low: float, high: float, *, low_inclusive: bool = True) -> float:
    number = _number(value, path)
    if (number < low or (number == low and not low_inclusive)) or number > high:
        bracket = "[" if low_inclusive else "("
        raise ImplausibleFinding(
            f"{path}: {number:g} is outside {bracket}{low:g}, {high:g}]",
            detail={"field": path, "value": number, "min": low, "max": high},
        )
    return number


def _positive(high: float) -> Callable[[Any, str], float]:
    return lambda value, path: _bounded(value, path, 0.0, high, low_inclusive=False)


def _integer(low: int, high: int) -> Callable[[Any, str], int]:
    def parse(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(path, "must be an integer")
        if not low <= value <= high:
            raise ImplausibleFinding(
                f"{path}: {value} is outside [{low}, {high}]",
                detail={"field": path, "value": value, "min": low, "max": high},
            )
        return value

    return parse


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _invalid(path, "must be true or false")
    return value


def _enum(literal: Any) -> Callable[[Any, str], Any]:
    choices = get_args(literal)

    def parse(value: Any, path: str) -> Any:
        if value not in choices or not isinstance(value, str):
            raise InvalidRequest(
                f"{path}: must be one of {', '.join(repr(c) for c in choices)}",
                detail={"field": path, "allowed": list(choices)},
            )
        return value

    return parse


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _invalid(path, "must be a list")
    return value


def _fields(
    raw: dict[str, Any], path: str, parsers: Mapping[str, Callable[[Any, str], Any]]
) -> dict[str, Any]:
    _keys(raw, path, set(parsers))
    prefix = f"{path}." if path else ""
    return {name: parsers[name](value, f"{prefix}{name}") for name, value in raw.items() if value is not None}


TUMOUR_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "diameter_cm": _positive(40.0),
    "source": _enum(FindingSource),
}

NODULE_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "type": _enum(NoduleType),
    "long_axis_mm": _positive(300.0),
    "short_axis_mm": _positive(300.0),
    "mean_diameter_mm": _positive(300.0),
    "volume_mm3": _positive(15_000_000.0),
    "solid_component_mm": _positive(300.0),
    "upper_lobe": _boolean,
    "spiculated": _boolean,
    "status": _enum(NoduleStatus),
    "prior_category": _enum(PriorCategory),
}


def _tumours(value: Any, path: str) -> tuple[Tumour, ...]:
    tumours = []
    for index, raw in enumerate(_list(value, path)):
        item_path = f"{path}[{index}]"
        fields = _fields(_object(raw, item_path), item_path, TUMOUR_FIELDS)
        if "diameter_cm" not in fields:
            raise _invalid(f"{item_path}.diameter_cm", "is required")
        tumours.append(Tumour(**fields))
    return tuple(tumours)


def _nodules(value: Any, path: str) -> tuple[Nodule, ...]:
    nodules = []
    for index, raw in enumerate(_list(value, path)):
        item_path = f"{path}[{index}]"
        fields = _fields(_object(raw, item_path), item_path, NODULE_FIELDS)
        if "type" not in fields:
            raise _invalid(f"{item_path}.type", "is required")
        long_axis, short_axis = fields.get("long_axis_mm"), fields.get("short_axis_mm")
        if long_axis is not None and short_axis is not None and short_axis > long_axis:
            raise ImplausibleFinding(
                f"{item_path}: short_axis_mm {short_axis:g} exceeds long_axis_mm {long_axis:g}",
                detail={"field": f"{item_path}.short_axis_mm", "value": short_axis},
            )
        if "solid_component_mm" in fields and fields["type"] != "part_solid":
            raise _invalid(f"{item_path}.solid_component_mm", "only applies to part_solid nodules")
        nodules.append(Nodule(**fields))
    return tuple(nodules)


FINDING_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "dialysis_twice_past_week": _boolean,
    "ascites": _enum(Ascites),
    "encephalopathy": _enum(Encephalopathy),
    "cholestatic_disease": _boolean,
    "ecog_ps": _integer(0, 4),
    "liver_tumours": _tumours,
    "macrovascular_invasion": _boolean,
    "extrahepatic_spread": _boolean,
    "clinically_significant_portal_hypertension": _boolean,
    "bilirubin_normal": _boolean,
    "liver_function": _enum(LiverFunction),
    "child_pugh_class": _enum(ChildPughClass),
    "transplant_candidate": _boolean,
    "bclc_b_pattern": _enum(BclcBPattern),
    "ast_upper_limit_normal_u_l": _positive(1000.0),
    "afp_l3_percent": lambda value, path: _bounded(value, path, 0.0, 100.0),
    "dcp_ng_ml": _positive(1_000_000.0),
    "lung_nodules": _nodules,
    "nodule_count": _integer(1, 1000),
    "lung_screening_exam": _enum(ScreeningExam),
    "nodule_context": _enum(NoduleContext),
    "nodule_patient_risk": _enum(NodulePatientRisk),
    "family_history_lung_cancer": _boolean,
    "emphysema": _boolean,
    "known_cancer_or_immunosuppressed": _boolean,
}

PATIENT_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "age_years": lambda value, path: _bounded(value, path, 0.0, MAX_AGE_YEARS),
    "sex": _enum(Sex),
}


def _date(value: Any, path: str) -> tuple[str, datetime]:
    if not isinstance(value, str):
        raise _invalid(path, "must be an ISO 8601 date or date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _invalid(path, "must be an ISO 8601 date or date-time string") from exc
    # Naive date-times are read as UTC so that they can be ordered against zoned ones.
    moment = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value, moment


def _observation(raw: Any, path: str) -> tuple[LabValue, datetime | None]:
    obs = _object(raw, path)
    _keys(obs, path, {"code", "value", "unit", "date", "comparator"})
    for required in ("code", "value", "unit"):
        if required not in obs:
            raise _invalid(f"{path}.{required}", "is required")
    code, unit = obs["code"], obs["unit"]
    if not isinstance(code, str):
        raise _invalid(f"{path}.code", "must be a LOINC code string")
    if not isinstance(unit, str):
        raise _invalid(f"{path}.unit", "must be a string (empty for unitless INR)")
    value = obs["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{path}.value", "must be a number")
    comparator = obs.get("comparator") or ""
    if comparator not in ("", "<", "<=", ">=", ">"):
        raise InvalidRequest(
            f"{path}.comparator: must be one of <, <=, >=, >",
            detail={"field": f"{path}.comparator", "allowed": ["<", "<=", ">=", ">"]},
        )
    date_text, moment = _date(obs["date"], f"{path}.date") if obs.get("date") is not None else (None, None)
    try:
        analyte = analyte_by_code(code)
        canonical = unit_to_canonical(code=code, value=value, unit=unit)
        value_check_plausible(code=code, canonical_value=canonical.value)
    except (UnknownAnalyte, UnknownUnit, ImplausibleValue, NotANumber) as exc:
        field = {UnknownAnalyte: "code", UnknownUnit: "unit"}.get(type(exc), "value")
        detail = {**(exc.detail or {}), "field": f"{path}.{field}"}
        raise type(exc)(f"{path}: {exc.message}", detail=detail) from exc
    lab = LabValue(
        key=analyte.key, code=code, value=canonical.value, unit=canonical.unit, date=date_text, comparator=comparator
    )
    return lab, moment


def _labs(value: Any) -> dict[str, LabValue]:
    by_key: dict[str, list[tuple[int, LabValue, datetime | None]]] = {}
    for index, raw in enumerate(_list(value, "observations")):
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


def _or(obj: dict[str, Any], key: str, empty: Any) -> Any:
    value = obj.get(key)
    return empty if value is None else value


def score_request_parse(body: Any, *, known_scores: Mapping[str, Any]) -> ScoreRequest:
    """Validate a request body and build the typed inputs (see the module docstring)."""
    obj = _object(body, "body")
    _keys(obj, "", {"patient", "observations", "findings", "scores", "modifiers"})
    # Absent or null sections mean "nothing stated"; present ones must have the right type.
    patient = _fields(_object(_or(obj, "patient", {}), "patient"), "patient", PATIENT_FIELDS)
    labs = _labs(_or(obj, "observations", []))
    findings = Findings(**_fields(_object(_or(obj, "findings", {}), "findings"), "findings", FINDING_FIELDS))
    score_ids: list[str] | None = None
    if obj.get("scores") is not None:
        score_ids = []
        for index, score_id in enumerate(_list(obj["scores"], "scores")):
            if not isinstance(score_id, str):
                raise _invalid(f"scores[{index}]", "must be a score id string")
            if score_id not in known_scores:
                raise UnknownScore(
                    f"Unknown score {score_id!r}.",
                    detail={"field": f"scores[{index}]", "score": score_id, "known": sorted(known_scores)},
                )
            if score_id not in score_ids:
                score_ids.append(score_id)
    modifiers = obj.get("modifiers")
    if modifiers is not None:
        modifiers = _object(modifiers, "modifiers")
    inputs = ScoreInputs(
        age_years=patient.get("age_years"), sex=patient.get("sex"), labs=labs, findings=findings
    )
    return ScoreRequest(inputs=inputs, score_ids=score_ids, modifiers=modifiers)
