"""MELD, MELD-Na and MELD 3.0 under the OPTN policy 9.1.D conventions (docs/CLINICAL.md).

Conventions applied (the same in ``batch.py``):

* labs are converted from canonical to the policy's units at this edge: bilirubin and
  creatinine mg/dL, albumin g/dL, sodium mmol/L;
* bilirubin, INR and creatinine below 1.0 are set to 1.0;
* creatinine is capped at 4.0 mg/dL (MELD, MELD-Na) or 3.0 mg/dL (MELD 3.0); two or more
  dialyses (or 24 h of CVVHD) in the past week set creatinine to that cap, and creatinine is then
  not needed. ``dialysis_twice_past_week`` not stated is read as "no dialysis", like the OPTN
  calculator, and the result says so in ``details.dialysis``;
* sodium is clamped to 125-137 mmol/L; MELD 3.0 albumin to 1.5-3.5 g/dL;
* MELD(i) = 0.957 ln(Cr) + 0.378 ln(bilirubin) + 1.120 ln(INR) + 0.643, rounded to the tenth
  and multiplied by 10 (an integer). MELD-Na adds 1.32 (137 - Na) - 0.033 MELD(i) (137 - Na)
  only when that MELD(i) > 11, then rounds to the nearest integer;
* MELD 3.0 (Kim 2021, OPTN 2023): 1.33 (female, age >= 18; every candidate aged 12-17 gets
  the 1.33) + 4.56 ln(bili) + 0.82 (137 - Na) - 0.24 (137 - Na) ln(bili) + 9.09 ln(INR)
  + 11.14 ln(Cr) + 1.85 (3.5 - alb) - 1.83 (3.5 - alb) ln(Cr) + 6, rounded to an integer;
* rounding is half away from zero; results are bounded to 6-40;
* the scores are defined for candidates aged 12 or over (PELD below): a stated age under 12
  makes them not computable.
"""

from __future__ import annotations

import math
from typing import Any

from .common import Collector, clamp, round_half_up
from .types import ScoreInputs, ScoreResult

MELD_CITATION = "Kamath PS et al., Hepatology 2001;33:464-470; OPTN Policy 9.1.D"
MELD_VERSION = "MELD (UNOS/OPTN), OPTN policy 9.1.D conventions"
MELD_NA_CITATION = "Kim WR et al., N Engl J Med 2008;359:1018-1026; OPTN Policy 9.1.D (MELD-Na, 2016)"
MELD_NA_VERSION = "MELD-Na (OPTN, January 2016), policy 9.1.D conventions"
MELD_3_CITATION = "Kim WR et al., Gastroenterology 2021;161:1887-1895; OPTN Policy 9.1.D (MELD 3.0, 2023)"
MELD_3_VERSION = "MELD 3.0 (OPTN, July 2023), policy 9.1.D conventions"

LAB_FLOOR = 1.0
CREATININE_CAP = 4.0
CREATININE_CAP_MELD_3 = 3.0
SODIUM_LOW, SODIUM_HIGH = 125.0, 137.0
ALBUMIN_LOW, ALBUMIN_HIGH = 1.5, 3.5
RESULT_LOW, RESULT_HIGH = 6, 40
SODIUM_TERM_ABOVE = 11
MINIMUM_AGE = 12.0
ADULT_AGE = 18.0


def _paediatric(c: Collector) -> bool:
    age = c.inputs.age_years
    return age is not None and age < MINIMUM_AGE


def _dialysis(c: Collector) -> tuple[bool, str]:
    stated = c.finding("dialysis_twice_past_week", required=False)
    if stated is None:
        return False, "not_stated (read as no dialysis, as the OPTN calculator does)"
    return bool(stated), "yes" if stated else "no"


def _floored(name: str, value: float, clamped: list[str]) -> float:
    if value < LAB_FLOOR:
        clamped.append(f"{name} {value:g} set to {LAB_FLOOR:g}")
        return LAB_FLOOR
    return value


