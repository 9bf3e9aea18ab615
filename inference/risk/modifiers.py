"""Genetic and lifestyle risk modifiers, shown next to the validated scores, never folded in.

Each modifier is a documented effect size from the literature (``data/modifiers.json``): the
factor, whether this patient has it (``present``: true, false, or null when not stated), the
measure (relative risk, odds ratio or hazard ratio) with its 95% CI where we quote one, the
outcome it refers to, and the citation. ``approximate: true`` marks figures quoted
approximately from the meta-analysis or cohort cited (rounded, or derived from a reported
percentage); verify against the source before quoting them in a clinical document. None of
these numbers alters any score.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

from patients.validation import Parser, boolean, choice, fields_parse, number

Pnpla3 = Literal["CC", "CG", "GG"]
Tm6sf2 = Literal["CC", "CT", "TT"]
Hsd17b13 = Literal["T/T", "T/TA", "TA/TA"]
HfeC282y = Literal["none", "heterozygous", "homozygous"]
Smoking = Literal["never", "former", "current"]

# The effects with their citations and the rule for "present": a data table, like the analyte
# catalogue. The alcohol threshold is Bagnardi 2015's "heavy drinking" band, the one with a
# liver-cancer estimate.
EFFECTS_PATH = Path(__file__).resolve().parent / "data" / "modifiers.json"


@dataclass(frozen=True, slots=True)
class ModifierInputs:
    pnpla3_rs738409: Pnpla3 | None = None
    tm6sf2_rs58542926: Tm6sf2 | None = None
    hsd17b13_rs72613567: Hsd17b13 | None = None
    hfe_c282y: HfeC282y | None = None
    alcohol_g_per_day: float | None = None
    smoking: Smoking | None = None
    diabetes: bool | None = None
    bmi_kg_m2: float | None = None
    hbv: bool | None = None
    hcv: bool | None = None


@dataclass(frozen=True, slots=True)
class Effect:
    factor: str
    # The ``ModifierInputs`` field that says whether the patient has the factor, and when:
    # its value is one of ``equals``, or above ``above`` (``inclusive``: at it too).
    input: str
    equals: tuple[Any, ...] | None
    above: float | None
    inclusive: bool
    measure: Literal["relative_risk", "odds_ratio", "hazard_ratio"]
    estimate: float
    ci_95: tuple[float, float] | None
    approximate: bool
    comparison: str
    outcome: str
    citation: str

    def present(self, inputs: ModifierInputs) -> bool | None:
        """Whether this patient has the factor; None when the input is not stated."""
        value = getattr(inputs, self.input)
        if value is None:
            return None
        if self.above is not None:
            return value >= self.above if self.inclusive else value > self.above
        return value in (self.equals or ())

    def entry(self, inputs: ModifierInputs) -> dict[str, Any]:
        return {
            "factor": self.factor,
            "present": self.present(inputs),
            "measure": self.measure,
            "estimate": self.estimate,
            "ci_95": list(self.ci_95) if self.ci_95 else None,
            "approximate": self.approximate,
            "comparison": self.comparison,
            "outcome": self.outcome,
            "citation": self.citation,
        }


def _effect_read(raw: dict[str, Any]) -> Effect:
    when = raw["present_when"]
    if raw["input"] not in ModifierInputs.__dataclass_fields__ or ("equals" in when) == ("above" in when):
        raise ValueError(f"modifier table: {raw['factor']!r} needs a known input and one of equals/above")
    ci = raw.get("ci_95")
    return Effect(
        factor=str(raw["factor"]),
        input=str(raw["input"]),
        equals=tuple(when["equals"]) if "equals" in when else None,
        above=float(when["above"]) if "above" in when else None,
        inclusive=bool(when.get("inclusive", False)),
        measure=raw["measure"],
        estimate=float(raw["estimate"]),
        ci_95=(float(ci[0]), float(ci[1])) if ci else None,
        approximate=bool(raw["approximate"]),
        comparison=str(raw["comparison"]),
        outcome=str(raw["outcome"]),
        citation=str(raw["citation"]),
    )


@cache
def effects() -> tuple[Effect, ...]:
    """The documented effects, in the order they are shown, read once per process."""
    data = json.loads(EFFECTS_PATH.read_text(encoding="utf-8"))
    return tuple(_effect_read(raw) for raw in data["effects"])


def modifiers_evaluate(*, inputs: ModifierInputs) -> list[dict[str, Any]]:
    """Every modifier with this patient's status; effects are documentation, not adjustments."""
    return [effect.entry(inputs) for effect in effects()]


MODIFIER_FIELDS: dict[str, Parser] = {
    "pnpla3_rs738409": choice(get_args(Pnpla3)),
    "tm6sf2_rs58542926": choice(get_args(Tm6sf2)),
    "hsd17b13_rs72613567": choice(get_args(Hsd17b13)),
    "hfe_c282y": choice(get_args(HfeC282y)),
    "alcohol_g_per_day": number(0.0, 1000.0),
    "smoking": choice(get_args(Smoking)),
    "diabetes": boolean,
    "bmi_kg_m2": number(8.0, 150.0),
    "hbv": boolean,
    "hcv": boolean,
}


def modifier_inputs_parse(raw: Any, *, path: str = "modifiers") -> ModifierInputs:
    """Validate the request's ``modifiers`` object (unknown keys and values are rejected)."""
    fields = fields_parse(raw, parsers=MODIFIER_FIELDS, path=path)
    return ModifierInputs(**{name: value for name, value in fields.items() if value is not None})
