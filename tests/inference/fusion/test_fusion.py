from __future__ import annotations

from typing import Any

from inference.fusion.recommendations import fusion_build
from inference.risk.scores.registry import scores_evaluate

BODY: dict[str, Any] = {
    "patient": {"age_years": 64, "sex": "male"},
    "observations": [
        {"code": "1975-2", "value": 25.0, "unit": "umol/L"},
        {"code": "1751-7", "value": 38.0, "unit": "g/L"},
        {"code": "6301-6", "value": 1.1, "unit": "{INR}"},
        {"code": "777-3", "value": 110.0, "unit": "10*9/L"},
        {"code": "1742-6", "value": 60.0, "unit": "U/L"},
        {"code": "1920-8", "value": 80.0, "unit": "U/L"},
        {"code": "2160-0", "value": 80.0, "unit": "umol/L"},
        {"code": "2951-2", "value": 138.0, "unit": "mmol/L"},
    ],
    "findings": {"ascites": "none", "encephalopathy": "none", "ecog_ps": 0},
}


def staging(body: dict[str, Any]) -> Any:
    def run(tumours: list[dict[str, Any]]) -> dict[str, Any]:
        return dict(scores_evaluate({**body, "findings": {**body["findings"], "liver_tumours": tumours}, "scores": ["bclc", "galad"]})["scores"])

    return run


def segmentation(*diameters_mm: float) -> dict[str, Any]:
    # The shape the segmentation runtime writes: measurements as {"value", "unit"}.
    return {"kind": "segmentation", "findings": {"lesions": [
        {"longest_axial_diameter": {"value": d, "unit": "mm"}, "volume": {"value": 1.0, "unit": "mL"}} for d in diameters_mm
    ]}}


def test_bclc_needs_vascular_and_spread_findings_and_says_so() -> None:
    fused = fusion_build(scores=scores_evaluate(BODY)["scores"], findings=BODY["findings"], imaging=[segmentation(18.0)],
                         afp_on_file=False, staging_scores=staging(BODY)).as_dict()
    gap = next(g for g in fused["gaps"] if g["id"] == "bclc_not_computable")
    assert set(gap["needed"]) == {"macrovascular_invasion", "extrahepatic_spread"}


def test_lesions_from_segmentation_give_bclc_and_name_the_afp_gap() -> None:
    body = {**BODY, "findings": {**BODY["findings"], "macrovascular_invasion": False, "extrahepatic_spread": False}}
    scores = scores_evaluate(body)["scores"]
    fused = fusion_build(scores=scores, findings=body["findings"], imaging=[segmentation(18.0)], afp_on_file=False,
                         staging_scores=staging(body)).as_dict()
    staging_rec = next(r for r in fused["recommendations"] if r["id"] == "hcc_staging")
    assert "the CT segmentation" in staging_rec["statement"]
    assert fused["staging"]["tumour_source"] == "the CT segmentation"
    assert fused["staging"]["bclc_stage"] in {"0", "A"}  # single 1.8 cm nodule, preserved function, ECOG 0
    assert any(g["id"] == "afp_missing_with_lesions" for g in fused["gaps"])
    assert "BCLC 2022" in staging_rec["guideline_version"]


def test_clinician_entered_tumours_take_precedence() -> None:
    findings = {**BODY["findings"], "liver_tumours": [{"diameter_cm": 3.5}, {"diameter_cm": 2.0}, {"diameter_cm": 1.0}, {"diameter_cm": 1.2}]}
    body = {**BODY, "findings": findings}
    fused = fusion_build(scores=scores_evaluate(body)["scores"], findings=findings, imaging=[segmentation(10.0)],
                         afp_on_file=True, staging_scores=staging(body)).as_dict()
    assert fused["staging"]["tumour_source"] == "clinician-entered findings"
    assert fused["staging"]["tumour_count"] == 4


def test_no_lesions_no_staging_and_fibrosis_advice() -> None:
    scores = scores_evaluate(BODY)["scores"]
    fused = fusion_build(scores=scores, findings=BODY["findings"], imaging=[], afp_on_file=False, staging_scores=staging(BODY)).as_dict()
    ids = {r["id"] for r in fused["recommendations"]}
    assert "hcc_staging" not in ids and fused["staging"] == {}
    fibrosis = next(r for r in fused["recommendations"] if r["id"] == "fibrosis")
    assert fibrosis["evidence"][0]["id"] == "fib4" and fibrosis["citation"]


def test_missing_labs_become_explicit_gaps() -> None:
    body = {"patient": {"age_years": 50, "sex": "female"}, "observations": [], "findings": {}}
    fused = fusion_build(scores=scores_evaluate(body)["scores"], findings={}, imaging=[], afp_on_file=False,
                         staging_scores=staging({**body, "findings": {}})).as_dict()
    assert {g["id"] for g in fused["gaps"]} >= {"child_pugh_not_computable", "fib4_not_computable", "amap_not_computable"}
    assert all(g["needed"] for g in fused["gaps"])


def test_chest_xray_probability_drives_the_next_step() -> None:
    imaging = [{"kind": "classification", "findings": {"predictions": [
        {"probability": 0.91, "threshold": 0.5, "sop_instance_uid": "1.2.3", "series_uid": "1.2"},
        {"probability": 0.12, "threshold": 0.5, "sop_instance_uid": "1.2.4", "series_uid": "1.2"},
    ]}}]
    fused = fusion_build(scores={}, findings={}, imaging=imaging, afp_on_file=False, staging_scores=lambda t: {}).as_dict()
    chest = [r for r in fused["recommendations"] if r["domain"] == "chest"]
    assert "suggest pneumonia" in chest[0]["statement"] and "CURB-65" in chest[0]["statement"]
    assert "no radiographic pneumonia" in chest[1]["statement"]
