"""Lung-RADS v2022, Brock (PanCan 2b) and Fleischner 2017."""

from __future__ import annotations

import math
from typing import Any

import pytest

from inference.risk.scores.lung import brock, fleischner, lung_rads
from tests.inference.score_builders import patient


def nodule(kind: str = "solid", size: float | None = None, **fields: object) -> dict:
    out: dict = {"type": kind, **fields}
    if size is not None:
        out["mean_diameter_mm"] = size
    return out


def rads(nodules: list[dict], exam: str = "baseline", **findings: Any):
    return lung_rads(patient(lung_nodules=nodules, lung_screening_exam=exam, **findings))


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        # Baseline solid by mean diameter: 2 < 6, 3 6-<8, 4A 8-<15, 4B >= 15.
        (nodule(size=5.9), "2"),
        (nodule(size=6.0), "3"),
        (nodule(size=7.9), "3"),
        (nodule(size=8.0), "4A"),
        (nodule(size=14.9), "4A"),
        (nodule(size=15.0), "4B"),
        # Long and short axes: (6.0 + 5.9) / 2 = 5.95 -> 6.0 at one decimal -> 3.
        (nodule(long_axis_mm=6.0, short_axis_mm=5.9), "3"),
        (nodule(long_axis_mm=6.0, short_axis_mm=5.8), "2"),  # 5.9
        # Volume when no diameter: 113, 268, 1767 mm3.
        (nodule(volume_mm3=112.0), "2"),
        (nodule(volume_mm3=113.0), "3"),
        (nodule(volume_mm3=267.0), "3"),
        (nodule(volume_mm3=268.0), "4A"),
        (nodule(volume_mm3=1766.0), "4A"),
        (nodule(volume_mm3=1767.0), "4B"),
        # Part-solid: 2 when total < 6 mm, else by solid component 3 < 6, 4A 6-<8, 4B >= 8.
        (nodule("part_solid", 5.9), "2"),
        (nodule("part_solid", 10.0, solid_component_mm=5.9), "3"),
        (nodule("part_solid", 10.0, solid_component_mm=6.0), "4A"),
        (nodule("part_solid", 12.0, solid_component_mm=7.9), "4A"),
        (nodule("part_solid", 12.0, solid_component_mm=8.0), "4B"),
        # Non-solid: 2 < 30 mm, 3 >= 30.
        (nodule("non_solid", 29.9), "2"),
        (nodule("non_solid", 30.0), "3"),
    ],
)
def test_lung_rads_baseline(node: dict, expected: str) -> None:
    result = rads([node])
    assert result.computable
    assert result.category == result.value == expected
    assert result.details["nodules"][0]["category"] == expected


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        # New solid: 2 < 4, 3 4-<6, 4A 6-<8, 4B >= 8.
        (nodule(size=3.9, status="new"), "2"),
        (nodule(size=4.0, status="new"), "3"),
        (nodule(size=5.9, status="new"), "3"),
        (nodule(size=6.0, status="new"), "4A"),
        (nodule(size=7.9, status="new"), "4A"),
        (nodule(size=8.0, status="new"), "4B"),
        # Growing solid: 4A < 8, 4B >= 8.
        (nodule(size=5.0, status="growing"), "4A"),
        (nodule(size=7.9, status="growing"), "4A"),
        (nodule(size=8.0, status="growing"), "4B"),
        # Stable: size category 2 stays 2; otherwise stepped down from the prior category.
        (nodule(size=5.0, status="stable"), "2"),
        (nodule(size=7.0, status="stable", prior_category="3"), "2"),
        (nodule(size=10.0, status="stable", prior_category="4A"), "3"),
        (nodule(size=20.0, status="stable", prior_category="4B"), "4B"),
        # Part-solid follow-up.
        (nodule("part_solid", 5.0, status="new"), "3"),
        (nodule("part_solid", 10.0, status="new", solid_component_mm=3.9), "4A"),
        (nodule("part_solid", 10.0, status="new", solid_component_mm=4.0), "4B"),
        (nodule("part_solid", 10.0, status="growing", solid_component_mm=3.9), "4A"),
        (nodule("part_solid", 10.0, status="growing", solid_component_mm=4.0), "4B"),
        (nodule("part_solid", 5.0, status="stable"), "2"),
        (nodule("part_solid", 10.0, status="stable", prior_category="4A"), "3"),
        # Non-solid follow-up: 3 only when >= 30 mm and new.
        (nodule("non_solid", 30.0, status="new"), "3"),
        (nodule("non_solid", 29.0, status="new"), "2"),
        (nodule("non_solid", 35.0, status="stable"), "2"),
        (nodule("non_solid", 35.0, status="growing"), "2"),
    ],
)
def test_lung_rads_follow_up(node: dict, expected: str) -> None:
    result = rads([node], exam="follow_up")
    assert result.computable and result.category == expected


