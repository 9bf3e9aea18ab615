"""Lung nodules: Lung-RADS v2022, Brock (PanCan model 2b) and Fleischner 2017."""

from __future__ import annotations

import math
from typing import Any

from .common import Collector, round_half_up
from .hcc import logistic
from .types import Nodule, ScoreInputs, ScoreResult

LUNG_RADS_CITATION = (
    "American College of Radiology, Lung-RADS v2022; Christensen J et al., Chest 2024;165:738-753"
)
LUNG_RADS_VERSION = "Lung-RADS v2022"
BROCK_CITATION = "McWilliams A et al., N Engl J Med 2013;369:910-919"
BROCK_VERSION = "PanCan/Brock model 2b (full model with spiculation)"
FLEISCHNER_CITATION = "MacMahon H et al., Radiology 2017;284:228-243"
FLEISCHNER_VERSION = "Fleischner Society 2017"

# Lung-RADS categories in rising order of suspicion.
LUNG_RADS_ORDER = ("1", "2", "3", "4A", "4B")
LUNG_RADS_MANAGEMENT = {
    "1": ("ldct_12_months", "Continue annual screening with LDCT in 12 months"),
    "2": ("ldct_12_months", "Continue annual screening with LDCT in 12 months"),
    "3": ("ldct_6_months", "LDCT in 6 months"),
    "4A": (
        "ldct_3_months",
        "LDCT in 3 months; PET/CT may be considered if there is a >= 8 mm solid nodule or solid component",
    ),
    "4B": (
        "diagnostic_ct_pet_ct_tissue_sampling",
        "Diagnostic chest CT with or without contrast; PET/CT may be considered if there is a >= 8 mm "
        "solid nodule or solid component; tissue sampling and/or referral for further clinical evaluation",
    ),
}
# Mean-diameter thresholds (mm) and their volume equivalents (mm3) in Lung-RADS v2022.
LR_VOLUME_FOR_MM = {4.0: 34.0, 6.0: 113.0, 8.0: 268.0, 15.0: 1767.0, 30.0: 14137.0}

# Brock / PanCan model 2b coefficients (McWilliams 2013, supplementary appendix).
BROCK_INTERCEPT = -6.7892
BROCK_AGE = 0.0287  # x (age - 62)
BROCK_FEMALE = 0.6011
BROCK_FAMILY_HISTORY = 0.2961
BROCK_EMPHYSEMA = 0.2953
BROCK_SIZE = -5.3854  # x ((size_mm / 10) ** -0.5 - 1.58113883)
BROCK_SIZE_CENTRE = 1.58113883
BROCK_TYPE = {"solid": 0.0, "part_solid": 0.377, "non_solid": -0.1276}
BROCK_UPPER_LOBE = 0.6581
BROCK_COUNT = -0.0824  # x (nodule_count - 4)
BROCK_SPICULATION = 0.7729

# Fleischner 2017 size bands on the mean diameter rounded to the nearest mm (< 6, 6-8, > 8),
# or on volume (< 100, 100-250, > 250 mm3) when no diameter is given.
FLEISCHNER_SOLID: dict[tuple[bool, str, str], str] = {
    (False, "small", "low"): "no_routine_followup",
    (False, "small", "high"): "optional_ct_12_months",
    (False, "medium", "low"): "ct_6_12_months_then_consider_ct_18_24_months",
    (False, "medium", "high"): "ct_6_12_months_then_ct_18_24_months",
    (False, "large", "low"): "consider_ct_3_months_pet_ct_or_tissue_sampling",
    (False, "large", "high"): "consider_ct_3_months_pet_ct_or_tissue_sampling",
    (True, "small", "low"): "no_routine_followup",
    (True, "small", "high"): "optional_ct_12_months",
    (True, "medium", "low"): "ct_3_6_months_then_consider_ct_18_24_months",
    (True, "medium", "high"): "ct_3_6_months_then_ct_18_24_months",
    (True, "large", "low"): "ct_3_6_months_then_consider_ct_18_24_months",
    (True, "large", "high"): "ct_3_6_months_then_ct_18_24_months",
}
FLEISCHNER_TEXT = {
    "no_routine_followup": "No routine follow-up",
    "optional_ct_12_months": "Optional CT at 12 months",
    "ct_6_12_months_then_consider_ct_18_24_months": "CT at 6-12 months, then consider CT at 18-24 months",
    "ct_6_12_months_then_ct_18_24_months": "CT at 6-12 months, then CT at 18-24 months",
    "consider_ct_3_months_pet_ct_or_tissue_sampling": "Consider CT at 3 months, PET/CT, or tissue sampling",
    "ct_3_6_months_then_consider_ct_18_24_months": "CT at 3-6 months, then consider CT at 18-24 months",
    "ct_3_6_months_then_ct_18_24_months": "CT at 3-6 months, then CT at 18-24 months",
    "ct_6_12_months_then_every_2_years_until_5_years": (
        "CT at 6-12 months to confirm persistence, then CT every 2 years until 5 years"
    ),
    "ct_3_6_months_then_annual_ct_5_years": (
        "CT at 3-6 months to confirm persistence; if unchanged and the solid component stays < 6 mm, "
        "annual CT for 5 years"
    ),
    "ct_3_6_months_then_consider_ct_2_and_4_years": "CT at 3-6 months; if stable, consider CT at 2 and 4 years",
    "ct_3_6_months_then_manage_by_most_suspicious": (
        "CT at 3-6 months; subsequent management based on the most suspicious nodule(s)"
    ),
    "not_applicable": "Fleischner 2017 does not apply (screening, known cancer, immunosuppression or age < 35)",
}
FLEISCHNER_MIN_AGE = 35.0


