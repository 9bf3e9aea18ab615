"""Child-Pugh, ALBI, FIB-4 and APRI: worked examples, every cut-off, missing inputs."""

from __future__ import annotations

from typing import Any

import pytest

from inference.risk.scores.liver import albi, albi_grade, apri, child_pugh, fib4
from tests.inference.score_builders import patient

NORMAL = {"bilirubin_total": (1.0, "mg/dL"), "albumin": (4.0, "g/dL"), "inr": (1.0, "")}


def cp(bili: float = 1.0, alb: float = 4.0, inr: float = 1.0, **findings: Any):
    findings = {"ascites": "none", "encephalopathy": "none", **findings}
    labs = {"bilirubin_total": (bili, "mg/dL"), "albumin": (alb, "g/dL"), "inr": (inr, "")}
    return child_pugh(patient(labs=labs, **findings))


@pytest.mark.parametrize(("bili", "points"), [(1.99, 1), (2.0, 2), (2.5, 2), (3.0, 2), (3.01, 3), (12.0, 3)])
def test_child_pugh_bilirubin_standard(bili: float, points: int) -> None:
    result = cp(bili=bili)
    assert result.details["points"]["bilirubin"] == points
    assert "standard" in result.details["bilirubin_cutoffs"]


@pytest.mark.parametrize(("bili", "points"), [(3.99, 1), (4.0, 2), (10.0, 2), (10.01, 3)])
def test_child_pugh_bilirubin_cholestatic(bili: float, points: int) -> None:
    result = cp(bili=bili, cholestatic_disease=True)
    assert result.details["points"]["bilirubin"] == points
    assert result.details["bilirubin_cutoffs"].startswith("cholestatic")


def test_child_pugh_states_when_cholestatic_disease_is_not_stated() -> None:
    assert "not stated" in cp().details["bilirubin_cutoffs"]
    assert "not stated" not in cp(cholestatic_disease=False).details["bilirubin_cutoffs"]


@pytest.mark.parametrize(("alb", "points"), [(3.6, 1), (3.51, 1), (3.5, 2), (2.8, 2), (2.79, 3), (1.9, 3)])
def test_child_pugh_albumin(alb: float, points: int) -> None:
    assert cp(alb=alb).details["points"]["albumin"] == points


def test_child_pugh_albumin_in_g_per_litre() -> None:
    labs = {"bilirubin_total": (17.1, "umol/L"), "albumin": (28.0, "g/L"), "inr": (1.0, "")}
    result = child_pugh(patient(labs=labs, ascites="none", encephalopathy="none"))
    assert result.details["points"]["albumin"] == 2


@pytest.mark.parametrize(("inr", "points"), [(1.69, 1), (1.7, 2), (2.3, 2), (2.31, 3)])
def test_child_pugh_inr(inr: float, points: int) -> None:
    assert cp(inr=inr).details["points"]["inr"] == points


@pytest.mark.parametrize(
    ("ascites", "encephalopathy", "points"),
    [("none", "none", (1, 1)), ("slight", "grade_1_2", (2, 2)), ("moderate_severe", "grade_3_4", (3, 3))],
)
def test_child_pugh_findings(ascites: str, encephalopathy: str, points: tuple[int, int]) -> None:
    result = cp(ascites=ascites, encephalopathy=encephalopathy)
    assert (result.details["points"]["ascites"], result.details["points"]["encephalopathy"]) == points


@pytest.mark.parametrize(
    ("kwargs", "total", "klass"),
    [
        ({}, 5, "A"),  # 1+1+1+1+1
        ({"ascites": "slight"}, 6, "A"),
        ({"ascites": "slight", "alb": 3.0}, 7, "B"),  # the A/B boundary
        ({"ascites": "moderate_severe", "alb": 3.0, "inr": 2.0, "bili": 1.0}, 9, "B"),  # 1+2+2+3+1
        ({"ascites": "moderate_severe", "alb": 3.0, "inr": 2.0, "bili": 2.5}, 10, "C"),  # the B/C boundary
        (
            {
                "ascites": "moderate_severe",
                "encephalopathy": "grade_3_4",
                "alb": 2.0,
                "inr": 3.0,
                "bili": 5.0,
            },
            15,
            "C",
        ),
    ],
)
def test_child_pugh_classes(kwargs: dict, total: int, klass: str) -> None:
    result = cp(**kwargs)
    assert (result.value, result.category) == (total, klass)
    assert sum(result.details["points"].values()) == total


def test_child_pugh_not_computable() -> None:
    result = child_pugh(patient(labs=NORMAL))
    assert not result.computable
    assert result.missing == ["ascites", "encephalopathy"]
    assert result.details["reason"] == "not computable: lacks ascites, encephalopathy"
    result = child_pugh(patient(labs={"inr": (1.0, "")}, ascites="none", encephalopathy="none"))
    assert result.missing == ["bilirubin_total", "albumin"]


def test_albi_worked_example() -> None:
    # 0.66 log10(17.1) - 0.085 x 40 = 0.66 x 1.23300 - 3.4 = 0.81378 - 3.4 = -2.58622 -> -2.59, grade 2
    result = albi(patient(labs={"bilirubin_total": (1.0, "mg/dL"), "albumin": (4.0, "g/dL")}))
    assert (result.value, result.category) == (-2.59, "2")
    assert result.details["unrounded"] == pytest.approx(-2.58622, abs=1e-5)


