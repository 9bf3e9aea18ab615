"""Findings of an analysis: stored as reviewable rows, decided by clinicians, read by fusion.

A model's finding (a liver lesion, the liver segmentation, an image classification; later lung
nodules) is stored ``proposed`` when the analysis first fuses its results. A clinician accepts,
edits (relabels; corrects a diameter or volume, with the reason) or rejects it, or enters a
finding of their own. Only accepted, edited and clinician-entered findings feed staging,
recommendations and scores (``findings_counted_for_fusion``).

Reports stay immutable: a set of decisions makes a *new draft version* of the analysis's report,
recomputed from the stored step results and the findings as decided now; the signed version,
if any, stays current until that draft is signed. Every decision is a ``FindingDecision`` row
and an audit entry. The recomputation belongs to the analysis workflow, which sits above this
module: ``inference.apps`` hands it in once at start-up (``report_content_recompute_install``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from cdss.core.errors import Conflict, ValidationFailed
from inference.models import (
    FINDING_COUNTED_STATUSES,
    AnalysisRequest,
    FindingDecision,
    FindingKind,
    FindingSource,
    FindingStatus,
    ImagingFinding,
    Report,
)
from inference.reports.opinions import second_opinions_carry
from inference.reports.services import (
    report_draft_create,
    report_patient_lock,
    report_require_signer,
    user_display_name,
)
from patients.models import LungNodule
from patients.services.events import record_changed_publish
from patients.services.nodules import lung_nodule_from_finding

# Labels a clinician may give a finding, by kind; the first is what a model's finding starts as.
LESION_LABELS = ("liver_lesion", "suspected_hcc", "suspected_metastasis", "cyst", "haemangioma", "other_benign")
# Lesions with these labels count as tumours for staging (BCLC) and the lesion count.
TUMOUR_LABELS = frozenset({"liver_lesion", "suspected_hcc", "suspected_metastasis"})
# Lung nodule labels; an accepted or edited nodule is copied into the record's lung nodules.
NODULE_LABELS = ("lung_nodule", "suspected_malignancy", "benign", "other")
SEGMENTATION_LABELS = ("liver", "brain_tumour")
# Values a clinician may correct, by kind, with their unit.
EDITABLE_VALUES: dict[str, dict[str, str]] = {
    FindingKind.LESION: {"longest_axial_diameter_mm": "mm", "volume_ml": "mL"},
    FindingKind.NODULE: {"long_axis_mm": "mm", "short_axis_mm": "mm", "volume_mm3": "mm3"},
    FindingKind.SEGMENTATION: {"volume_ml": "mL"},
    FindingKind.CLASSIFICATION: {},
}
MAX_MEASURE = {"longest_axial_diameter_mm": 400.0, "volume_ml": 5000.0, "long_axis_mm": 100.0, "short_axis_mm": 100.0,
               "volume_mm3": 600_000.0}


class FindingDecisionInvalid(ValidationFailed):
    code = "finding_decision_invalid"


class FindingsNotReady(Conflict):
    code = "findings_not_ready"


def _measure(value: Any) -> float | None:
    if isinstance(value, dict):
        value = value.get("value")
    return None if value is None else float(value)


def _lesion_values(lesion: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "longest_axial_diameter_mm": _measure(lesion.get("longest_axial_diameter")),
        "volume_ml": _measure(lesion.get("volume")),
        "mean_density_hu": _measure(lesion.get("mean_density")),
    }
    for key in ("slice_range", "key_slice", "confidence"):
        if key in lesion:
            values[key] = lesion[key]
    return values


def _brain_tumour_values(findings: dict[str, Any]) -> dict[str, Any]:
    """The glioma as one finding: whole tumour volume (editable), core and enhancing volumes, hemisphere."""
    regions = findings.get("regions") or {}
    return {
        "volume_ml": _measure((regions.get("whole_tumour") or {}).get("volume")),
        "tumour_core_ml": _measure((regions.get("tumour_core") or {}).get("volume")),
        "enhancing_tumour_ml": _measure((regions.get("enhancing_tumour") or {}).get("volume")),
        "hemisphere": (findings.get("location") or {}).get("hemisphere"),
    }


def _nodule_values(nodule: dict[str, Any]) -> dict[str, Any]:
    """A detected lung nodule as the record's fields (type in the scores' words)."""
    centre = nodule.get("centre_lps_mm") or [None, None, None]
    values: dict[str, Any] = {
        "nodule_type": {"ground-glass": "non_solid", "part-solid": "part_solid"}.get(str(nodule.get("type")), nodule.get("type")),
        "centre_x_mm": centre[0], "centre_y_mm": centre[1], "centre_z_mm": centre[2],
    }
    for key in ("long_axis_mm", "short_axis_mm", "mean_diameter_mm", "volume_mm3", "mean_hu", "calcified", "upper_lobe",
                "confidence", "key_slice", "slice_range"):
        values[key] = nodule.get(key)
    return values


def _proposals(result: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(kind, source_ref, label, values) of each finding in one imaging step's result."""
    findings = result.get("findings") or {}
    out: list[tuple[str, str, str, dict[str, Any]]] = []
    if result.get("kind") == "segmentation":
        liver = findings.get("liver") or {}
        if liver.get("present"):
            out.append((FindingKind.SEGMENTATION, "liver", "liver",
                        {"volume_ml": _measure(liver.get("volume")), "mean_density_hu": _measure(liver.get("mean_density"))}))
        for lesion in findings.get("lesions") or []:
            out.append((FindingKind.LESION, f"lesion:{lesion.get('id')}", LESION_LABELS[0], _lesion_values(lesion)))
        if findings.get("tumour_detected"):  # brain_mri_seg: one finding for the segmented glioma
            out.append((FindingKind.SEGMENTATION, "brain_tumour", "brain_tumour", _brain_tumour_values(findings)))
    elif result.get("kind") == "detection":
        for nodule in findings.get("nodules") or []:
            out.append((FindingKind.NODULE, f"nodule:{nodule.get('id')}", NODULE_LABELS[0], _nodule_values(nodule)))
    elif result.get("kind") == "classification":
        for prediction in findings.get("predictions") or []:
            out.append((FindingKind.CLASSIFICATION, f"prediction:{prediction.get('sop_instance_uid')}",
                        str(prediction.get("label") or "finding")[:32],
                        {"probability": prediction.get("probability"), "threshold": prediction.get("threshold"),
                         "positive": prediction.get("positive"), "sop_instance_uid": prediction.get("sop_instance_uid")}))
    return out


