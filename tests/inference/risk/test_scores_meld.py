"""MELD, MELD-Na and MELD 3.0: worked examples, every clamp, the sodium threshold, bounds."""

from __future__ import annotations

import pytest

from inference.risk.scores.common import round_half_up
from inference.risk.scores.meld import meld, meld_3, meld_na
from tests.inference.score_builders import patient


def labs(
    bili: float, inr: float, cr: float | None, na: float | None = None, alb: float | None = None
) -> dict:
    out = {"bilirubin_total": (bili, "mg/dL"), "inr": (inr, "")}
    if cr is not None:
        out["creatinine"] = (cr, "mg/dL")
    if na is not None:
        out["sodium"] = (na, "mmol/L")
    if alb is not None:
        out["albumin"] = (alb, "g/dL")
    return out


def test_meld_worked_example() -> None:
    # MELD(i) = 0.957 ln(1.2) + 0.378 ln(1.9) + 1.120 ln(1.5) + 0.643
    #         = 0.957 x 0.18232 + 0.378 x 0.64185 + 1.120 x 0.40547 + 0.643
    #         = 0.17448 + 0.24262 + 0.45412 + 0.643 = 1.51422 -> 1.5 -> x 10 = 15
    result = meld(patient(labs=labs(1.9, 1.5, 1.2)))
    assert result.computable and result.value == 15
    assert result.details["unrounded"] == pytest.approx(15.1422, abs=1e-4)
    assert [u["unit"] for u in result.inputs_used] == ["mg/dL", "{INR}", "mg/dL"]
    assert result.citation.startswith("Kamath PS")


def test_meld_na_worked_example() -> None:
    # MELD(i) = 15 (above) > 11, so MELD-Na = 15 + 1.32 (137 - 130) - 0.033 x 15 x (137 - 130)
    #         = 15 + 9.24 - 3.465 = 20.775 -> 21
    result = meld_na(patient(labs=labs(1.9, 1.5, 1.2, na=130)))
    assert result.value == 21
    assert result.details["unrounded"] == pytest.approx(20.775)
    assert result.details["sodium_term_applied"] is True


def test_meld_same_in_si_units() -> None:
    si = {
        "bilirubin_total": (1.9 * 17.1, "umol/L"),
        "inr": (1.5, "{INR}"),
        "creatinine": (1.2 * 88.4, "umol/L"),
    }
    assert meld(patient(labs=si)).value == 15


def test_lab_floors_set_values_below_one_to_one() -> None:
    # All three labs < 1.0 are set to 1.0: MELD(i) = 0.643 -> 0.6 -> 6.
    result = meld(patient(labs=labs(0.5, 0.9, 0.6)))
    assert result.value == 6
    assert result.details["bilirubin_mg_dl_used"] == 1.0
    assert result.details["inr_used"] == 1.0
    assert result.details["creatinine_mg_dl_used"] == 1.0
    assert len(result.details["clamped"]) == 3


@pytest.mark.parametrize(
    ("cr", "expected"),
    [
        # 0.957 ln(3.9) + 0.643 = 1.30246 + 0.643 = 1.94546 -> 1.9 -> 19
        (3.9, 19),
        # 0.957 ln(4.0) + 0.643 = 1.32668 + 0.643 = 1.96968 -> 2.0 -> 20
        (4.0, 20),
        # creatinine above 4.0 is capped at 4.0: 20 again
        (5.0, 20),
        (12.0, 20),
    ],
)
def test_meld_creatinine_cap(cr: float, expected: int) -> None:
    assert meld(patient(labs=labs(1.0, 1.0, cr))).value == expected


def test_dialysis_sets_creatinine_to_cap_even_without_a_creatinine() -> None:
    with_lab = meld(patient(labs=labs(1.0, 1.0, 1.0), dialysis_twice_past_week=True))
    without_lab = meld(patient(labs=labs(1.0, 1.0, None), dialysis_twice_past_week=True))
    assert with_lab.value == without_lab.value == 20
    assert without_lab.details["creatinine_mg_dl_used"] == 4.0
    assert without_lab.details["dialysis"] == "yes"


def test_dialysis_not_stated_is_reported() -> None:
    result = meld(patient(labs=labs(1.0, 1.0, 1.0)))
    assert result.details["dialysis"].startswith("not_stated")


