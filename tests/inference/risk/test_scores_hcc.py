"""aMAP, GALAD and BCLC 2022: worked examples, cut-offs, stages and their treatments."""

from __future__ import annotations

from typing import Any

import pytest

from inference.risk.scores.hcc import amap, amap_category, bclc, galad
from inference.risk.scores.types import Tumour
from tests.inference.score_builders import patient

AMAP_LABS = {"bilirubin_total": (17.1, "umol/L"), "albumin": (40.0, "g/L"), "platelets": (200.0, "10*9/L")}


def test_amap_worked_example() -> None:
    # ALBI = 0.66 log10(17.1) - 0.085 x 40 = -2.58622
    # 0.06 x 50 + 0.89 x 1 + 0.48 x (-2.58622) - 0.01 x 200 = 3.0 + 0.89 - 1.24139 - 2.0 = 0.64861
    # (0.64861 + 7.4) / 14.77 x 100 = 54.49 -> medium
    result = amap(patient(age=50, sex="male", labs=AMAP_LABS))
    assert (result.value, result.category) == (54.49, "medium")
    # A woman loses the 0.89: (0.64861 - 0.89 + 7.4) / 14.77 x 100 = 48.47 -> low
    assert (amap(patient(age=50, sex="female", labs=AMAP_LABS)).category) == "low"


@pytest.mark.parametrize(
    ("value", "category"),
    [(49.99, "low"), (50.0, "medium"), (55.0, "medium"), (60.0, "medium"), (60.01, "high")],
)
def test_amap_category_boundaries(value: float, category: str) -> None:
    assert amap_category(value) == category


def test_amap_high_and_bounded() -> None:
    # Age 75 man, bilirubin 50 umol/L, albumin 30 g/L, platelets 80: clearly high.
    labs = {"bilirubin_total": (50.0, "umol/L"), "albumin": (30.0, "g/L"), "platelets": (80.0, "10*9/L")}
    assert amap(patient(age=75, sex="male", labs=labs)).category == "high"
    # Age 18 woman, bilirubin 3, albumin 55, platelets 1000: linear part -11.0, below the scale -> 0
    labs = {"bilirubin_total": (3.0, "umol/L"), "albumin": (55.0, "g/L"), "platelets": (1000.0, "10*9/L")}
    result = amap(patient(age=18, sex="female", labs=labs))
    assert result.value == 0.0 and result.details["unrounded"] < 0


def test_amap_not_computable() -> None:
    assert amap(patient(age=50, labs=AMAP_LABS)).missing == ["sex"]


def galad_patient(age: float, sex: str, afp: float, l3: float | None, dcp: float | None):
    return galad(patient(age=age, sex=sex, labs={"afp": (afp, "ng/mL")}, afp_l3_percent=l3, dcp_ng_ml=dcp))


def test_galad_worked_example() -> None:
    # Z = -10.08 + 0.09 x 60 + 1.67 + 2.34 log10(20) + 0.04 x 10 + 1.33 log10(5)
    #   = -10.08 + 5.4 + 1.67 + 3.04441 + 0.4 + 0.92963 = 1.36404 -> 1.36, positive
    result = galad_patient(60, "male", 20.0, 10.0, 5.0)
    assert (result.value, result.category) == (1.36, "positive")
    # probability = 1 / (1 + exp(-1.36404)) = 0.7964
    assert result.details["probability"] == pytest.approx(0.7964, abs=1e-4)
    assert result.details["dcp_unit"] == "ng/mL"


def test_galad_afp_in_kilo_units() -> None:
    # 20 ng/mL = 20 / 1.21 kU/L
    assert galad(
        patient(age=60, sex="male", labs={"afp": (20 / 1.21, "kU/L")}, afp_l3_percent=10.0, dcp_ng_ml=5.0)
    ).value == pytest.approx(1.36)


@pytest.mark.parametrize(
    ("dcp", "value", "category"),
    [
        # Woman, 50, AFP 10 ng/mL, AFP-L3 0 %: Z = -10.08 + 4.5 + 2.34 + 1.33 log10(DCP) = -3.24 + 1.33 log10(DCP)
        (91.73, -0.63, "positive"),  # -3.24 + 1.33 x 1.96251 = -0.62986 -> -0.63
        (90.0, -0.64, "negative"),  # -3.24 + 1.33 x 1.95424 = -0.64086 -> -0.64
    ],
)
def test_galad_cutoff(dcp: float, value: float, category: str) -> None:
    result = galad_patient(50, "female", 10.0, 0.0, dcp)
    assert (result.value, result.category) == (value, category)