def lung_rads_rank(category: str) -> int:
    return LUNG_RADS_ORDER.index(category)


def _mean_diameter_1dp(nodule: Nodule) -> tuple[float | None, str | None]:
    """Lung-RADS size: mean of long and short axes to one decimal (or the stated mean)."""
    if nodule.mean_diameter_mm is not None:
        return round_half_up(nodule.mean_diameter_mm, 1), "mean_diameter_mm"
    if nodule.long_axis_mm is not None and nodule.short_axis_mm is not None:
        return round_half_up((nodule.long_axis_mm + nodule.short_axis_mm) / 2.0, 1), "long_short_axes"
    return None, None


class _Size:
    """A nodule's size, compared by mean diameter or, failing that, by the equivalent volume."""

    def __init__(self, diameter: float | None, volume: float | None) -> None:
        self.diameter = diameter
        self.volume = volume

    def below(self, mm: float) -> bool:
        if self.diameter is not None:
            return self.diameter < mm
        if self.volume is None:
            raise ValueError("a nodule size needs a diameter or a volume")
        return self.volume < LR_VOLUME_FOR_MM[mm]


def _lung_rads_solid(size: _Size, status: str) -> str:
    if status == "baseline":
        if size.below(6.0):
            return "2"
        if size.below(8.0):
            return "3"
        return "4A" if size.below(15.0) else "4B"
    if status == "new":
        if size.below(4.0):
            return "2"
        if size.below(6.0):
            return "3"
        return "4A" if size.below(8.0) else "4B"
    # growing
    return "4A" if size.below(8.0) else "4B"