def _bounded(name: str, value: float, low: float, high: float, clamped: list[str]) -> float:
    """The value held to [low, high], noting in ``clamped`` when it was moved."""
    used = clamp(value, low, high)
    if used != value:
        clamped.append(f"{name} {value:g} clamped to {used:g}")
    return used


def _creatinine(c: Collector, *, cap: float, clamped: list[str]) -> tuple[float | None, str]:
    dialysis, dialysis_note = _dialysis(c)
    if dialysis:
        clamped.append(f"creatinine set to {cap:g} (dialysis twice in the past week)")
        return cap, dialysis_note
    value = c.lab("creatinine", "mg/dL")
    if value is None:
        return None, dialysis_note
    value = _floored("creatinine", value, clamped)
    if value > cap:
        clamped.append(f"creatinine {value:g} capped at {cap:g}")
        value = cap
    return value, dialysis_note


def meld_i(bilirubin: float, inr: float, creatinine: float) -> tuple[int, float]:
    """MELD(i) as policy rounds it, and the unrounded 10x value."""
    raw = 0.957 * math.log(creatinine) + 0.378 * math.log(bilirubin) + 1.120 * math.log(inr) + 0.643
    # "Round to the tenth decimal place and multiply by 10": raw >= 0.643, so this is
    # floor(10 raw + 0.5), an integer.
    return math.floor(raw * 10.0 + 0.5), raw * 10.0


def _paediatric_result(c: Collector) -> ScoreResult:
    return c.not_computable(
        reason="not computable: MELD scores apply to candidates aged 12 or over (PELD below 12)",
    )


def _meld_core(c: Collector) -> tuple[int, float, dict[str, Any]] | None:
    clamped: list[str] = []
    bilirubin = c.lab("bilirubin_total", "mg/dL")
    inr = c.lab("inr", "{INR}")
    creatinine, dialysis_note = _creatinine(c, cap=CREATININE_CAP, clamped=clamped)
    if bilirubin is None or inr is None or creatinine is None:
        return None
    bilirubin = _floored("bilirubin_total", bilirubin, clamped)
    inr = _floored("inr", inr, clamped)
    value_i, unrounded = meld_i(bilirubin, inr, creatinine)
    details = {
        "bilirubin_mg_dl_used": bilirubin,
        "inr_used": inr,
        "creatinine_mg_dl_used": creatinine,
        "dialysis": dialysis_note,
        "clamped": clamped,
    }
    return value_i, unrounded, details


def meld(inputs: ScoreInputs) -> ScoreResult:
    """Original MELD (OPTN): see the module docstring for the conventions."""
    c = Collector(inputs, score_id="meld", citation=MELD_CITATION, guideline_version=MELD_VERSION)
    if _paediatric(c):
        return _paediatric_result(c)
    core = _meld_core(c)
    if core is None:
        return c.not_computable()
    value_i, unrounded, details = core
    value = int(clamp(value_i, RESULT_LOW, RESULT_HIGH))
    details |= {"unrounded": unrounded, "meld_i": value_i, "bounded_to": [RESULT_LOW, RESULT_HIGH]}
    return c.result(value=value, category=None, details=details)


def meld_na_from_meld_i(value_i: int, sodium: float) -> tuple[int, float, bool]:
    """(MELD-Na, unrounded, sodium term applied) from the policy-rounded MELD(i)."""
    if value_i <= SODIUM_TERM_ABOVE:
        return int(clamp(value_i, RESULT_LOW, RESULT_HIGH)), float(value_i), False
    raw = value_i + 1.32 * (137.0 - sodium) - 0.033 * value_i * (137.0 - sodium)
    return int(clamp(round_half_up(raw), RESULT_LOW, RESULT_HIGH)), raw, True