def findings_sync_from_imaging(*, analysis: AnalysisRequest, imaging: list[tuple[str, dict[str, Any]]]) -> list[ImagingFinding]:
    """Store each model finding of the analysis's imaging steps once (``(step key, result)``
    pairs), ``proposed``; a repeated delivery finds the rows already there. Returns every
    finding of the analysis, clinician-entered ones included."""
    rows = []
    for step_key, result in imaging:
        model = result.get("model") or {}
        for kind, ref, label, values in _proposals(result):
            rows.append(ImagingFinding(
                analysis=analysis, patient_id=analysis.patient_id, kind=kind, source=FindingSource.MODEL,
                step_key=step_key, source_ref=ref[:200], series_uid=str(result.get("series_uid") or "")[:64],
                model_key=str(model.get("key") or "")[:64], model_version=str(model.get("version") or "")[:32],
                label=label, proposed=values, values=values,
            ))
    if rows:
        ImagingFinding.objects.bulk_create(rows, ignore_conflicts=True)
    return list(ImagingFinding.objects.filter(analysis=analysis).select_related("decided_by").order_by("kind", "id"))


def finding_counts_as_tumour(finding: ImagingFinding) -> bool:
    return finding.kind in (FindingKind.LESION, FindingKind.NODULE) and finding.label in TUMOUR_LABELS


def findings_counted_for_fusion(findings: list[ImagingFinding]) -> dict[str, Any]:
    """What fusion may read: the counted lesions (as measurements) and the counted image
    classifications (by SOP instance), and how many findings still wait for a decision."""
    counted = [f for f in findings if f.status in FINDING_COUNTED_STATUSES]
    lesions = [
        {"longest_axial_diameter_mm": f.values.get("longest_axial_diameter_mm"), "volume_ml": f.values.get("volume_ml"),
         "finding_id": f.pk, "source": f.source}
        for f in counted if f.kind == FindingKind.LESION and finding_counts_as_tumour(f)
    ]
    classifications = {str(f.values.get("sop_instance_uid")): f.label for f in counted if f.kind == FindingKind.CLASSIFICATION}
    pending = sum(f.status == FindingStatus.PROPOSED for f in findings)
    has_lesion_findings = any(f.kind == FindingKind.LESION for f in findings)
    return {"lesions": lesions, "classifications": classifications, "pending": pending,
            "reviewed": has_lesion_findings, "clinician_entered": any(f.source == FindingSource.CLINICIAN for f in counted)}