def lung_rads_nodule(nodule: Nodule, *, exam: str) -> tuple[str | None, list[str], dict[str, Any]]:
    """(category or None, missing field names, per-nodule details) for one nodule.

    Baseline: solid 2 < 6 mm, 3 6-<8, 4A 8-<15, 4B >= 15; part-solid 2 total < 6 mm, else by
    solid component 3 < 6, 4A 6-<8, 4B >= 8; non-solid 2 < 30 mm, 3 >= 30.
    Follow-up (``status`` new, growing or stable): new solid 2 < 4, 3 4-<6, 4A 6-<8, 4B >= 8;
    growing solid 4A < 8, 4B >= 8; new part-solid 3 total < 6, else by solid component 4A < 4,
    4B >= 4; growing part-solid 4A solid component < 4, 4B >= 4; non-solid 3 when >= 30 mm and
    new, otherwise 2 (unchanged or slowly growing). Stable nodules follow v2022's stepped
    management from ``prior_category``: 3 -> 2, 4A -> 3, 4B stays 4B (2 stays 2); a stable
    nodule whose size alone is category 2 needs no prior category.
    Sizes: mean diameter to one decimal (long and short axes), volume thresholds when no
    diameter is given. Spiculation may justify 4X, a radiologist's call left to the report.
    """
    missing: list[str] = []
    diameter, basis = _mean_diameter_1dp(nodule)
    if diameter is None and nodule.volume_mm3 is not None:
        basis = "volume_mm3"
    info: dict[str, Any] = {"type": nodule.type, "mean_diameter_mm": diameter, "size_basis": basis}
    if basis is None:
        missing.append("mean_diameter_mm")
    status = "baseline" if exam == "baseline" else nodule.status
    if status is None:
        missing.append("status")
    if missing or status is None:
        return None, missing, info
    size = _Size(diameter, nodule.volume_mm3)
    info["status"] = status

    def solid_component() -> _Size | None:
        if nodule.solid_component_mm is None:
            missing.append("solid_component_mm")
            return None
        info["solid_component_mm"] = round_half_up(nodule.solid_component_mm, 1)
        return _Size(info["solid_component_mm"], None)

    category: str | None
    if nodule.type == "non_solid":
        large = not size.below(30.0)
        category = "3" if large and status in ("baseline", "new") else "2"
    elif nodule.type == "solid":
        category = "2" if status == "stable" and size.below(6.0) else None
        if status != "stable":
            category = _lung_rads_solid(size, status)
    else:
        category = None
        if status in ("baseline", "stable") and size.below(6.0):
            category = "2"
        elif status == "new" and size.below(6.0):
            category = "3"
        elif status != "stable":
            component = solid_component()
            if component is None:
                return None, missing, info
            if status == "baseline":
                category = "3" if component.below(6.0) else ("4A" if component.below(8.0) else "4B")
            else:
                category = "4A" if component.below(4.0) else "4B"
    if category is None:  # stable and above the category-2 size: stepped management
        prior = nodule.prior_category
        if prior is None:
            missing.append("prior_category")
            return None, missing, info
        category = {"2": "2", "3": "2", "4A": "3", "4B": "4B"}[prior]
        info["stepped_from"] = prior
    info["category"] = category
    return category, missing, info


def lung_rads(inputs: ScoreInputs) -> ScoreResult:
    """Lung-RADS v2022 per nodule and overall (the highest); see ``lung_rads_nodule``.

    Needs ``lung_screening_exam`` (baseline or follow_up) and ``lung_nodules`` (an empty list is
    category 1, negative). Not applicable when ``nodule_context`` is incidental (use
    Fleischner). Perifissural, juxtapleural, airway and cystic rules are not implemented.
    """
    c = Collector(inputs, score_id="lung_rads", citation=LUNG_RADS_CITATION, guideline_version=LUNG_RADS_VERSION)
    context = c.finding("nodule_context", required=False)
    if context == "incidental":
        return c.not_computable(
            reason="not computable: Lung-RADS applies to screening CT; nodule_context is incidental",
        )
    exam = c.finding("lung_screening_exam")
    nodules = c.finding("lung_nodules")
    if exam is None or nodules is None:
        return c.not_computable()
    per_nodule: list[dict[str, Any]] = []
    overall = "1"
    for index, nodule in enumerate(nodules):
        category, lacking, info = lung_rads_nodule(nodule, exam=exam)
        per_nodule.append({"index": index, **info})
        if info["size_basis"] == "volume_mm3":
            c.record(f"lung_nodules[{index}].volume_mm3", nodule.volume_mm3, unit="mm3")
        elif info["size_basis"] is not None:
            c.record(f"lung_nodules[{index}].mean_diameter_mm", info["mean_diameter_mm"], unit="mm")
        for name in lacking:
            c.lacks(f"lung_nodules[{index}].{name}")
        if category is not None and lung_rads_rank(category) > lung_rads_rank(overall):
            overall = category
    if c.missing:
        return c.not_computable(details={"nodules": per_nodule})
    code, text = LUNG_RADS_MANAGEMENT[overall]
    details: dict[str, Any] = {
        "nodules": per_nodule,
        "exam": exam,
        "management": code,
        "management_text": text,
    }
    if any(n.spiculated for n in nodules) and overall in ("3", "4A", "4B"):
        details["note"] = "spiculation present: the radiologist may upgrade category 3 or 4 to 4X"
    return c.result(value=overall, category=overall, details=details)


