"""What each kind of step does. Each runner loads by id, computes, and returns a JSON result;
the services layer stores it exactly once. Runners never receive patient data as arguments."""

from __future__ import annotations

import time
from typing import Any

from django.utils import timezone

from inference.analysis.catalog import analysis_models
from inference.analysis.errors import StepFailed
from inference.analysis.imaging import imaging_run
from inference.analysis.progress import analysis_publish
from inference.findings.services import (
    FindingsNotReady,
    findings_counted_for_fusion,
    findings_review_block,
    findings_sync_from_imaging,
)
from inference.fusion.recommendations import INTENDED_USE, fusion_build
from inference.models import AnalysisRequest, AnalysisStep, ImagingFinding, Report, StepKind, StepStatus
from inference.reports.opinions import second_opinions_add_unreported
from inference.reports.services import code_version, report_create_for_request
from inference.risk.patient_scores import lung_nodule_scores, patient_scores_evaluate
from inference.risk.scores.registry import scores_evaluate


def _progress(step: AnalysisStep, step_name: str, k: int, n: int) -> None:
    analysis = AnalysisRequest.objects.get(pk=step.request_id)
    analysis.current_step = step_name
    analysis.save(update_fields=["current_step", "updated_at"])
    # Outside a transaction: on_commit runs at once, so the browser sees k/n live. A step that
    # only announces its name (0 of 1) has nothing to count yet; the fetch counts images.
    if n > 1:
        analysis_publish(analysis, step_key=step.key, k=k, n=n, unit="images")
    else:
        analysis_publish(analysis, step_key=step.key)


def run_imaging(step: AnalysisStep) -> dict[str, Any]:
    model = analysis_models().get(step.model_key)
    if model is None:
        raise StepFailed(f"Model {step.model_key} is not available.", code="unknown_model")
    if model.kind == "noop":
        # Sleeps only when asked: the reliability tests need a step that takes a while.
        delay = float(step.request.options.get("noop_sleep_s", 0) or 0)
        if delay:
            time.sleep(min(delay, 120.0))
        lesions = step.request.options.get("noop_lesions")
        if lesions:
            return _noop_segmentation(step, lesions)
        return {"kind": "noop", "model": {"key": "noop", "version": "1", "weights_sha256": None}, "findings": {}}

    return imaging_run(step=step, model=model, progress=lambda name, k, n: _progress(step, name, k, n))


def _noop_segmentation(step: AnalysisStep, lesions: Any) -> dict[str, Any]:
    """The test model's liver lesions, when a test asks for them (``options.noop_lesions``: a
    list of ``{"diameter_mm", "volume_ml", "slices": [first, last]}``): the finding lifecycle
    needs lesions that a real model on a synthetic image does not reliably give. The noop model
    exists only where ``ANALYSIS_NOOP_MODEL_ENABLED`` is set (tests)."""
    if not isinstance(lesions, list) or len(lesions) > 20:
        raise StepFailed("noop_lesions must be a list of at most 20 lesions.", code="invalid_options")
    found = []
    for number, lesion in enumerate(lesions, start=1):
        try:
            diameter, volume = float(lesion["diameter_mm"]), float(lesion["volume_ml"])
            first, last = (int(v) for v in lesion.get("slices", [0, 0]))
        except (KeyError, TypeError, ValueError) as exc:
            raise StepFailed("Each noop lesion needs diameter_mm, volume_ml and slices.", code="invalid_options") from exc
        found.append({"id": number, "volume": {"value": volume, "unit": "mL"},
                      "longest_axial_diameter": {"value": diameter, "unit": "mm"},
                      "mean_density": {"value": 20.0, "unit": "[hnsf'U]"}, "slice_range": [first, last]})
    return {"kind": "segmentation", "series_uid": step.series_uid,
            "model": {"key": "noop", "version": "1", "weights_sha256": None},
            "findings": {"liver": {"present": False}, "lesion_count": len(found), "lesions": found}}


def run_risk(step: AnalysisStep) -> dict[str, Any]:
    evaluation = patient_scores_evaluate(patient=step.request.patient, as_of=step.request.created_at)
    return evaluation