def finding_as_dict(finding: ImagingFinding) -> dict[str, Any]:
    return {
        "id": finding.pk, "analysis": finding.analysis_id, "kind": finding.kind, "source": finding.source,
        "label": finding.label, "status": finding.status, "counts": finding.counts,
        "counts_as_tumour": finding_counts_as_tumour(finding),
        "series_uid": finding.series_uid, "model_key": finding.model_key, "model_version": finding.model_version,
        "source_ref": finding.source_ref, "values": finding.values, "proposed": finding.proposed,
        "decided_by": user_display_name(finding.decided_by), "decided_at": finding.decided_at.isoformat() if finding.decided_at else None,
        "reason": finding.reason,
    }


def findings_review_block(findings: list[ImagingFinding]) -> dict[str, Any]:
    """The report's record of the findings as they stood when it was made (content field
    ``findings_review``): counts by status, each finding, and a notice while any is proposed."""
    counts = {status.value: sum(f.status == status for f in findings) for status in FindingStatus}
    entered = sum(f.source == FindingSource.CLINICIAN for f in findings)
    pending = counts[FindingStatus.PROPOSED]
    state = "none" if not findings else ("proposed" if pending else "reviewed")
    notice = (
        f"Made from {pending} AI finding(s) that no clinician has reviewed yet. They do not count towards staging, "
        "recommendations or scores until accepted; this report cannot be signed until every finding is decided."
        if pending else ""
    )
    return {"state": state, **counts, "entered": entered, "notice": notice,
            "findings": [finding_as_dict(f) for f in findings]}


@dataclass(frozen=True)
class Decision:
    finding_id: int
    status: str
    reason: str = ""
    label: str | None = None
    values: dict[str, Any] | None = None


def _labels_for(kind: str) -> tuple[str, ...] | None:
    if kind == FindingKind.LESION:
        return LESION_LABELS
    if kind == FindingKind.NODULE:
        return NODULE_LABELS
    if kind == FindingKind.SEGMENTATION:
        return SEGMENTATION_LABELS
    return None  # classifications keep the model's own label set; any short label is allowed


def _checked_values(kind: str, values: dict[str, Any]) -> dict[str, float]:
    allowed = EDITABLE_VALUES.get(kind, {})
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise FindingDecisionInvalid(f"These values cannot be corrected on a {kind}: {', '.join(unknown)}.",
                                     detail={"values": unknown, "allowed": sorted(allowed)})
    checked: dict[str, float] = {}
    for key, raw in values.items():
        try:
            number = float(raw)
        except (TypeError, ValueError) as exc:
            raise FindingDecisionInvalid(f"{key} must be a number in {allowed[key]}.", detail={"field": key}) from exc
        if not math.isfinite(number) or number <= 0 or number > MAX_MEASURE.get(key, math.inf):
            raise FindingDecisionInvalid(f"{key} must be above 0 and at most {MAX_MEASURE.get(key)} {allowed[key]}.",
                                         detail={"field": key})
        checked[key] = round(number, 1)
    return checked


