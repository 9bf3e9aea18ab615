"""The report lifecycle's rules: who may sign, amend and release a report, and when a version
can be. Each refusal is an error with a stable code; ``inference.reports.services`` applies
these under the patient's report locks, and the API shows them (``may_sign``, ``sign_blocker``).
"""

from __future__ import annotations

from typing import Any

from cdss.accounts.models import Role
from cdss.core.errors import Conflict, PermissionDenied
from inference.models import Report, ReportStatus


class ReportSignerRequired(PermissionDenied):
    code = "report_signer_required"


class ReportAlreadySigned(Conflict):
    code = "report_already_signed"


class ReportNotCurrent(Conflict):
    code = "report_not_current"


class ReportFindingsUndecided(Conflict):
    code = "report_findings_undecided"


class ReportNotSigned(Conflict):
    code = "report_not_signed"


class ReportAlreadyReleased(Conflict):
    code = "report_already_released"


def report_user_may_sign(user: Any) -> bool:
    """Clinicians and admins sign, amend, release and decide findings; consultants and
    patients read only (the report itself is reached through ``inference.selectors``)."""
    return getattr(user, "role", None) in (Role.CLINICIAN, Role.ADMIN)


def report_require_signer(user: Any, *, what: str = "sign or amend reports") -> None:
    if not report_user_may_sign(user):
        raise ReportSignerRequired(f"Only clinicians may {what}.")


def report_findings_pending(report: Report) -> int:
    """How many findings of the report's analysis were still undecided when it was made."""
    review = report.content.get("findings_review") or {}
    return int(review.get("proposed") or 0)


def report_sign_blocker(report: Report, *, reports: list[Report] | None = None) -> Conflict | None:
    """Why this report cannot be signed now, or None. ``reports``: the patient's reports, when
    the caller has them (locked); otherwise read."""
    if report.status != ReportStatus.DRAFT:
        return ReportAlreadySigned("Only a draft report can be signed.")
    pending = report_findings_pending(report)
    if pending:
        return ReportFindingsUndecided(
            f"{pending} AI finding(s) in this report are still proposed: accept, edit or reject each one first.",
            detail={"proposed": pending},
        )
    others = reports if reports is not None else list(Report.objects.filter(patient_id=report.patient_id))
    current = next((r for r in others if r.status == ReportStatus.FINAL), None)
    if report.amends_id is not None and (current is None or current.pk != report.amends_id):
        return ReportNotCurrent("The version this draft amends is no longer the current signed one.",
                                detail={"current_report_id": current.pk if current else None})
    if current is not None and current.version > report.version:
        return ReportNotCurrent("A newer version is already signed; this older draft can no longer be signed.",
                                detail={"current_report_id": current.pk})
    if report.analysis_id is not None:
        newer = [r for r in others if r.analysis_id == report.analysis_id and r.version > report.version and r.derived_from_id]
        if newer:
            return ReportNotCurrent("Findings were decided since this draft was made: sign the newer draft.",
                                    detail={"newer_report_id": max(newer, key=lambda r: r.version).pk})
    return None


def report_amend_blocker(report: Report) -> Conflict | None:
    """A signed report is never edited; only the current signed version takes an amendment."""
    if report.status != ReportStatus.FINAL:
        return ReportNotCurrent("Only the current signed version can be amended.")
    return None


def report_release_blocker(report: Report) -> Conflict | None:
    """Only the current signed version is released to the patient, once."""
    if report.status == ReportStatus.DRAFT:
        return ReportNotSigned("Only a signed report can be released to the patient.")
    if report.released_at is not None:
        return ReportAlreadyReleased("This report was already released to the patient.")
    if report.status != ReportStatus.FINAL:
        return ReportNotCurrent("Only the current signed version can be released.")
    return None