def _done_steps(analysis: AnalysisRequest, steps_in_hand: list[AnalysisStep] | None) -> dict[str, list[AnalysisStep]]:
    """The request's finished steps by kind, in step order: from the steps the claiming
    transaction left in hand, or else in one query for all kinds."""
    if steps_in_hand is not None:
        done = sorted((s for s in steps_in_hand if s.status == StepStatus.DONE), key=lambda s: (s.order, s.pk))
    else:
        done = list(analysis.steps.filter(status=StepStatus.DONE).order_by("order", "id"))
    by_kind: dict[str, list[AnalysisStep]] = {}
    for step in done:
        by_kind.setdefault(step.kind, []).append(step)
    return by_kind


def _imaging_findings(analysis: AnalysisRequest, done: dict[str, list[AnalysisStep]]) -> list[ImagingFinding]:
    """The analysis's findings: its model findings stored (once) as proposals, and any the
    clinicians entered or decided since."""
    imaging = [(s.key, s.result) for s in done.get(StepKind.IMAGING, [])]
    return findings_sync_from_imaging(analysis=analysis, imaging=imaging)


def fusion_compute(analysis: AnalysisRequest, done: dict[str, list[AnalysisStep]], findings: list[ImagingFinding]) -> dict[str, Any]:
    """Staging and recommendations from the risk result and the *counted* findings only
    (accepted, edited, clinician-entered); proposed findings are reported as awaiting review."""
    risk = done.get(StepKind.RISK, [])
    if not risk:
        raise StepFailed("The risk step has no result.", code="missing_risk_result")
    risk_result = risk[0].result
    counted = findings_counted_for_fusion(findings)
    imaging = [_imaging_counted(s.result, counted["classifications"]) for s in done.get(StepKind.IMAGING, [])]
    request_body = risk_result["request"]

    def staging_scores(tumours: list[dict[str, Any]]) -> dict[str, Any]:
        body = {**request_body, "findings": {**request_body.get("findings", {}), "liver_tumours": tumours}, "scores": ["bclc", "galad"]}
        return dict(scores_evaluate(body)["scores"])

    afp_on_file = any(o.get("code") == "1834-1" for o in request_body.get("observations", []))
    fused = fusion_build(
        scores=risk_result["response"]["scores"], findings={**request_body.get("findings", {}), **risk_result.get("context", {})},
        imaging=imaging,
        afp_on_file=afp_on_file, staging_scores=staging_scores,
        reviewed_lesions=counted["lesions"] if counted["reviewed"] else None, findings_pending=counted["pending"],
    )
    return {**fused.as_dict(), "findings_review": findings_review_block(findings)}


def _imaging_counted(result: dict[str, Any], classifications: dict[str, str]) -> dict[str, Any]:
    """An imaging result as fusion may read it: image classifications only where a clinician
    accepted or edited them (with the clinician's label); lesions come from the findings."""
    if result.get("kind") != "classification":
        return result
    predictions = [
        {**p, "reviewed_label": classifications[str(p.get("sop_instance_uid"))]}
        for p in (result.get("findings") or {}).get("predictions", [])
        if str(p.get("sop_instance_uid")) in classifications
    ]
    return {**result, "findings": {**(result.get("findings") or {}), "predictions": predictions}}


def run_fusion(step: AnalysisStep, steps_in_hand: list[AnalysisStep] | None = None) -> dict[str, Any]:
    analysis = step.request
    done = _done_steps(analysis, steps_in_hand)
    return fusion_compute(analysis, done, _imaging_findings(analysis, done))