def test_lung_rads_overall_is_the_highest_and_carries_management() -> None:
    result = rads([nodule(size=4.0), nodule(size=9.0), nodule("non_solid", 12.0)])
    assert result.category == "4A"
    assert [n["category"] for n in result.details["nodules"]] == ["2", "4A", "2"]
    assert result.details["management"] == "ldct_3_months"


@pytest.mark.parametrize(
    ("size", "management"),
    [
        (4.0, "ldct_12_months"),
        (7.0, "ldct_6_months"),
        (10.0, "ldct_3_months"),
        (20.0, "diagnostic_ct_pet_ct_tissue_sampling"),
    ],
)
def test_lung_rads_management(size: float, management: str) -> None:
    assert rads([nodule(size=size)]).details["management"] == management


def test_lung_rads_no_nodules_is_category_1() -> None:
    result = rads([])
    assert result.category == "1" and result.details["management"] == "ldct_12_months"


def test_lung_rads_spiculation_note() -> None:
    assert "4X" in rads([nodule(size=9.0, spiculated=True)]).details["note"]


@pytest.mark.parametrize(
    ("nodules", "exam", "missing"),
    [
        ([nodule(size=10.0)], "follow_up", ["lung_nodules[0].status"]),
        ([nodule(size=10.0, status="stable")], "follow_up", ["lung_nodules[0].prior_category"]),
        ([nodule("part_solid", 10.0)], "baseline", ["lung_nodules[0].solid_component_mm"]),
        ([nodule(size=4.0), nodule(long_axis_mm=5.0)], "baseline", ["lung_nodules[1].mean_diameter_mm"]),
    ],
)
def test_lung_rads_not_computable(nodules: list[dict], exam: str, missing: list[str]) -> None:
    result = rads(nodules, exam=exam)
    assert not result.computable and result.missing == missing


def test_lung_rads_needs_exam_and_is_not_for_incidental_nodules() -> None:
    assert lung_rads(patient(lung_nodules=[nodule(size=4.0)])).missing == ["lung_screening_exam"]
    incidental = rads([nodule(size=4.0)], nodule_context="incidental")
    assert not incidental.computable and "screening" in incidental.details["reason"]


BROCK_BASE: dict = {"family_history_lung_cancer": False, "emphysema": False}


def test_brock_at_the_centring_point_is_the_intercept() -> None:
    # Age 62, 4 mm, count 4: every centred term is zero; logit = -6.7892
    # p = 1 / (1 + e^6.7892) = 1 / 889.7 = 0.00112 -> 0.0011
    result = brock(
        patient(
            age=62,
            sex="male",
            nodule_count=4,
            lung_nodules=[nodule(long_axis_mm=4.0, upper_lobe=False, spiculated=False)],
            **BROCK_BASE,
        )
    )
    assert result.value == 0.0011
    assert result.details["nodules"][0]["unrounded"] == pytest.approx(1 / (1 + math.exp(6.7892)))
    assert result.details["nodule_count_source"] == "findings.nodule_count"


