"""Lesion-level decision rule of the liver model: candidate features, the rule's guards and minimum
confidence, findings that propose only what passes, and the leave-one-case-out fit (synthetic data;
the real cases never enter the tests)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from inference.runtime.postprocessing import (
    RULE_FEATURES,
    findings_compute,
    lesion_candidates,
    lesion_confidence,
    lesions_decide,
)
from inference.training.imaging.liver_lesion_rule import (
    THRESHOLDS,
    RuleCase,
    case_candidates,
    leave_one_case_out,
    rule_apply,
    rule_fit,
)

SPACING = (2.0, 1.0, 1.0)


def _ball(shape: tuple[int, int, int], centre: tuple[int, int, int], radius_mm: float) -> np.ndarray:
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    d2 = ((z - centre[0]) * SPACING[0]) ** 2 + ((y - centre[1]) * SPACING[1]) ** 2 + ((x - centre[2]) * SPACING[2]) ** 2
    return d2 <= radius_mm**2


def _liver_with_lesions() -> tuple[np.ndarray, np.ndarray]:
    """A liver block in a 12-slice volume with a round dark lesion (slices 3-7, widest at 5) and a
    faint band along its back that runs through every slice."""
    labels = np.zeros((12, 64, 64), np.uint8)
    labels[:, 8:56, 8:56] = 1
    hu = np.where(labels == 1, 110.0, -100.0).astype(np.float32)
    ball = _ball(labels.shape, (5, 24, 24), 4.5)
    labels[ball] = 2
    hu[ball] = 45.0
    labels[:, 48:54, 14:50] = 2
    hu[:, 48:54, 14:50] = 100.0
    return labels, hu


def _rule(**over: Any) -> dict[str, Any]:
    """A hand-set rule: confidence rises with contrast and probability."""
    weights = dict.fromkeys(RULE_FEATURES, 0.0)
    weights["abs_contrast_hu_100"] = 8.0
    weights["mean_probability"] = 2.0
    base = {
        "weights": weights,
        "intercept": -4.0,
        "min_confidence": 0.5,
        "guards": {"spans_scan": True, "max_liver_fraction": 0.5},
    }
    return {**base, **over}


def test_candidates_carry_features_and_the_slice_of_their_largest_cross_section() -> None:
    labels, hu = _liver_with_lesions()
    prob = np.where(labels == 2, 230, 10).astype(np.uint8)
    votes = np.where(labels == 2, 2, 0).astype(np.uint8)
    cands = lesion_candidates(labels=labels, volume_hu=hu, spacing=SPACING, lesion_prob_u8=prob, lesion_votes=votes, n_tta=2)
    assert len(cands) == 2
    ball, band = sorted(cands, key=lambda c: c.features["slices"])
    assert ball.key_slice == 5 and ball.slice_range == (3, 7)
    assert ball.features["spans_scan"] == 0.0 and band.features["spans_scan"] == 1.0
    assert ball.features["contrast_hu"] == pytest.approx(65.0, abs=1.0)  # darker than the liver around it
    assert band.features["abs_contrast_hu_100"] < 0.15
    assert ball.features["mean_probability"] == pytest.approx(230 / 255, abs=1e-6)
    assert ball.features["tta_agreement"] == 1.0
    assert ball.features["solidity"] > 0.8
    assert ball.features["liver_contact"] == 1.0
    assert 0 < ball.features["liver_fraction"] < band.features["liver_fraction"] < 0.5
    assert set(RULE_FEATURES) <= ball.features.keys()


def test_rule_proposes_only_lesions_that_pass_and_returns_the_rest_to_liver() -> None:
    labels, hu = _liver_with_lesions()
    prob = np.where(labels == 2, 230, 10).astype(np.uint8)
    cands = lesion_candidates(labels=labels, volume_hu=hu, spacing=SPACING, lesion_prob_u8=prob)
    out = lesions_decide(labels=labels, candidates=cands, rule=_rule())
    reasons = sorted((c.features["slices"], c.reason) for c in cands)
    assert reasons == [(5.0, None), (12.0, "spans_scan")]
    assert (out[:, 48:54, 14:50] == 1).all() and (out[5, 24, 24] == 2)
    assert ((out > 0) == (labels > 0)).all()  # the organ is unchanged
    findings = findings_compute(labels=out, volume_hu=hu, spacing=SPACING, lesion_prob_u8=prob, candidates=cands)
    assert findings["lesion_count"] == 1
    lesion = findings["lesions"][0]
    expected = lesion_confidence(next(c for c in cands if c.proposed).features, rule=_rule())
    assert lesion["confidence"] == pytest.approx(expected, abs=1e-3)
    assert lesion["mean_probability"] == pytest.approx(230 / 255, abs=1e-3)
    assert lesion["key_slice"] == 5
    (dropped,) = findings["lesion_candidates_not_proposed"]
    assert dropped["reason"] == "spans_scan" and dropped["slice_range"] == [0, 11]


def test_minimum_confidence_and_liver_fraction_guard() -> None:
    labels, hu = _liver_with_lesions()
    labels[:, 48:54, 14:50] = 1  # only the round lesion
    cands = lesion_candidates(labels=labels, volume_hu=hu, spacing=SPACING)
    lesions_decide(labels=labels, candidates=cands, rule=_rule(min_confidence=0.999))
    assert [c.reason for c in cands] == ["below_min_confidence"]
    lesions_decide(labels=labels, candidates=cands, rule=_rule(guards={"max_liver_fraction": 0.001}))
    assert [c.reason for c in cands] == ["larger_than_liver_fraction"]
    lesions_decide(labels=labels, candidates=cands, rule=None)
    assert [c.reason for c in cands] == [None]


def _synthetic_case(name: str, *, true_lesions: int, false_lesions: int, seed: int) -> tuple[RuleCase, np.ndarray]:
    """A case whose 'network output' has dark true lesions (in the reference) and faint false ones."""
    rng = np.random.default_rng(seed)
    ref = np.zeros((16, 80, 80), np.uint8)
    ref[1:15, 6:74, 6:74] = 1
    hu = np.where(ref == 1, 110.0, -100.0).astype(np.float32) + rng.normal(0, 3, ref.shape).astype(np.float32)
    raw = ref.copy()
    spots = [(z, y, x) for z in (4, 10) for y in (20, 40, 60) for x in (20, 40, 60)]
    rng.shuffle(spots)
    for k, centre in enumerate(spots[: true_lesions + false_lesions]):
        ball = _ball(ref.shape, centre, 4.0 + rng.uniform(0, 2))
        raw[ball] = 2
        if k < true_lesions:
            ref[ball] = 2
            hu[ball] = 40.0
        else:
            hu[ball] = 100.0
    case = RuleCase(name=name, hu=hu, spacing=SPACING, labels=ref, role="lesions" if true_lesions else "negative")
    return case, raw


def test_leave_one_case_out_fits_the_rule_without_the_case_it_scores() -> None:
    post = {"largest_liver_component": True, "min_lesion_ml": 0.01, "lesion_min_liver_contact": 0.5}
    found = []
    for k, (t, f) in enumerate([(4, 2), (3, 3), (0, 4), (5, 1)]):
        case, raw = _synthetic_case(f"c{k}", true_lesions=t, false_lesions=f, seed=k)
        prob = np.where(raw == 2, 220, 5).astype(np.uint8)
        votes = np.where(raw == 2, 2, 0).astype(np.uint8)
        found.append(case_candidates(case=case, raw=raw, lesion_prob=prob, votes=votes, n_tta=2, postprocessing=post))
    assert [sum(bool(h) for h in cc.hits) for cc in found] == [4, 3, 0, 5]
    table = leave_one_case_out(found)
    for row, cc in zip(table["rows"], found, strict=True):
        assert row["case"] == cc.name and cc.name not in row["rule_trained_on"]
        assert len(row["rule_trained_on"]) == 3
        assert row["rule"]["min_confidence"] in THRESHOLDS
        assert row["before"]["false_positive_lesions"] == len(cc.candidates) - sum(bool(h) for h in cc.hits)
        # contrast separates true from false lesions here: the rule keeps every true one, no false one
        assert row["after"]["false_positive_lesions"] == 0
        assert row["after"]["lesions_detected"] == row["before"]["lesions_detected"]
    assert table["rows"][2]["after"]["lesions_proposed"] == 0  # the lesion-free case
    assert table["calibration"]["candidates"] == sum(len(cc.candidates) for cc in found)
    final = rule_fit(found)
    assert final["weights"]["abs_contrast_hu_100"] > 0
    assert all(sum(rule_apply(cc, final)) == sum(bool(h) for h in cc.hits) for cc in found)


def test_rule_needs_true_and_false_candidates() -> None:
    post = {"largest_liver_component": True, "min_lesion_ml": 0.01}
    case, raw = _synthetic_case("neg", true_lesions=0, false_lesions=3, seed=9)
    prob = np.where(raw == 2, 220, 5).astype(np.uint8)
    cc = case_candidates(case=case, raw=raw, lesion_prob=prob, votes=prob // 110, n_tta=2, postprocessing=post)
    with pytest.raises(ValueError):
        rule_fit([cc])


def test_report_key_image_is_the_lesions_key_slice() -> None:
    from inference.reports.presentation import key_slice_index

    assert key_slice_index({"key_slice": 7, "centroid_zyx": [4.2, 1.0, 1.0], "slice_range": [2, 9]}) == 7
    assert key_slice_index({"centroid_zyx": [4.2, 1.0, 1.0], "slice_range": [2, 9]}) == 4


def test_a_lesion_finding_keeps_its_key_slice_and_confidence() -> None:
    from inference.findings.services import _lesion_values

    values = _lesion_values(
        {"volume": {"value": 1.2, "unit": "mL"}, "slice_range": [5, 9], "key_slice": 7, "confidence": 0.81}
    )
    assert values["key_slice"] == 7 and values["confidence"] == 0.81 and values["slice_range"] == [5, 9]