def test_galad_not_computable() -> None:
    result = galad_patient(60, "male", 20.0, None, None)
    assert not result.computable and result.missing == ["afp_l3_percent", "dcp_ng_ml"]


STAGE_DEFAULTS: dict[str, Any] = {
    "ecog_ps": 0,
    "macrovascular_invasion": False,
    "extrahepatic_spread": False,
    "liver_function": "preserved",
}


def stage(tumours: list[float], **findings: Any):
    return bclc(patient(liver_tumours=tumours, **{**STAGE_DEFAULTS, **findings}))


SYSTEMIC = [
    "systemic_therapy",
    "atezolizumab_bevacizumab",
    "durvalumab_tremelimumab",
    "sorafenib",
    "lenvatinib",
    "durvalumab",
]


@pytest.mark.parametrize(
    ("tumours", "findings", "expected_stage", "treatments"),
    [
        # Very early: single <= 2 cm; normal portal pressure and bilirubin -> resection.
        (
            [1.8],
            {"clinically_significant_portal_hypertension": False, "bilirubin_normal": True},
            "0",
            ["resection"],
        ),
        (
            [2.0],
            {"clinically_significant_portal_hypertension": False, "bilirubin_normal": True},
            "0",
            ["resection"],
        ),
        # Single > 2 cm is A whatever its size.
        (
            [2.1],
            {"clinically_significant_portal_hypertension": False, "bilirubin_normal": True},
            "A",
            ["resection"],
        ),
        # Portal hypertension: transplant candidate -> LT, otherwise ablation.
        (
            [6.0],
            {"clinically_significant_portal_hypertension": True, "transplant_candidate": True},
            "A",
            ["liver_transplantation"],
        ),
        ([1.5], {"bilirubin_normal": False, "transplant_candidate": False}, "0", ["ablation"]),
        # 2-3 nodules, each <= 3 cm: A; LT candidate or ablation.
        ([3.0, 2.0, 1.0], {"transplant_candidate": True}, "A", ["liver_transplantation"]),
        ([3.0, 2.0], {"transplant_candidate": False}, "A", ["ablation"]),
        # Beyond: B, treatment by pattern.
        ([3.1, 2.0], {"bclc_b_pattern": "within_extended_lt_criteria"}, "B", ["liver_transplantation"]),
        (
            [3.1, 2.0],
            {"bclc_b_pattern": "within_extended_lt_criteria", "transplant_candidate": False},
            "B",
            ["tace"],
        ),
        (
            [1.0, 1.0, 1.0, 1.0],
            {"bclc_b_pattern": "well_defined_nodules_preserved_portal_flow_selective_access"},
            "B",
            ["tace"],
        ),
        ([5.0, 4.0, 4.0], {"bclc_b_pattern": "diffuse_infiltrative_extensive_bilobar"}, "B", SYSTEMIC),
        # C: vascular invasion, spread, or ECOG 1-2.
        ([1.5], {"macrovascular_invasion": True}, "C", SYSTEMIC),
        ([1.5], {"extrahepatic_spread": True}, "C", SYSTEMIC),
        ([1.5], {"ecog_ps": 1}, "C", SYSTEMIC),
        ([1.5], {"ecog_ps": 2}, "C", SYSTEMIC),
        # D: ECOG > 2 or end-stage liver function.
        ([1.5], {"ecog_ps": 3}, "D", ["best_supportive_care"]),
        ([1.5], {"ecog_ps": 4, "macrovascular_invasion": True}, "D", ["best_supportive_care"]),
        ([1.5], {"liver_function": "end_stage"}, "D", ["best_supportive_care"]),
    ],
)
def test_bclc_stages_and_treatments(
    tumours: list[float], findings: dict, expected_stage: str, treatments: list[str]
) -> None:
    result = stage(tumours, **findings)
    assert result.computable
    assert result.value == result.category == expected_stage
    assert result.details["treatments"] == treatments
    assert result.details["treatments_pending_on"] == []