@pytest.mark.parametrize(
    ("inr", "na", "expected", "applied"),
    [
        # INR 1.5: MELD(i) = 1.120 x 0.40547 + 0.643 = 1.09712 -> 1.1 -> 11: no sodium term.
        (1.5, 125, 11, False),
        # INR 1.6: MELD(i) = 1.120 x 0.47000 + 0.643 = 1.16940 -> 1.2 -> 12 > 11:
        # 12 + 1.32 x 12 - 0.033 x 12 x 12 = 12 + 15.84 - 4.752 = 23.088 -> 23
        (1.6, 125, 23, True),
        # sodium 120 is clamped to 125: the same 23
        (1.6, 120, 23, True),
        # sodium 140 is clamped to 137: the term is zero, MELD-Na = MELD(i) = 12
        (1.6, 140, 12, True),
        (1.6, 137, 12, True),
    ],
)
def test_meld_na_threshold_and_sodium_clamp(inr: float, na: float, expected: int, applied: bool) -> None:
    result = meld_na(patient(labs=labs(1.0, inr, 1.0, na=na)))
    assert result.value == expected
    assert result.details["sodium_term_applied"] is applied
    assert result.details["sodium_used"] == min(max(na, 125), 137)


def test_meld_upper_bound_40() -> None:
    # 0.957 ln 4 + 0.378 ln 40 + 1.120 ln 8 + 0.643 = 1.32668 + 1.39440 + 2.32898 + 0.643
    # = 5.69306 -> 57 -> bounded to 40; MELD-Na: 57 + 15.84 - 22.572 = 50.268 -> 50 -> 40.
    assert meld(patient(labs=labs(40, 8, 4))).value == 40
    result = meld_na(patient(labs=labs(40, 8, 4, na=125)))
    assert result.value == 40
    assert result.details["unrounded"] == pytest.approx(50.268)


@pytest.mark.parametrize(
    ("sex", "bili", "na", "inr", "cr", "alb", "expected"),
    [
        # Kim 2021, table 4 inputs. Male, bilirubin 2.5, Na 131, INR 1.0, Cr 1.2, albumin 3.8:
        # 4.56 ln 2.5 + 0.82 x 6 - 0.24 x 6 x ln 2.5 + 11.14 ln 1.2 + 0 (albumin clamped to 3.5) + 6
        # = 4.17829 + 4.92 - 1.31946 + 2.03107 + 6 = 15.80989 -> 16
        ("male", 2.5, 131, 1.0, 1.2, 3.8, 16),
        # the same woman: + 1.33 = 17.13989 -> 17
        ("female", 2.5, 131, 1.0, 1.2, 3.8, 17),
        # Male, 6.0, 131, 1.5, 1.5, albumin 2.2:
        # 4.56 ln 6 + 4.92 - 0.24 x 6 ln 6 + 9.09 ln 1.5 + 11.14 ln 1.5 + 1.85 x 1.3 - 1.83 x 1.3 ln 1.5 + 6
        # = 8.17042 + 4.92 - 2.58013 + 3.68568 + 4.51688 + 2.405 - 0.96460 + 6 = 26.15325 -> 26
        ("male", 6.0, 131, 1.5, 1.5, 2.2, 26),
        # Male, 12.0, 128, 2.2, 2.8, albumin 2.0 -> 37.93 -> 38
        ("male", 12.0, 128, 2.2, 2.8, 2.0, 38),
    ],
)
def test_meld_3_worked_examples(
    sex: str, bili: float, na: float, inr: float, cr: float, alb: float, expected: int
) -> None:
    result = meld_3(patient(age=20, sex=sex, labs=labs(bili, inr, cr, na=na, alb=alb)))
    assert result.computable and result.value == expected


@pytest.mark.parametrize(
    ("alb", "used"),
    [(1.0, 1.5), (1.5, 1.5), (2.5, 2.5), (3.5, 3.5), (4.2, 3.5)],
)
def test_meld_3_albumin_clamp(alb: float, used: float) -> None:
    result = meld_3(patient(age=40, sex="male", labs=labs(2.0, 1.2, 1.1, na=135, alb=alb)))
    assert result.details["albumin_g_dl_used"] == used
    reference = meld_3(patient(age=40, sex="male", labs=labs(2.0, 1.2, 1.1, na=135, alb=used)))
    assert result.details["unrounded"] == reference.details["unrounded"]


