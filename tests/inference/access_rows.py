"""Access rows for analyses, reports, their exports and findings (run by tests/core/test_access_table.py).

A patient reaches only the released reports of their own record (the patient version), and
gets the same 404 as for a missing object on every draft or unreleased report, its exports,
every analysis and every finding.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from tests.access_table import ANY_USER, PATIENT_READ, Endpoint

CREATE_ANALYSIS = {
    "anonymous": 401, "clinician": 201, "other_clinician": 404, "consultant": 403,
    "patient_self": 403, "patient_other": 404, "admin": 201,
}
# Clinical working material (analyses, drafts, unreleased reports, findings): the care team and
# the consultant read it; patients, even of their own record, get 404.
CLINICAL_READ = {**PATIENT_READ, "patient_self": 404}
ANALYSES_LIST = {**ANY_USER, "patient_self": 404, "patient_other": 404}
# Lifecycle actions: clinicians of the team and admins; the consultant may see but not act (403);
# the patient cannot even see an unreleased report (404).
SIGNER_ACTION = {**CLINICAL_READ, "consultant": 403}
SIGNER_CREATE = {**SIGNER_ACTION, "clinician": 201, "admin": 201}
# A released report the patient may read but never sign: 403, and 409 for the clinicians
# (it is signed already).
SIGN_RELEASED = {**PATIENT_READ, "clinician": 409, "admin": 409, "consultant": 403, "patient_self": 403}
# The DICOM SR download of a report whose SR is still pending: 409 for whoever may read it.
SR_PENDING_RELEASED = {role: 409 if code == 200 else code for role, code in PATIENT_READ.items()}
SR_PENDING_HELD = {role: 409 if code == 200 else code for role, code in CLINICAL_READ.items()}


def _reports(world: Any) -> dict[str, int]:
    """v1 signed and released, then replaced; v2 the current signed version, held; v3 a draft."""
    built = getattr(world, "_access_reports", None)
    if built is not None:
        return built
    from inference.models import AnalysisRequest, Report, ReportStatus
    from inference.reports.content import content_sha256

    analysis = AnalysisRequest.objects.create(patient=world.patient, requested_by=world.clinician,
                                              idempotency_key="access-table-report", status="succeeded")
    content = {"schema": "cdss.report/1", "patient_id": world.patient.pk, "scores": {}, "recommendations": [],
               "gaps": [], "models": [], "imaging_findings": [], "intended_use": "Supports, does not replace."}
    now = timezone.now()

    def report(version: int, status: str, **fields: Any) -> Report:
        return Report.objects.create(patient=world.patient, analysis=analysis, version=version, status=status,
                                     content=content, content_sha256=content_sha256(content),
                                     created_by=world.clinician, **fields)

    # Their DICOM SRs are still owed to the PACS: whoever may see one is told so (409).
    pending_sr = {"status": "pending", "documents": []}
    released = report(1, ReportStatus.SUPERSEDED, signed_by=world.clinician, signed_at=now,
                      released_by=world.clinician, released_at=now, sr=pending_sr)
    held = report(2, ReportStatus.FINAL, signed_by=world.clinician, signed_at=now, supersedes=released, sr=pending_sr)
    draft = report(3, ReportStatus.DRAFT)
    # A finding of a second analysis that has no report yet (a decision then makes no draft).
    from inference.models import ImagingFinding

    second = AnalysisRequest.objects.create(patient=world.patient, requested_by=world.clinician,
                                            idempotency_key="access-table-finding", status="running")
    finding = ImagingFinding.objects.create(analysis=second, patient=world.patient, kind="lesion", step_key="imaging:x:",
                                            source_ref="lesion:1", label="liver_lesion",
                                            proposed={"longest_axial_diameter_mm": 18.0}, values={"longest_axial_diameter_mm": 18.0})
    built = {"released": released.pk, "held": held.pk, "draft": draft.pk, "analysis": analysis.pk,
             "finding": finding.pk, "finding_analysis": second.pk}
    world._access_reports = built
    return built


ACCESS_PLACEHOLDERS = {
    "released_report": lambda world: _reports(world)["released"],
    "held_report": lambda world: _reports(world)["held"],
    "draft_report": lambda world: _reports(world)["draft"],
    "analysis": lambda world: _reports(world)["analysis"],
    "finding": lambda world: _reports(world)["finding"],
    "finding_analysis": lambda world: _reports(world)["finding_analysis"],
}

R = "/api/v1/reports"
EXPORTS = ("pdf", "html", "fhir")

ACCESS_ROWS = [
    Endpoint("POST", "/api/v1/scores/evaluate", ANY_USER, {"patient": {"age_years": 61, "sex": "male"}, "observations": [], "scores": ["meld"]}),
    Endpoint("GET", "/api/v1/patients/{patient}/scores/", PATIENT_READ),
    Endpoint("GET", "/api/v1/patients/{patient}/reports/", PATIENT_READ),
    Endpoint("GET", "/api/v1/analyses/", ANALYSES_LIST),
    Endpoint("GET", "/api/v1/analyses/models/", ANY_USER),
    Endpoint("POST", "/api/v1/analyses/", CREATE_ANALYSIS, {"patient": "{patient}", "models": ["noop"], "idempotency_key": "access-table"}),
    Endpoint("GET", "/api/v1/analyses/{analysis}/", CLINICAL_READ),
    # Reports and every export: the released one reaches the patient, the others never do.
    Endpoint("GET", R + "/{released_report}/", PATIENT_READ),
    *(Endpoint("GET", R + "/{released_report}/export/" + fmt + "/", PATIENT_READ) for fmt in EXPORTS),
    Endpoint("GET", R + "/{held_report}/", CLINICAL_READ),
    *(Endpoint("GET", R + "/{held_report}/export/" + fmt + "/", CLINICAL_READ) for fmt in EXPORTS),
    Endpoint("GET", R + "/{draft_report}/", CLINICAL_READ),
    *(Endpoint("GET", R + "/{draft_report}/export/" + fmt + "/", CLINICAL_READ) for fmt in EXPORTS),
    Endpoint("GET", R + "/{released_report}/export/dcm/", SR_PENDING_RELEASED),
    Endpoint("GET", R + "/{held_report}/export/dcm/", SR_PENDING_HELD),
    Endpoint("GET", R + "/{draft_report}/export/dcm/", SR_PENDING_HELD),  # a draft has none: 409 too
    # Lifecycle steps.
    Endpoint("POST", R + "/{draft_report}/sign/", SIGNER_ACTION, {"comment": "ok"}),
    Endpoint("POST", R + "/{held_report}/release/", SIGNER_ACTION),
    Endpoint("POST", R + "/{held_report}/amend/", SIGNER_CREATE, {"text": "addendum"}),
    Endpoint("POST", R + "/{released_report}/sign/", SIGN_RELEASED, {"comment": "ok"}),
    # Findings: clinical working material, decided by clinicians.
    Endpoint("GET", "/api/v1/analyses/{finding_analysis}/findings/", CLINICAL_READ),
    Endpoint("GET", R + "/{draft_report}/findings/", CLINICAL_READ),
    Endpoint("GET", "/api/v1/patients/{patient}/imaging-findings/", CLINICAL_READ),
    Endpoint("GET", "/api/v1/findings/{finding}/", CLINICAL_READ),
    Endpoint("POST", "/api/v1/findings/{finding}/decide/", SIGNER_ACTION, {"status": "accepted"}),
    Endpoint("POST", "/api/v1/analyses/{finding_analysis}/findings/", SIGNER_CREATE,
             {"label": "liver_lesion", "values": {"longest_axial_diameter_mm": 20}}),
]
