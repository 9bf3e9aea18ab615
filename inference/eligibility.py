"""Whether a model may be applied to a patient: its card's intended population, checked as data.

Every learned risk model and every imaging model declares in its card (``card.json``) the
population it was developed on and the inputs it needs::

    "population": {
      "description": "Adults 19-77 years with chronic hepatitis C ...",
      "criteria": [
        {"field": "age_years", "min": 19, "max": 77, "code": "age_outside_population",
         "label": "age"},
        {"field": "hcv_status", "in": ["chronic"], "code": "hcv_not_positive",
         "label": "HCV status", "expects": "HCV RNA positive (chronic hepatitis C)"}
      ]
    },
    "inputs": {"required": ["Age"], "max_imputed_share": 0.25}

A model outside its population ABSTAINS: the pipeline records an ``Abstention`` (a stable code
and a sentence a clinician can read, which names no field or column: "This model was developed
on children aged 1-5 years ...; this patient is 54. No result is given.") instead of a result; it never runs the model silently. A
fact the record does not hold (no HCV status, no birth date) abstains too, with the code
``<field>_unknown``, unless the criterion says ``"unknown": "allow"`` (used for DICOM attributes
that many archives leave empty, such as BodyPartExamined). Pure Python: the web process, the
risk step and the GPU worker all read it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

IMPUTED_SHARE_EXCEEDED = "imputed_share_exceeded"
REQUIRED_INPUT_MISSING = "required_input_missing"
POPULATION_NOT_DECLARED = "population_not_declared"


class PopulationInvalid(ValueError):
    """A card's population or inputs block is malformed (reported by the registry checks)."""


@dataclass(frozen=True, slots=True)
class Abstention:
    """Why a model was not applied: ``code`` is stable, ``reason`` is for people."""

    code: str
    reason: str
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason, "field": self.field}


