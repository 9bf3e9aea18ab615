"""Reports: created once per analysis request, immutable, versioned per patient, signed off,
released to the patient.

Lifecycle (see ``inference.models.ReportStatus``): a new analysis, an amendment and a finding
decision each make a new *draft* version beside the current signed one; the signed version
stays current until a newer version is *signed*, which then supersedes (or, for an amendment,
amends) it. Release to the patient is its own audited step on the current signed version, or
happens at signing when ``REPORT_RELEASE_POLICY`` is ``on_sign``.
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from cdss.core.errors import Conflict
from inference.models import AnalysisRequest, Report, ReportStatus
from inference.reports.content import content_sha256
from inference.reports.dicom_sr import sr_mark_pending
from inference.reports.signing import (
    report_amend_blocker,
    report_release_blocker,
    report_require_signer,
    report_sign_blocker,
)
from inference.reports.tasks import sr_store_enqueue
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


def user_display_name(user: Any) -> str | None:
    """How a person is named on a report: full name, else the login name."""
    if user is None:
        return None
    return (user.get_full_name() or "").strip() or user.get_username()


def report_release_policy() -> str:
    return str(getattr(settings, "REPORT_RELEASE_POLICY", "held"))


def report_current_signed(*, patient_id: int) -> Report | None:
    return Report.objects.filter(patient_id=patient_id, status=ReportStatus.FINAL).first()


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
                    patient_id=analysis.patient_id, request=analysis, analysis=analysis,
                    version=_next_version(analysis.patient_id),
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


def report_draft_create(
    *, actor: Any, patient_id: int, content: dict[str, Any], analysis_id: int | None,
    amends: Report | None = None, derived_from: Report | None = None,
) -> Report:
    """A new draft version beside whatever is signed (the caller holds the patient's report
    locks). The report step does not take them, so a version number it just took is retried."""
    for _ in range(5):
        try:
            with transaction.atomic():
                return Report.objects.create(
                    patient_id=patient_id, request=None, analysis_id=analysis_id, version=_next_version(patient_id),
                    amends=amends, derived_from=derived_from, content=content, content_sha256=content_sha256(content),
                    created_by=actor,
                )
        except IntegrityError:
            continue
    raise Conflict("Could not allocate a report version.", code="report_version_conflict")


def report_verify(report: Report) -> bool:
    return content_sha256(report.content) == report.content_sha256


def report_patient_lock(patient_id: int) -> dict[int, Report]:
    """Lock every report of a patient, in id order: the one order all lifecycle changes take."""
    return {r.pk: r for r in Report.objects.select_for_update().filter(patient_id=patient_id).order_by("pk")}


def report_sign(*, actor: Any, report: Report, comment: str = "", request: Any = None) -> Report:
    report_require_signer(actor)
    with transaction.atomic():
        reports = report_patient_lock(report.patient_id)
        locked = reports[report.pk]
        blocker = report_sign_blocker(locked, reports=list(reports.values()))
        if blocker is not None:
            raise blocker
        if not report_verify(locked):
            raise Conflict("The report content does not match its hash.", code="report_tampered")
        now = timezone.now()
        current = next((r for r in reports.values() if r.status == ReportStatus.FINAL), None)
        replaced: list[int] = []
        if current is not None:
            current.status = ReportStatus.AMENDED if locked.amends_id == current.pk else ReportStatus.SUPERSEDED
            current.save(update_fields=["status"])
            locked.supersedes = current
            replaced.append(current.pk)
        locked.status = ReportStatus.FINAL
        locked.signed_by = actor
        locked.signed_at = now
        locked.sign_comment = comment[:2000]
        fields = ["status", "signed_by", "signed_at", "sign_comment", "supersedes", "sr"]
        # The DICOM SR of the measurements is owed from now on; the worker stores it (the PACS
        # may be down: signing never waits for it or fails because of it).
        if sr_mark_pending(locked)["status"] == "pending":
            transaction.on_commit(lambda: sr_store_enqueue(locked.pk))
        policy = report_release_policy()
        if policy == "on_sign":
            locked.released_by = actor
            locked.released_at = now
            fields += ["released_by", "released_at"]
        locked.save(update_fields=fields)
        audit_record(actor=actor, action=AuditAction.UPDATE, object_type="report", object_id=locked.pk,
                     patient_id=locked.patient_id, request=request,
                     detail={"change": "signed", "supersedes": replaced[0] if replaced else None})
        if locked.released_at is not None:
            audit_record(actor=actor, action=AuditAction.UPDATE, object_type="report", object_id=locked.pk,
                         patient_id=locked.patient_id, request=request, detail={"change": "released", "policy": policy})
        record_changed_publish(patient_id=locked.patient_id, record="report", action="signed", ids=[locked.pk, *replaced])
        if locked.released_at is not None:
            record_changed_publish(patient_id=locked.patient_id, record="report", action="released", ids=[locked.pk])
    return locked


def report_amend(*, actor: Any, report: Report, amendment: str, request: Any = None) -> Report:
    """A signed report is never edited: the amendment is a new draft beside it. The signed
    version stays current until the amendment is signed."""
    report_require_signer(actor)
    with transaction.atomic():
        reports = report_patient_lock(report.patient_id)
        locked = reports[report.pk]
        blocker = report_amend_blocker(locked)
        if blocker is not None:
            raise blocker
        content = dict(locked.content)
        content["amendment"] = {"of_report_id": locked.pk, "of_version": locked.version, "text": amendment[:5000],
                                "by_user_id": actor.pk, "by": user_display_name(actor), "at": timezone.now().isoformat()}
        new = report_draft_create(actor=actor, patient_id=locked.patient_id, content=content,
                                  analysis_id=locked.analysis_id, amends=locked)
        audit_record(actor=actor, action=AuditAction.CREATE, object_type="report", object_id=new.pk,
                     patient_id=new.patient_id, request=request, detail={"amends": locked.pk})
        record_changed_publish(patient_id=new.patient_id, record="report", action="amended", ids=[new.pk, locked.pk])
    return new


def report_release(*, actor: Any, report: Report, request: Any = None) -> Report:
    """Make the current signed version visible to the patient (audited)."""
    report_require_signer(actor, what="release reports to the patient")
    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=report.pk)
        blocker = report_release_blocker(locked)
        if blocker is not None:
            raise blocker
        locked.released_by = actor
        locked.released_at = timezone.now()
        locked.save(update_fields=["released_by", "released_at"])
        audit_record(actor=actor, action=AuditAction.UPDATE, object_type="report", object_id=locked.pk,
                     patient_id=locked.patient_id, request=request,
                     detail={"change": "released", "policy": report_release_policy()})
        record_changed_publish(patient_id=locked.patient_id, record="report", action="released", ids=[locked.pk])
    return locked