def test_brock_worked_example_full_model() -> None:
    # Woman 70, family history, emphysema, 15 mm part-solid, upper lobe, spiculated, 1 nodule:
    # -6.7892 + 0.0287 x 8 + 0.6011 + 0.2961 + 0.2953 - 5.3854 x (1.5^-0.5 - 1.58114)
    # + 0.377 + 0.6581 - 0.0824 x (1 - 4) + 0.7729
    # = -6.7892 + 0.2296 + 0.6011 + 0.2961 + 0.2953 + 4.11791 + 0.377 + 0.6581 + 0.2472 + 0.7729 = 0.80601
    # p = 1 / (1 + e^-0.80601) = 0.6913
    result = brock(
        patient(
            age=70,
            sex="female",
            family_history_lung_cancer=True,
            emphysema=True,
            lung_nodules=[nodule("part_solid", long_axis_mm=15.0, upper_lobe=True, spiculated=True)],
        )
    )
    assert result.value == 0.6913
    assert result.details["nodule_count"] == 1
    assert result.details["nodule_count_source"] == "lung_nodules"


def test_brock_value_is_the_highest_nodule() -> None:
    nodules = [
        nodule(long_axis_mm=4.0, upper_lobe=False, spiculated=False),
        nodule(long_axis_mm=12.0, upper_lobe=True, spiculated=True),
        nodule("non_solid", long_axis_mm=8.0, upper_lobe=False, spiculated=False),
    ]
    result = brock(patient(age=65, sex="male", lung_nodules=nodules, **BROCK_BASE))
    probabilities = [n["probability"] for n in result.details["nodules"]]
    assert result.value == max(probabilities) == probabilities[1]
    assert all(0 < p < 1 for p in probabilities)


@pytest.mark.parametrize(
    ("kwargs", "missing"),
    [
        ({"sex": None}, ["sex"]),
        ({"emphysema": None}, ["emphysema"]),
        ({"nodule": {"long_axis_mm": None}}, ["lung_nodules[0].long_axis_mm"]),
        ({"nodule": {"spiculated": None}}, ["lung_nodules[0].spiculated"]),
    ],
)
def test_brock_not_computable(kwargs: dict, missing: list[str]) -> None:
    fields = {"long_axis_mm": 8.0, "upper_lobe": True, "spiculated": False, **kwargs.pop("nodule", {})}
    args = {"age": 60, "sex": "male", **BROCK_BASE, **kwargs}
    result = brock(patient(lung_nodules=[nodule(**fields)], **args))
    assert not result.computable and result.missing == missing


def fl(nodules: list[dict], **findings: Any):
    args = {"age": 60, "nodule_context": "incidental", **findings}
    return fleischner(patient(lung_nodules=nodules, **args))


@pytest.mark.parametrize(
    ("sizes", "risk", "expected"),
    [
        ([5.0], "low", "no_routine_followup"),
        ([5.0], "high", "optional_ct_12_months"),
        ([6.0], "low", "ct_6_12_months_then_consider_ct_18_24_months"),
        ([8.0], "high", "ct_6_12_months_then_ct_18_24_months"),
        ([9.0], "low", "consider_ct_3_months_pet_ct_or_tissue_sampling"),
        ([9.0], "high", "consider_ct_3_months_pet_ct_or_tissue_sampling"),
        ([5.0, 4.0], "low", "no_routine_followup"),
        ([5.0, 4.0], "high", "optional_ct_12_months"),
        ([7.0, 4.0], "low", "ct_3_6_months_then_consider_ct_18_24_months"),
        ([7.0, 4.0], "high", "ct_3_6_months_then_ct_18_24_months"),
        ([12.0, 4.0], "low", "ct_3_6_months_then_consider_ct_18_24_months"),
        ([12.0, 4.0], "high", "ct_3_6_months_then_ct_18_24_months"),
        # Rounded to the nearest mm: 5.4 -> 5 (< 6), 5.5 -> 6, 8.4 -> 8, 8.5 -> 9 (> 8).
        ([5.4], "high", "optional_ct_12_months"),
        ([5.5], "high", "ct_6_12_months_then_ct_18_24_months"),
        ([8.4], "high", "ct_6_12_months_then_ct_18_24_months"),
        ([8.5], "high", "consider_ct_3_months_pet_ct_or_tissue_sampling"),
    ],
)
def test_fleischner_solid(sizes: list[float], risk: str, expected: str) -> None:
    result = fl([nodule(size=s) for s in sizes], nodule_patient_risk=risk)
    assert result.computable and result.category == result.value == expected
    assert result.details["table"] == "solid"