def report_content(analysis: AnalysisRequest, done: dict[str, list[AnalysisStep]], fusion: dict[str, Any]) -> dict[str, Any]:
    risk = done[StepKind.RISK][0].result
    imaging = [s.result for s in done.get(StepKind.IMAGING, [])]
    content: dict[str, Any] = {
        "schema": "cdss.report/1",
        "patient_id": analysis.patient_id,
        "request": {
            "id": analysis.pk,
            "requested_by_user_id": analysis.requested_by_id,
            "requested_at": analysis.created_at.isoformat(),
            "models": analysis.model_keys,
            "series_uids": analysis.series_uids,
        },
        "inputs": {
            "scores_request": risk["request"],
            "inputs_used": risk.get("inputs_used", []),
            "window_days": risk.get("window_days"),
            "imaging": [
                {"series_uid": r.get("series_uid"), "sop_instance_uids": r.get("sop_instance_uids", [])}
                for r in imaging if r.get("kind") != "noop"
            ],
        },
        "models": [r["model"] for r in imaging],
        "code_version": code_version(),
        "imaging_findings": [
            {k: r[k] for k in ("kind", "series_uid", "model", "findings", "seg", "abstention") if k in r} for r in imaging
        ],
        "scores": risk["response"]["scores"],
        "modifiers": risk["response"].get("modifiers", []),
        "learned_risk": risk.get("learned", []),
        "recommendations": fusion["recommendations"],
        "gaps": fusion["gaps"],
        "staging": fusion["staging"],
        # Each model finding with its review state when this version was made (proposed,
        # accepted, edited, rejected; clinician-entered); "notice" while any is proposed.
        "findings_review": fusion.get("findings_review") or findings_review_block([]),
        "explanations": {
            "imaging": [r.get("explanations", {}) for r in imaging if r.get("explanations")],
            "learned_risk": [m.get("contributions") for m in risk.get("learned", []) if m.get("contributions")],
        },
        "intended_use": INTENDED_USE,
        "generated_at": timezone.now().isoformat(),
    }
    # The record's lung nodules scored now (a decision on a nodule finding changes the record);
    # only when the record held nodules at the risk step or a nodule finding now counts.
    counted_nodule = any(f.get("kind") == "nodule" and f.get("counts") for f in content["findings_review"].get("findings", []))
    in_record = "lung_nodules" in risk["request"].get("findings", {})
    content["lung_nodules"] = lung_nodule_scores(patient=analysis.patient) if in_record or counted_nodule else {}
    content["scores"] = {**content["scores"], **content["lung_nodules"].pop("results", {})}
    return content


def run_report(step: AnalysisStep, steps_in_hand: list[AnalysisStep] | None = None) -> dict[str, Any]:
    analysis = step.request
    done = _done_steps(analysis, steps_in_hand)
    fusion = done[StepKind.FUSION][0].result
    findings = list(ImagingFinding.objects.filter(analysis=analysis).select_related("decided_by").order_by("kind", "id"))
    if fusion.get("findings_review", {}).get("findings", []) != findings_review_block(findings)["findings"]:
        # A clinician decided on a finding between fusion and now: fuse again with the decision.
        fusion = fusion_compute(analysis, done, findings)
    # Signed second opinions that no report version carries yet join this report.
    content = second_opinions_add_unreported(patient_id=analysis.patient_id, content=report_content(analysis, done, fusion))
    report = report_create_for_request(analysis=analysis, content=content)
    return {"report_id": report.pk, "version": report.version, "sha256": report.content_sha256}


def report_content_recompute(*, analysis: AnalysisRequest, derived_from: Report) -> dict[str, Any]:
    """The content of a new draft version of the analysis's report, fused again from its stored
    step results with the findings as decided now."""
    done = _done_steps(analysis, None)
    if StepKind.RISK not in done or StepKind.FUSION not in done:
        raise FindingsNotReady("The analysis has not finished fusing its results yet.")
    findings = list(ImagingFinding.objects.filter(analysis=analysis).select_related("decided_by").order_by("kind", "id"))
    content = report_content(analysis, done, fusion_compute(analysis, done, findings))
    content["derived_from"] = {"report_id": derived_from.pk, "version": derived_from.version, "reason": "finding_decision"}
    return content


def step_run(step: AnalysisStep, *, steps_in_hand: list[AnalysisStep] | None = None) -> dict[str, Any]:
    """Run one step. ``steps_in_hand``: the request's steps as the transaction that claimed this
    one left them (fusion and report read the results before theirs from them)."""
    kind = StepKind(step.kind)
    if kind == StepKind.FUSION:
        return run_fusion(step, steps_in_hand)
    if kind == StepKind.REPORT:
        return run_report(step, steps_in_hand)
    return run_imaging(step) if kind == StepKind.IMAGING else run_risk(step)