def brock_logit(
    *,
    age: float,
    female: bool,
    family_history: bool,
    emphysema: bool,
    size_mm: float,
    nodule_type: str,
    upper_lobe: bool,
    nodule_count: int,
    spiculated: bool,
) -> float:
    # (size/10) ** -0.5 written as 1/sqrt so that numpy and Python agree to the last bit.
    size_term = 1.0 / math.sqrt(size_mm / 10.0) - BROCK_SIZE_CENTRE
    return (
        BROCK_INTERCEPT
        + BROCK_AGE * (age - 62.0)
        + (BROCK_FEMALE if female else 0.0)
        + (BROCK_FAMILY_HISTORY if family_history else 0.0)
        + (BROCK_EMPHYSEMA if emphysema else 0.0)
        + BROCK_SIZE * size_term
        + BROCK_TYPE[nodule_type]
        + (BROCK_UPPER_LOBE if upper_lobe else 0.0)
        + BROCK_COUNT * (nodule_count - 4)
        + (BROCK_SPICULATION if spiculated else 0.0)
    )


def brock(inputs: ScoreInputs) -> ScoreResult:
    """Brock/PanCan model 2b malignancy probability per nodule; the value is the highest.

    logit = -6.7892 + 0.0287 (age - 62) + 0.6011 female + 0.2961 family history
    + 0.2953 emphysema - 5.3854 ((size/10)^-0.5 - 1.58113883) + type (part-solid 0.377,
    non-solid -0.1276) + 0.6581 upper lobe - 0.0824 (nodule count - 4) + 0.7729 spiculation.
    Size is the nodule's longest diameter (``long_axis_mm``), as measured in PanCan. The nodule
    count is ``findings.nodule_count`` when stated (all nodules on the scan), else the number
    of nodules listed; ``details.nodule_count_source`` says which. Probabilities are rounded to
    four decimals; ``details.nodules[].unrounded`` keeps them exact.
    """
    c = Collector(inputs, score_id="brock", citation=BROCK_CITATION, guideline_version=BROCK_VERSION)
    age = c.age()
    sex = c.sex()
    family = c.finding("family_history_lung_cancer")
    emphysema = c.finding("emphysema")
    nodules = c.finding("lung_nodules")
    if nodules is not None and len(nodules) == 0:
        return c.not_computable(reason="not computable: lung_nodules is empty")
    stated_count = c.finding("nodule_count", required=False)
    measured: list[tuple[float, bool, bool, str]] = []
    for index, nodule in enumerate(nodules or ()):
        size, upper, spiculated = nodule.long_axis_mm, nodule.upper_lobe, nodule.spiculated
        for name, value in (("long_axis_mm", size), ("upper_lobe", upper), ("spiculated", spiculated)):
            if value is None:
                c.lacks(f"lung_nodules[{index}].{name}")
        if size is not None and upper is not None and spiculated is not None:
            measured.append((size, upper, spiculated, nodule.type))
    if c.missing or age is None or sex is None or family is None or emphysema is None or nodules is None:
        return c.not_computable()
    count = stated_count if stated_count is not None else len(nodules)
    per_nodule: list[dict[str, Any]] = []
    for index, (size, upper, spiculated, nodule_type) in enumerate(measured):
        c.record(f"lung_nodules[{index}].long_axis_mm", size, unit="mm")
        logit = brock_logit(
            age=age,
            female=sex == "female",
            family_history=family,
            emphysema=emphysema,
            size_mm=size,
            nodule_type=nodule_type,
            upper_lobe=upper,
            nodule_count=count,
            spiculated=spiculated,
        )
        probability = logistic(logit)
        per_nodule.append(
            {
                "index": index,
                "probability": round_half_up(probability, 4),
                "unrounded": probability,
                "size_mm": size,
                "type": nodule_type,
            }
        )
    value = max(n["probability"] for n in per_nodule)
    details = {
        "nodules": per_nodule,
        "nodule_count": count,
        "nodule_count_source": "findings.nodule_count" if stated_count is not None else "lung_nodules",
    }
    return c.result(value=value, category=None, details=details)


def fleischner_band(nodule: Nodule) -> tuple[str | None, float | None, str | None]:
    """(small | medium | large, size used, basis): mean diameter rounded to the nearest mm."""
    if nodule.mean_diameter_mm is not None:
        size, basis = round_half_up(nodule.mean_diameter_mm), "mean_diameter_mm"
    elif nodule.long_axis_mm is not None and nodule.short_axis_mm is not None:
        size, basis = round_half_up((nodule.long_axis_mm + nodule.short_axis_mm) / 2.0), "long_short_axes"
    elif nodule.volume_mm3 is not None:
        volume = nodule.volume_mm3
        band = "small" if volume < 100.0 else ("medium" if volume <= 250.0 else "large")
        return band, volume, "volume_mm3"
    else:
        return None, None, None
    band = "small" if size < 6.0 else ("medium" if size <= 8.0 else "large")
    return band, size, basis