def _decision_check(finding: ImagingFinding, decision: Decision) -> tuple[str, dict[str, Any]]:
    """The label and values a decision leaves on the finding (validated)."""
    if decision.status not in (FindingStatus.ACCEPTED, FindingStatus.EDITED, FindingStatus.REJECTED):
        raise FindingDecisionInvalid("A decision is accepted, edited or rejected.", detail={"status": decision.status})
    reason = decision.reason.strip()
    if decision.status in (FindingStatus.EDITED, FindingStatus.REJECTED) and not reason:
        raise FindingDecisionInvalid("Give the reason for an edit or a rejection.", detail={"field": "reason"})
    if decision.status != FindingStatus.EDITED:
        if decision.label is not None or decision.values:
            raise FindingDecisionInvalid("Only an edit changes the label or values.")
        return finding.label, dict(finding.values)
    label = decision.label if decision.label is not None else finding.label
    labels = _labels_for(finding.kind)
    if (labels is not None and label not in labels) or not label or len(label) > 32:
        raise FindingDecisionInvalid(f"Unknown label {label!r} for a {finding.kind}.", detail={"labels": list(labels or ())})
    values = {**finding.values, **_checked_values(finding.kind, decision.values or {})}
    if label == finding.label and values == finding.values:
        raise FindingDecisionInvalid("An edit must change the label or a value.")
    return label, values


def findings_decide(*, actor: Any, analysis: AnalysisRequest, decisions: list[Decision], request: Any = None) -> tuple[list[ImagingFinding], Report | None]:
    """Record decisions on findings of one analysis, then make the new draft report version
    that reflects them. All or nothing: one invalid decision changes nothing."""
    report_require_signer(actor, what="decide on findings")
    if not decisions:
        raise FindingDecisionInvalid("No decision given.")
    ids = [d.finding_id for d in decisions]
    if len(set(ids)) != len(ids):
        raise FindingDecisionInvalid("One decision per finding.")
    with transaction.atomic():
        reports = report_patient_lock(analysis.patient_id)
        locked = {f.pk: f for f in ImagingFinding.objects.select_for_update().filter(analysis=analysis, pk__in=ids).order_by("pk")}
        missing = sorted(set(ids) - set(locked))
        if missing:
            raise FindingDecisionInvalid("These findings are not findings of this analysis.", detail={"findings": missing})
        now = timezone.now()
        for decision in decisions:
            finding = locked[decision.finding_id]
            label, values = _decision_check(finding, decision)
            changes = {k: [finding.values.get(k), v] for k, v in values.items() if finding.values.get(k) != v}
            if label != finding.label:
                changes["label"] = [finding.label, label]
            finding.status, finding.label, finding.values = decision.status, label, values
            finding.decided_by, finding.decided_at, finding.reason = actor, now, decision.reason.strip()[:2000]
            finding.save(update_fields=["status", "label", "values", "decided_by", "decided_at", "reason"])
            FindingDecision.objects.create(finding=finding, status=decision.status, decided_by=actor, decided_at=now,
                                           reason=finding.reason, label=label, values=values)
            audit_record(actor=actor, action=AuditAction.UPDATE, object_type="imaging_finding", object_id=finding.pk,
                         patient_id=analysis.patient_id, request=request,
                         detail={"decision": decision.status, "changes": changes, "reason": finding.reason})
        _nodules_to_record(actor=actor, analysis=analysis, findings=list(locked.values()), request=request)
        draft = _draft_recompute(actor=actor, analysis=analysis, reports=reports, request=request)
        record_changed_publish(patient_id=analysis.patient_id, record="finding", action="decided", ids=sorted(locked))
    findings = list(ImagingFinding.objects.filter(analysis=analysis).select_related("decided_by").order_by("kind", "id"))
    return findings, draft