@pytest.mark.parametrize(
    ("volume", "expected"),
    [
        (99.0, "no_routine_followup"),
        (100.0, "ct_6_12_months_then_consider_ct_18_24_months"),
        (250.0, "ct_6_12_months_then_consider_ct_18_24_months"),
        (251.0, "consider_ct_3_months_pet_ct_or_tissue_sampling"),
    ],
)
def test_fleischner_volume(volume: float, expected: str) -> None:
    assert fl([nodule(volume_mm3=volume)], nodule_patient_risk="low").category == expected


def test_fleischner_multiple_by_nodule_count() -> None:
    result = fl([nodule(size=7.0)], nodule_patient_risk="low", nodule_count=3)
    assert result.category == "ct_3_6_months_then_consider_ct_18_24_months"
    assert result.details["multiple"] is True


@pytest.mark.parametrize(
    ("nodules", "expected"),
    [
        ([nodule("non_solid", 5.0)], "no_routine_followup"),
        ([nodule("non_solid", 6.0)], "ct_6_12_months_then_every_2_years_until_5_years"),
        ([nodule("part_solid", 5.0)], "no_routine_followup"),
        ([nodule("part_solid", 6.0)], "ct_3_6_months_then_annual_ct_5_years"),
        (
            [nodule("non_solid", 5.0), nodule("part_solid", 4.0)],
            "ct_3_6_months_then_consider_ct_2_and_4_years",
        ),
        (
            [nodule("non_solid", 5.0), nodule("part_solid", 7.0)],
            "ct_3_6_months_then_manage_by_most_suspicious",
        ),
    ],
)
def test_fleischner_subsolid_needs_no_risk(nodules: list[dict], expected: str) -> None:
    result = fl(nodules)
    assert result.computable and result.category == expected and result.details["table"] == "subsolid"


@pytest.mark.parametrize(
    "findings",
    [
        {"nodule_context": "screening"},
        {"known_cancer_or_immunosuppressed": True},
        {"age": 34},
    ],
)
def test_fleischner_not_applicable(findings: dict) -> None:
    result = fl([nodule(size=9.0)], nodule_patient_risk="low", **findings)
    assert result.computable and result.category == "not_applicable"
    assert result.details["reason_not_applicable"]


def test_fleischner_applies_from_age_35() -> None:
    assert fl([nodule(size=9.0)], nodule_patient_risk="low", age=35).category != "not_applicable"


@pytest.mark.parametrize(
    ("findings", "missing"),
    [
        ({"nodule_context": None, "nodule_patient_risk": "low"}, ["nodule_context"]),
        ({}, ["nodule_patient_risk"]),
        ({"age": None, "nodule_patient_risk": "low"}, ["age_years"]),
    ],
)
def test_fleischner_not_computable(findings: dict, missing: list[str]) -> None:
    result = fl([nodule(size=7.0)], **findings)
    assert not result.computable and result.missing == missing


def test_fleischner_unmeasured_nodule() -> None:
    result = fl([nodule(long_axis_mm=7.0)], nodule_patient_risk="low")
    assert result.missing == ["lung_nodules[0].mean_diameter_mm"]
