"""Reports: created once per analysis request, immutable, versioned per patient, signed off."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from cdss.core.errors import Conflict
from inference.models import AnalysisRequest, Report, ReportStatus
from inference.reports.content import content_sha256
from patients.services.events import record_changed_publish

ROOT = Path(__file__).resolve().parents[2]


@cache
def code_version() -> str:
    """The commit the running code came from, so a report can be traced to its code."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class ReportAlreadySigned(Conflict):
    code = "report_already_signed"


class ReportNotCurrent(Conflict):
    code = "report_not_current"


def _next_version(patient_id: int) -> int:
    return (Report.objects.filter(patient_id=patient_id).aggregate(v=Max("version"))["v"] or 0) + 1


def report_create_for_request(*, analysis: AnalysisRequest, content: dict[str, Any]) -> Report:
    """The request's one report; a second delivery of the report step returns the first.

    The request's unique report tells a repeat: the insert is tried first, and a repeat (or a
    version number another report took) rolls back and is looked into then.
    """
    for _ in range(5):
        try:
            with transaction.atomic():
                report = Report.objects.create(
                    patient_id=analysis.patient_id, request=analysis, version=_next_version(analysis.patient_id),
                    content=content, content_sha256=content_sha256(content), created_by_id=analysis.requested_by_id,
                )
                record_changed_publish(patient_id=analysis.patient_id, record="report", action="created", ids=[report.pk])
                return report
        except IntegrityError:
            existing = Report.objects.filter(request=analysis).first()
            if existing is not None:
                return existing
            # Another report of this patient took the version number: try the next one.
    raise Conflict("Could not allocate a report version.", code="report_version_conflict")


def report_verify(report: Report) -> bool:
    return content_sha256(report.content) == report.content_sha256


@transaction.atomic
def report_sign(*, actor: Any, report: Report, comment: str = "", request: Any = None) -> Report:
    locked = Report.objects.select_for_update().get(pk=report.pk)
    if locked.status != ReportStatus.DRAFT:
        raise ReportAlreadySigned("Only a draft report can be signed.")
    if not report_verify(locked):
        raise Conflict("The report content does not match its hash.", code="report_tampered")
    locked.status = ReportStatus.FINAL
    locked.signed_by = actor
    locked.signed_at = timezone.now()
    locked.sign_comment = comment[:2000]
    locked.save(update_fields=["status", "signed_by", "signed_at", "sign_comment"])
    audit_record(actor=actor, action=AuditAction.UPDATE, object_type="report", object_id=locked.pk,
                 patient_id=locked.patient_id, request=request, detail={"change": "signed"})
    record_changed_publish(patient_id=locked.patient_id, record="report", action="signed", ids=[locked.pk])
    return locked


@transaction.atomic
def report_amend(*, actor: Any, report: Report, amendment: str, request: Any = None) -> Report:
    """A signed report is never edited: the amendment is a new draft version superseding it."""
    locked = Report.objects.select_for_update().get(pk=report.pk)
    if hasattr(locked, "superseded_by"):
        raise ReportNotCurrent("This version was already amended; amend the latest version.")
    content = dict(locked.content)
    content["amendment"] = {"of_report_id": locked.pk, "of_version": locked.version, "text": amendment[:5000],
                            "by_user_id": actor.pk, "at": timezone.now().isoformat()}
    new = Report.objects.create(
        patient_id=locked.patient_id, request=None, version=_next_version(locked.patient_id), supersedes=locked,
        content=content, content_sha256=content_sha256(content), created_by=actor,
    )
    if locked.status == ReportStatus.FINAL:
        locked.status = ReportStatus.AMENDED
        locked.save(update_fields=["status"])
    audit_record(actor=actor, action=AuditAction.CREATE, object_type="report", object_id=new.pk,
                 patient_id=new.patient_id, request=request, detail={"amends": locked.pk})
    record_changed_publish(patient_id=new.patient_id, record="report", action="amended", ids=[new.pk, locked.pk])
    return new