def test_bclc_c_lists_treatment_lines() -> None:
    lines = stage([1.5], ecog_ps=1).details["treatment_lines"]
    assert lines["first_line"] == SYSTEMIC[:3]
    assert lines["if_first_line_not_feasible"] == SYSTEMIC[3:]


@pytest.mark.parametrize(
    ("tumours", "findings", "pending"),
    [
        ([1.8], {}, ["clinically_significant_portal_hypertension", "bilirubin_normal"]),
        ([1.8], {"bilirubin_normal": True}, ["clinically_significant_portal_hypertension"]),
        ([1.8], {"clinically_significant_portal_hypertension": True}, ["transplant_candidate"]),
        ([2.0, 2.0], {}, ["transplant_candidate"]),
        ([4.0, 4.0], {}, ["bclc_b_pattern"]),
    ],
)
def test_bclc_treatment_pending(tumours: list[float], findings: dict, pending: list[str]) -> None:
    result = stage(tumours, **findings)
    assert result.computable
    assert result.details["treatments"] == []
    assert result.details["treatments_pending_on"] == pending


def test_bclc_liver_function_from_computed_child_pugh() -> None:
    labs_a = {"bilirubin_total": (1.0, "mg/dL"), "albumin": (4.0, "g/dL"), "inr": (1.0, "")}
    base = {**STAGE_DEFAULTS, "liver_function": None, "ascites": "none", "encephalopathy": "none"}
    result = bclc(patient(labs=labs_a, liver_tumours=[1.5], **base))
    assert result.value == "0" and result.details["liver_function"] == "preserved"
    assert result.details["liver_function_source"].startswith("child_pugh (computed")
    # Child-Pugh C (1+3+3+3+1 = 11): end-stage -> D
    labs_c = {"bilirubin_total": (4.0, "mg/dL"), "albumin": (2.5, "g/dL"), "inr": (2.5, "")}
    result = bclc(patient(labs=labs_c, liver_tumours=[1.5], **{**base, "ascites": "moderate_severe"}))
    assert result.value == "D"


def test_bclc_child_pugh_b_needs_the_clinician() -> None:
    labs_b = {"bilirubin_total": (2.5, "mg/dL"), "albumin": (3.0, "g/dL"), "inr": (1.0, "")}
    base = {**STAGE_DEFAULTS, "liver_function": None, "ascites": "none", "encephalopathy": "none"}
    result = bclc(patient(labs=labs_b, liver_tumours=[1.5], **base))
    assert not result.computable and result.missing == ["liver_function"]
    assert "Child-Pugh B" in result.details["liver_function_note"]


def test_bclc_child_pugh_class_finding_when_labs_absent() -> None:
    result = bclc(
        patient(liver_tumours=[1.5], **{**STAGE_DEFAULTS, "liver_function": None, "child_pugh_class": "A"})
    )
    assert result.value == "0" and result.details["liver_function_source"] == "findings.child_pugh_class"
    result = bclc(
        patient(liver_tumours=[1.5], **{**STAGE_DEFAULTS, "liver_function": None, "child_pugh_class": "C"})
    )
    assert result.value == "D"


def test_bclc_reports_tumour_source() -> None:
    tumours = [Tumour(diameter_cm=1.5, source="imaging")]
    result = bclc(patient(liver_tumours=tumours, **STAGE_DEFAULTS))
    assert result.details["tumour_source"] == "imaging"
    assert stage([1.5]).details["tumour_source"] == "not_stated"


@pytest.mark.parametrize(
    ("findings", "missing"),
    [
        ({"ecog_ps": None}, ["ecog_ps"]),
        (
            {"macrovascular_invasion": None, "extrahepatic_spread": None},
            ["macrovascular_invasion", "extrahepatic_spread"],
        ),
        ({"liver_function": None}, ["liver_function"]),
    ],
)
def test_bclc_not_computable(findings: dict, missing: list[str]) -> None:
    result = stage([1.5], **findings)
    assert not result.computable and result.missing == missing


def test_bclc_needs_tumours() -> None:
    assert bclc(patient(**STAGE_DEFAULTS)).missing == ["liver_tumours"]
    empty = stage([])
    assert not empty.computable and "empty" in empty.details["reason"]