@pytest.mark.parametrize(("cr", "used"), [(2.9, 2.9), (3.0, 3.0), (3.5, 3.0), (8.0, 3.0), (0.4, 1.0)])
def test_meld_3_creatinine_cap_3(cr: float, used: float) -> None:
    result = meld_3(patient(age=40, sex="male", labs=labs(2.0, 1.2, cr, na=135, alb=3.0)))
    assert result.details["creatinine_mg_dl_used"] == pytest.approx(used)


def test_meld_3_dialysis_sets_creatinine_3() -> None:
    result = meld_3(
        patient(age=40, sex="male", labs=labs(2.0, 1.2, None, na=135, alb=3.0), dialysis_twice_past_week=True)
    )
    assert result.details["creatinine_mg_dl_used"] == 3.0


def test_meld_3_sodium_clamp() -> None:
    low = meld_3(patient(age=40, sex="male", labs=labs(2.0, 1.2, 1.1, na=118, alb=3.0)))
    assert low.details["sodium_used"] == 125
    high = meld_3(patient(age=40, sex="male", labs=labs(2.0, 1.2, 1.1, na=141, alb=3.0)))
    assert high.details["sodium_used"] == 137


def test_meld_3_adolescents_get_the_female_term() -> None:
    boy = meld_3(patient(age=15, sex="male", labs=labs(2.5, 1.0, 1.2, na=131, alb=3.8)))
    assert boy.details["female_term"] == 1.33 and boy.value == 17
    no_sex = meld_3(patient(age=15, labs=labs(2.5, 1.0, 1.2, na=131, alb=3.8)))
    assert no_sex.computable and no_sex.value == 17


def test_meld_3_lower_bound_6() -> None:
    # All at the floors, Na 137, albumin 3.5, male adult: 0 + 6 = 6.
    result = meld_3(patient(age=40, sex="male", labs=labs(0.3, 0.8, 0.5, na=140, alb=4.5)))
    assert result.value == 6


@pytest.mark.parametrize(
    ("kwargs", "missing"),
    [
        ({"labs": labs(1.0, 1.0, None)}, ["creatinine"]),
        ({"labs": {"inr": (1.0, "")}}, ["bilirubin_total", "creatinine"]),
        ({}, ["bilirubin_total", "inr", "creatinine"]),
    ],
)
def test_meld_not_computable_names_what_it_lacks(kwargs: dict, missing: list[str]) -> None:
    result = meld(patient(**kwargs))
    assert not result.computable and result.value is None
    assert result.missing == missing
    assert result.details["reason"] == "not computable: lacks " + ", ".join(missing)


def test_meld_na_lacks_sodium() -> None:
    assert meld_na(patient(labs=labs(1.0, 1.0, 1.0))).missing == ["sodium"]


@pytest.mark.parametrize(
    ("kwargs", "missing"),
    [
        ({"sex": "male"}, ["age_years"]),
        ({"age": 40}, ["sex"]),
        ({"age": 40, "sex": "female", "alb": None}, ["albumin"]),
    ],
)
def test_meld_3_not_computable(kwargs: dict, missing: list[str]) -> None:
    alb = kwargs.pop("alb", 3.0)
    result = meld_3(patient(labs=labs(2.0, 1.2, 1.1, na=135, alb=alb), **kwargs))
    assert not result.computable and result.missing == missing


@pytest.mark.parametrize("score", [meld, meld_na, meld_3])
def test_meld_scores_not_computable_under_12(score) -> None:
    result = score(patient(age=11, sex="male", labs=labs(2.0, 1.2, 1.1, na=135, alb=3.0)))
    assert not result.computable and "PELD" in result.details["reason"]


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [(2.5, 0, 3.0), (-2.5, 0, -3.0), (0.125, 2, 0.13), (1.5, 0, 2.0), (-0.635, 2, -0.64), (14.5, 0, 15.0)],
)
def test_round_half_up_is_not_bankers(value: float, digits: int, expected: float) -> None:
    assert round_half_up(value, digits) == expected