BAND_RANK = {"small": 0, "medium": 1, "large": 2}


def fleischner(inputs: ScoreInputs) -> ScoreResult:
    """Fleischner 2017 recommendation for incidental nodules (category = recommendation id).

    ``not_applicable`` when ``nodule_context`` is screening, ``known_cancer_or_immunosuppressed``
    is true, or age < 35. ``nodule_context`` must be stated; ``known_cancer_or_immunosuppressed``
    not stated is read as "no" (``details.exclusions_stated`` says so).
    Size: mean of long and short axes rounded to the nearest mm (< 6, 6-8, > 8 mm), or volume
    (< 100, 100-250, > 250 mm3) when no diameter is given. Multiple = more than one nodule
    listed or ``nodule_count`` > 1. Any solid nodule -> the solid table on the largest solid
    nodule (needs ``nodule_patient_risk``); only subsolid nodules -> the subsolid table: single
    ground-glass >= 6 mm -> CT at 6-12 months then every 2 years to 5 years; single part-solid
    >= 6 mm -> CT at 3-6 months then annual CT for 5 years; multiple subsolid all < 6 mm -> CT at
    3-6 months then consider CT at 2 and 4 years; multiple with one >= 6 mm -> CT at 3-6 months,
    then by the most suspicious nodule; < 6 mm single -> no routine follow-up.
    """
    c = Collector(inputs, score_id="fleischner", citation=FLEISCHNER_CITATION, guideline_version=FLEISCHNER_VERSION)
    age = c.age()
    context = c.finding("nodule_context")
    excluded = c.finding("known_cancer_or_immunosuppressed", required=False)
    nodules = c.finding("lung_nodules")

    def applicable_result(category: str, details: dict[str, Any]) -> ScoreResult:
        details = {
            **details,
            "management_text": FLEISCHNER_TEXT[category],
            "exclusions_stated": excluded is not None,
        }
        return c.result(value=category, category=category, details=details)

    if context == "screening" or excluded is True or (age is not None and age < FLEISCHNER_MIN_AGE):
        reason = (
            "screening CT (use Lung-RADS)"
            if context == "screening"
            else "known cancer or immunosuppression"
            if excluded
            else "age under 35"
        )
        return applicable_result("not_applicable", {"reason_not_applicable": reason})
    if nodules is not None and len(nodules) == 0:
        return c.not_computable(reason="not computable: lung_nodules is empty")
    bands: list[tuple[str, float, str, Nodule]] = []
    for index, nodule in enumerate(nodules or ()):
        band, size, basis = fleischner_band(nodule)
        if band is None or size is None or basis is None:
            c.lacks(f"lung_nodules[{index}].mean_diameter_mm")
        else:
            bands.append((band, size, basis, nodule))
            c.record(f"lung_nodules[{index}].{basis}", size, unit="mm3" if basis == "volume_mm3" else "mm")
    solid = [b for b in bands if b[3].type == "solid"]
    risk: str | None = c.finding("nodule_patient_risk") if solid else None
    if c.missing or age is None or context is None or nodules is None:
        return c.not_computable()
    count = max(len(nodules), c.finding("nodule_count", required=False) or 0)
    multiple = count > 1
    if solid and risk is not None:  # risk is always stated here: its absence returned above
        band, size, basis, _ = max(solid, key=lambda b: (BAND_RANK[b[0]], b[1]))
        category = FLEISCHNER_SOLID[(multiple, band, risk)]
        table = "solid"
    else:
        band, size, basis, dominant = max(bands, key=lambda b: (BAND_RANK[b[0]], b[1]))
        table = "subsolid"
        if multiple:
            category = (
                "ct_3_6_months_then_consider_ct_2_and_4_years"
                if band == "small"
                else "ct_3_6_months_then_manage_by_most_suspicious"
            )
        elif band == "small":
            category = "no_routine_followup"
        elif dominant.type == "non_solid":
            category = "ct_6_12_months_then_every_2_years_until_5_years"
        else:
            category = "ct_3_6_months_then_annual_ct_5_years"
    details = {
        "table": table,
        "size_band": band,
        "size": size,
        "size_basis": basis,
        "multiple": multiple,
        "nodule_patient_risk": risk,
    }
    return applicable_result(category, details)