def age_years(birth_date: dt.date, on: dt.date) -> int:
    """Completed years on ``on`` (the age a clinician states)."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PopulationInvalid(f"{where} must be a number")
    return float(value)


def population_parse(raw: Any, *, where: str = "population") -> list[dict[str, Any]]:
    """Check a population block and return its criteria (raises ``PopulationInvalid``)."""
    if not isinstance(raw, Mapping):
        raise PopulationInvalid(f"{where} must be an object")
    if not isinstance(raw.get("description"), str) or not raw["description"].strip():
        raise PopulationInvalid(f"{where}.description must be a non-empty string")
    criteria = raw.get("criteria")
    if not isinstance(criteria, list):
        raise PopulationInvalid(f"{where}.criteria must be a list")
    for index, criterion in enumerate(criteria):
        path = f"{where}.criteria[{index}]"
        if not isinstance(criterion, Mapping) or not isinstance(criterion.get("field"), str):
            raise PopulationInvalid(f"{path} must be an object with a field name")
        ranged = "min" in criterion or "max" in criterion
        if ranged == ("in" in criterion):
            raise PopulationInvalid(f"{path} needs either min/max or in")
        for bound in ("min", "max"):
            if bound in criterion:
                _number(criterion[bound], f"{path}.{bound}")
        if "in" in criterion and (not isinstance(criterion["in"], list) or not criterion["in"]):
            raise PopulationInvalid(f"{path}.in must be a non-empty list")
        if criterion.get("unknown", "abstain") not in ("abstain", "allow"):
            raise PopulationInvalid(f"{path}.unknown must be abstain or allow")
    return list(criteria)


def inputs_parse(raw: Any, *, where: str = "inputs") -> dict[str, Any]:
    """Check an inputs block: ``required`` column names and ``max_imputed_share`` in [0, 1]."""
    if not isinstance(raw, Mapping):
        raise PopulationInvalid(f"{where} must be an object")
    required = raw.get("required", [])
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        raise PopulationInvalid(f"{where}.required must be a list of input names")
    share = raw.get("max_imputed_share")
    if share is not None and not 0.0 <= _number(share, f"{where}.max_imputed_share") <= 1.0:
        raise PopulationInvalid(f"{where}.max_imputed_share must lie in [0, 1]")
    return dict(raw)


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("_", " ")


NO_RESULT = "No result is given."
# Facts about the image rather than the patient (the imaging step reads them from DICOM).
IMAGE_FACTS = frozenset({"modality", "body_part", "view_position"})
# The cohort models' input columns (as their data sets name them) in a clinician's words.
INPUT_WORDS: dict[str, str] = {
    "age": "age", "sex": "sex", "gender": "sex", "alb": "albumin", "albumin": "albumin", "alp": "alkaline phosphatase",
    "alkphos": "alkaline phosphatase", "alt": "ALT", "sgpt": "ALT", "ast": "AST", "sgot": "AST", "bil": "bilirubin",
    "bilirubin": "bilirubin", "tb": "total bilirubin", "db": "direct bilirubin", "che": "cholinesterase",
    "chol": "cholesterol", "crea": "creatinine", "ggt": "GGT", "prot": "total protein", "tp": "total protein",
    "a/g": "albumin/globulin ratio", "prothrombin": "prothrombin time", "edema": "oedema",
}


def input_words(name: str) -> str:
    """A model input (a data-set column name) as a clinician names it."""
    return INPUT_WORDS.get(name.lower(), name.replace("_", " ").lower())


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _developed_on(description: str) -> str:
    return f"This model was developed on {description}" if description else "This model's intended population"


def _is_age(name: str) -> bool:
    return name.startswith("age")


def _value_phrase(name: str, label: str, value: Any, unit: str) -> str:
    """What the record says, as a sentence end: "this patient is 54", "this image is a LL view"."""
    if _is_age(name):
        years = _shown(float(value)) if isinstance(value, int | float) and not isinstance(value, bool) else _shown(value)
        return f"this patient is {years}"
    if isinstance(value, bool):
        return f"this patient {'has' if value else 'does not have'} {label}"
    subject = "image" if name in IMAGE_FACTS else "patient"
    return f"this {subject}'s {label} is {_shown(value)}{unit}"


def population_check(
    population: Mapping[str, Any] | None, facts: Mapping[str, Any], *, only: Collection[str] | None = None
) -> Abstention | None:
    """The first criterion the patient (``facts``) does not meet, as an ``Abstention``; else None.

    ``facts`` holds what the record says (``age_years``, ``sex``, ``hcv_status``, ``modality``,
    ``view_position``...); a missing key or ``None`` means the record does not say. ``only``
    restricts the check to some fields (the imaging step checks age before it fetches a series).
    """
    if not population:
        return Abstention(
            POPULATION_NOT_DECLARED,
            "This model's card does not state the population it was developed on, so whether it applies to "
            f"this patient cannot be checked. {NO_RESULT}",
        )
    description = str(population.get("description", "")).rstrip(".")
    developed = _developed_on(description)
    for criterion in population_parse(population):
        name = str(criterion["field"])
        if only is not None and name not in only:
            continue
        label = str(criterion.get("label", name.replace("_", " ")))
        value = facts.get(name)
        if value is None or value == "":
            if criterion.get("unknown", "abstain") == "allow":
                continue
            whose = "the image does not state its" if name in IMAGE_FACTS else "the record does not state this patient's"
            return Abstention(
                str(criterion.get("unknown_code", f"{name}_unknown")),
                f"{developed}; {whose} {label}. {NO_RESULT}",
                name,
            )
        if "in" in criterion:
            allowed = [str(v) for v in criterion["in"]]
            ok = str(value).upper() in {a.upper() for a in allowed}
            expects = str(criterion.get("expects", " or ".join(_shown(a) for a in allowed)))
        else:
            number = float(value)
            low = None if criterion.get("min") is None else float(criterion["min"])
            high = None if criterion.get("max") is None else float(criterion["max"])
            ok = (low is None or number >= low) and (high is None or number <= high)
            unit = f" {criterion['unit']}" if criterion.get("unit") else ""
            if criterion.get("expects"):
                expects = str(criterion["expects"])
            elif low is not None and high is not None:
                expects = f"{_shown(low)}-{_shown(high)}{unit}"
            elif low is not None:
                expects = f"at least {_shown(low)}{unit}"
            else:
                expects = f"at most {_shown(high)}{unit}"
        if not ok:
            unit = "" if _is_age(name) or "in" in criterion or not criterion.get("unit") else f" {criterion['unit']}"
            found = _value_phrase(name, label, value, unit)
            # The description already says what the criterion needs when it names it (an age range);
            # otherwise the need is said too ("it needs a frontal view (AP or PA)").
            needs = "" if _is_age(name) and description else f"it needs {expects}, and "
            return Abstention(
                str(criterion.get("code", f"{name}_outside_population")),
                f"{developed}; {needs}{found}. {NO_RESULT}",
                name,
            )
    return None


def inputs_check(
    inputs: Mapping[str, Any] | None, *, present: Sequence[str], imputed: Sequence[str], total: int
) -> Abstention | None:
    """Abstain when a required input is absent or more than the stated share would be imputed."""
    if not inputs:
        return None
    missing = [name for name in inputs.get("required", []) if name not in present]
    if missing:
        words = list(dict.fromkeys(input_words(name) for name in missing))
        return Abstention(
            REQUIRED_INPUT_MISSING,
            f"This model needs the patient's {_listed(words)}, which the record does not hold. {NO_RESULT}",
            missing[0],
        )
    limit = inputs.get("max_imputed_share")
    if limit is not None and total > 0 and len(imputed) / total > float(limit) + 1e-9:
        words = list(dict.fromkeys(input_words(name) for name in imputed))
        return Abstention(
            IMPUTED_SHARE_EXCEEDED,
            f"This model would have to estimate {len(imputed)} of its {total} inputs that the record does not hold "
            f"({_listed(words)}); its card allows at most {float(limit):.0%}. {NO_RESULT}",
        )
    return None


POPULATION_HEADING = "## Intended population"


def population_markdown(population: Mapping[str, Any] | None, inputs: Mapping[str, Any] | None = None) -> str:
    """The MODEL_CARD.md section that states, for people, what ``card.json`` states as data."""
    if not population:
        return ""
    lines = [POPULATION_HEADING, "", f"For {str(population.get('description', '')).rstrip('.')}."]
    if population.get("setting"):
        lines += ["", f"Setting: {population['setting']}"]
    lines += ["", "The analysis abstains (does not run the model, and says why) when the record shows:"]
    for criterion in population_parse(population):
        label = str(criterion.get("label", str(criterion["field"]).replace("_", " ")))
        if "in" in criterion:
            expects = str(criterion.get("expects", " or ".join(_shown(v) for v in criterion["in"])))
        else:
            low, high = criterion.get("min"), criterion.get("max")
            unit = f" {criterion['unit']}" if criterion.get("unit") else ""
            expects = str(criterion.get("expects", f"{_shown(float(low)) if low is not None else ''}"
                                                   f"-{_shown(float(high)) if high is not None else ''}{unit}"))
        unknown = " (not checked when the record does not say)" if criterion.get("unknown") == "allow" else \
            " (abstains when the record does not say)"
        lines.append(f"- {label} other than {expects}{unknown}: `{criterion.get('code', str(criterion['field']) + '_outside_population')}`")
    if inputs:
        if inputs.get("required"):
            lines.append(f"- a required input missing ({', '.join(inputs['required'])}): `{REQUIRED_INPUT_MISSING}`")
        if inputs.get("max_imputed_share") is not None:
            lines.append(f"- more than {float(inputs['max_imputed_share']):.0%} of its inputs to impute: `{IMPUTED_SHARE_EXCEEDED}`")
    return "\n".join(lines) + "\n"