def meld_na(inputs: ScoreInputs) -> ScoreResult:
    """MELD-Na (OPTN 2016): the sodium term only when MELD(i) > 11; see the module docstring."""
    c = Collector(inputs, score_id="meld_na", citation=MELD_NA_CITATION, guideline_version=MELD_NA_VERSION)
    if _paediatric(c):
        return _paediatric_result(c)
    core = _meld_core(c)
    sodium = c.lab("sodium", "mmol/L")
    if core is None or sodium is None:
        return c.not_computable()
    value_i, unrounded_i, details = core
    sodium_used = _bounded("sodium", sodium, SODIUM_LOW, SODIUM_HIGH, details["clamped"])
    value, unrounded, applied = meld_na_from_meld_i(value_i, sodium_used)
    details |= {
        "unrounded": unrounded,
        "meld_i": value_i,
        "meld_i_unrounded": unrounded_i,
        "sodium_used": sodium_used,
        "sodium_term_applied": applied,
        "bounded_to": [RESULT_LOW, RESULT_HIGH],
    }
    return c.result(value=value, category=None, details=details)


def meld_3_raw(
    *, female_term: float, bilirubin: float, sodium: float, inr: float, creatinine: float, albumin: float
) -> float:
    ln_bili = math.log(bilirubin)
    ln_cr = math.log(creatinine)
    return (
        female_term
        + 4.56 * ln_bili
        + 0.82 * (137.0 - sodium)
        - 0.24 * (137.0 - sodium) * ln_bili
        + 9.09 * math.log(inr)
        + 11.14 * ln_cr
        + 1.85 * (3.5 - albumin)
        - 1.83 * (3.5 - albumin) * ln_cr
        + 6.0
    )


def meld_3(inputs: ScoreInputs) -> ScoreResult:
    """MELD 3.0 (Kim 2021; OPTN 2023): see the module docstring for the conventions."""
    c = Collector(inputs, score_id="meld_3", citation=MELD_3_CITATION, guideline_version=MELD_3_VERSION)
    if _paediatric(c):
        return _paediatric_result(c)
    clamped: list[str] = []
    age = c.age()
    # Sex only matters for adults: OPTN gives every 12-17-year-old the 1.33.
    sex = c.sex() if age is None or age >= ADULT_AGE else inputs.sex
    bilirubin = c.lab("bilirubin_total", "mg/dL")
    sodium = c.lab("sodium", "mmol/L")
    inr = c.lab("inr", "{INR}")
    creatinine, dialysis_note = _creatinine(c, cap=CREATININE_CAP_MELD_3, clamped=clamped)
    albumin = c.lab("albumin", "g/dL")
    if (
        c.missing
        or age is None
        or bilirubin is None
        or sodium is None
        or inr is None
        or creatinine is None
        or albumin is None
    ):
        return c.not_computable()
    bilirubin = _floored("bilirubin_total", bilirubin, clamped)
    inr = _floored("inr", inr, clamped)
    sodium_used = _bounded("sodium", sodium, SODIUM_LOW, SODIUM_HIGH, clamped)
    albumin_used = _bounded("albumin", albumin, ALBUMIN_LOW, ALBUMIN_HIGH, clamped)
    female_term = 1.33 if (age < ADULT_AGE or sex == "female") else 0.0
    raw = meld_3_raw(
        female_term=female_term,
        bilirubin=bilirubin,
        sodium=sodium_used,
        inr=inr,
        creatinine=creatinine,
        albumin=albumin_used,
    )
    value = int(clamp(round_half_up(raw), RESULT_LOW, RESULT_HIGH))
    details = {
        "unrounded": raw,
        "female_term": female_term,
        "bilirubin_mg_dl_used": bilirubin,
        "inr_used": inr,
        "creatinine_mg_dl_used": creatinine,
        "sodium_used": sodium_used,
        "albumin_g_dl_used": albumin_used,
        "dialysis": dialysis_note,
        "clamped": clamped,
        "bounded_to": [RESULT_LOW, RESULT_HIGH],
    }
    return c.result(value=value, category=None, details=details)