@pytest.mark.parametrize(
    ("bili_umol", "alb_g_l", "value", "grade"),
    [
        # bilirubin 10 umol/L: 0.66 log10(10) = 0.66
        (10.0, 38.2, -2.59, "2"),  # 0.66 - 3.2470 = -2.5870
        # 0.66 - 3.25975 = -2.59975, reported -2.60 and graded on that: grade 1
        (10.0, 38.35, -2.60, "1"),
        # bilirubin 100 umol/L: 0.66 x 2 = 1.32
        (100.0, 31.9, -1.39, "2"),  # 1.32 - 2.7115 = -1.3915 -> -1.39, grade 2
        (100.0, 31.8, -1.38, "3"),  # 1.32 - 2.7030 = -1.3830 -> -1.38, grade 3
    ],
)
def test_albi_grade_boundaries(bili_umol: float, alb_g_l: float, value: float, grade: str) -> None:
    result = albi(patient(labs={"bilirubin_total": (bili_umol, "umol/L"), "albumin": (alb_g_l, "g/L")}))
    assert (result.value, result.category) == (value, grade)


@pytest.mark.parametrize(
    ("value", "grade"), [(-2.61, "1"), (-2.60, "1"), (-2.59, "2"), (-1.39, "2"), (-1.38, "3")]
)
def test_albi_grade_function(value: float, grade: str) -> None:
    assert albi_grade(value) == grade


def test_albi_not_computable() -> None:
    assert albi(patient(labs={"albumin": (40, "g/L")})).missing == ["bilirubin_total"]


def fib4_patient(age: float, ast: float, alt: float, plt: float):
    labs = {"ast": (ast, "U/L"), "alt": (alt, "U/L"), "platelets": (plt, "10*9/L")}
    return fib4(patient(age=age, labs=labs))


def test_fib4_worked_example() -> None:
    # 50 x 40 / (200 x sqrt(25)) = 2000 / 1000 = 2.00 -> indeterminate
    result = fib4_patient(50, 40, 25, 200)
    assert (result.value, result.category) == (2.0, "indeterminate")
    assert result.details["low_cutoff"] == 1.30


@pytest.mark.parametrize(
    ("age", "ast", "plt", "value", "category"),
    [
        # ALT 25 (sqrt 5); age 50, platelets 100: FIB-4 = 50 AST / 500 = AST / 10
        (50, 12.9, 100, 1.29, "low"),
        (50, 13.0, 100, 1.30, "indeterminate"),
        (50, 26.7, 100, 2.67, "indeterminate"),
        (50, 26.8, 100, 2.68, "high"),
        # age 64, platelets 128: 64 AST / 640 = AST / 10; low cut-off still 1.30
        (64, 19.9, 128, 1.99, "indeterminate"),
        # age 65, platelets 130: 65 AST / 650 = AST / 10; low cut-off 2.0
        (65, 19.9, 130, 1.99, "low"),
        (65, 20.0, 130, 2.00, "indeterminate"),
        (65, 26.8, 130, 2.68, "high"),
    ],
)
def test_fib4_boundaries(age: float, ast: float, plt: float, value: float, category: str) -> None:
    result = fib4_patient(age, ast, 25, plt)
    assert (result.value, result.category) == (value, category)


def test_fib4_notes_age_under_35_and_lacks_age() -> None:
    assert "35" in fib4_patient(30, 40, 25, 200).details["note"]
    result = fib4(patient(labs={"ast": (40, "U/L"), "alt": (25, "U/L"), "platelets": (200, "10*9/L")}))
    assert result.missing == ["age_years"]


def apri_patient(ast: float, plt: float = 100, **findings: Any):
    return apri(patient(labs={"ast": (ast, "U/L"), "platelets": (plt, "10*9/L")}, **findings))


def test_apri_worked_example_with_default_uln() -> None:
    # (80 / 40) / 100 x 100 = 2.00: significant fibrosis likely (> 1.5), cirrhosis indeterminate (not > 2.0)
    result = apri_patient(80)
    assert result.value == 2.0
    assert result.details["significant_fibrosis"] == "likely"
    assert result.details["cirrhosis"] == "indeterminate"
    assert result.details["ast_upper_limit_normal_u_l"] == 40.0
    assert result.details["ast_upper_limit_normal_source"] == "default"
    assert result.category is None


def test_apri_uses_the_labs_upper_limit() -> None:
    # (80 / 50) / 100 x 100 = 1.60
    result = apri_patient(80, ast_upper_limit_normal_u_l=50.0)
    assert result.value == 1.6
    assert result.details["ast_upper_limit_normal_source"] == "findings"


@pytest.mark.parametrize(
    ("ast", "fibrosis", "cirrhosis"),
    [
        # ULN 40, platelets 100: APRI = AST / 40
        (20.0, "unlikely", "unlikely"),  # 0.50
        (20.4, "indeterminate", "unlikely"),  # 0.51
        (40.0, "indeterminate", "unlikely"),  # 1.00
        (40.4, "indeterminate", "indeterminate"),  # 1.01
        (60.0, "indeterminate", "indeterminate"),  # 1.50
        (60.4, "likely", "indeterminate"),  # 1.51
        (80.0, "likely", "indeterminate"),  # 2.00
        (80.4, "likely", "likely"),  # 2.01
    ],
)
def test_apri_bands(ast: float, fibrosis: str, cirrhosis: str) -> None:
    result = apri_patient(ast)
    assert (result.details["significant_fibrosis"], result.details["cirrhosis"]) == (fibrosis, cirrhosis)


def test_apri_not_computable() -> None:
    assert apri(patient(labs={"ast": (40, "U/L")})).missing == ["platelets"]