def finding_enter(
    *, actor: Any, analysis: AnalysisRequest, kind: str, label: str, values: dict[str, Any], reason: str = "",
    series_uid: str = "", request: Any = None,
) -> tuple[ImagingFinding, Report | None]:
    """A finding a clinician saw and enters: it counts at once (no review of one's own entry)."""
    report_require_signer(actor, what="enter findings")
    if kind not in (FindingKind.LESION, FindingKind.NODULE):
        raise FindingDecisionInvalid("A clinician enters lesions or nodules.", detail={"kind": kind})
    labels = _labels_for(kind) or ()
    if label not in labels:
        raise FindingDecisionInvalid(f"Unknown label {label!r}.", detail={"labels": list(labels)})
    checked = _checked_values(kind, values)
    if kind == FindingKind.NODULE and "long_axis_mm" not in checked:
        raise FindingDecisionInvalid("Give the nodule's long axis in mm.", detail={"field": "long_axis_mm"})
    if kind == FindingKind.LESION and "longest_axial_diameter_mm" not in checked:
        raise FindingDecisionInvalid("Give the lesion's longest axial diameter in mm.", detail={"field": "longest_axial_diameter_mm"})
    with transaction.atomic():
        reports = report_patient_lock(analysis.patient_id)
        now = timezone.now()
        ref = f"clinician:{actor.pk}:{now.timestamp()}"
        try:
            with transaction.atomic():
                finding = ImagingFinding.objects.create(
                    analysis=analysis, patient_id=analysis.patient_id, kind=kind, source=FindingSource.CLINICIAN,
                    step_key="", source_ref=ref, series_uid=series_uid[:64], label=label, proposed={}, values=checked,
                    status=FindingStatus.ACCEPTED, decided_by=actor, decided_at=now, reason=reason.strip()[:2000],
                    created_by=actor,
                )
        except IntegrityError as exc:
            raise Conflict("The same finding was just entered.", code="finding_duplicate") from exc
        FindingDecision.objects.create(finding=finding, status=FindingStatus.ACCEPTED, decided_by=actor, decided_at=now,
                                       reason=finding.reason, label=label, values=checked)
        audit_record(actor=actor, action=AuditAction.CREATE, object_type="imaging_finding", object_id=finding.pk,
                     patient_id=analysis.patient_id, request=request, detail={"kind": kind, "label": label, "values": checked})
        _nodules_to_record(actor=actor, analysis=analysis, findings=[finding], request=request)
        draft = _draft_recompute(actor=actor, analysis=analysis, reports=reports, request=request)
        record_changed_publish(patient_id=analysis.patient_id, record="finding", action="entered", ids=[finding.pk])
    return finding, draft


def _nodules_to_record(*, actor: Any, analysis: AnalysisRequest, findings: list[ImagingFinding], request: Any) -> None:
    """Counted nodule findings become the record's lung nodules (once each); a rejected one leaves
    the record. A nodule without a type (one entered here, whose values are measurements only) is
    not copied: the scores need the type, and the record's own API takes it with the nodule."""
    for finding in findings:
        if finding.kind != FindingKind.NODULE:
            continue
        if finding.status not in FINDING_COUNTED_STATUSES:
            LungNodule.objects.filter(patient_id=analysis.patient_id, finding_id=finding.pk).delete()
            continue
        if not finding.values.get("nodule_type"):
            continue
        if finding.status == FindingStatus.EDITED:  # a corrected axis makes the stored mean stale
            LungNodule.objects.filter(patient_id=analysis.patient_id, finding_id=finding.pk).delete()
        lung_nodule_from_finding(
            actor=actor, patient=analysis.patient, finding_id=finding.pk, observed_on=analysis.created_at.date(),
            values=finding.values, series_uid=finding.series_uid, model_key=finding.model_key,
            model_version=finding.model_version, request=request,
        )


ContentRecompute = Callable[..., dict[str, Any]]
_content_recompute: list[ContentRecompute] = []


def report_content_recompute_install(recompute: ContentRecompute) -> None:
    """Called once by ``inference.apps``: how a report's content is fused again from its
    analysis's stored step results (``recompute(analysis=..., derived_from=...)``)."""
    _content_recompute[:] = [recompute]


def _draft_recompute(*, actor: Any, analysis: AnalysisRequest, reports: dict[int, Report], request: Any) -> Report | None:
    """The new draft version after decisions; None while the analysis has no report yet (its
    report step will read the decisions itself)."""
    if not _content_recompute:
        raise RuntimeError("report content recomputation is not installed (inference.apps.ready)")
    report_content_recompute = _content_recompute[0]
    versions = [r for r in reports.values() if r.analysis_id == analysis.pk]
    if not versions:
        return None
    base = max(versions, key=lambda r: r.version)
    content = report_content_recompute(analysis=analysis, derived_from=base)
    content = second_opinions_carry(base.content, content)
    draft = report_draft_create(actor=actor, patient_id=analysis.patient_id, content=content, analysis_id=analysis.pk, derived_from=base)
    audit_record(actor=actor, action=AuditAction.CREATE, object_type="report", object_id=draft.pk,
                 patient_id=analysis.patient_id, request=request, detail={"derived_from": base.pk, "reason": "finding_decision"})
    record_changed_publish(patient_id=analysis.patient_id, record="report", action="created", ids=[draft.pk])
    return draft
