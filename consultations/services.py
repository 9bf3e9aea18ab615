"""The consultation workflow: request, accept or decline, close, sign an opinion.

Each change runs in one transaction that locks the consultation row; notifications go out
after commit (ids and status only). The share itself is made and ended through
``patients.access`` (``share_grant_create`` / ``share_grant_end``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from django.db import transaction
from django.utils import timezone

from cdss.accounts.models import CareTeam, Role, User
from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from cdss.core.errors import Conflict, PermissionDenied, ValidationFailed
from cdss.core.events import consultation_group, event_publish_on_commit, patient_group, user_group
from consultations.models import Consultation, ConsultationStatus, Opinion, Urgency
from consultations.notify import consultation_notify
from imaging.models import ImagingStudy
from inference.models import Report
from inference.reports.opinions import SecondOpinion, report_opinion_attach
from messaging.services import thread_create
from patients.access import patient_get_for_edit, share_grant_create, share_grant_end
from patients.models import ShareScope

QUESTION_MAX_CHARS = 5_000
SHARE_MAX = dt.timedelta(days=30)
RECOMMENDATIONS_MAX = 20


def _invalid(field: str, message: str, code: str = "invalid_field") -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", code=code, detail={"field": field})


def consultation_state(consultation: Consultation, *, now: dt.datetime | None = None) -> str:
    """The status as users see it: a pending or open consultation past its expiry is "expired"."""
    live = consultation.status in (ConsultationStatus.REQUESTED, ConsultationStatus.OPEN)
    if live and consultation.expires_at is not None and consultation.expires_at <= (now or timezone.now()):
        return "expired"
    return consultation.status


def _announce(consultation: Consultation) -> None:
    """Tell both sides' inboxes and the room that the consultation changed (ids and status)."""
    users = {consultation.requested_by_id}
    if consultation.consultant_id is not None:
        users.add(consultation.consultant_id)
    elif consultation.consultant_group_id is not None:
        users.update(_group_consultants(consultation.consultant_group_id))
    event_publish_on_commit(
        groups=[*(user_group(u) for u in sorted(users)), consultation_group(consultation.pk)],
        event_type="consultation.changed",
        payload={"consultation_id": consultation.pk, "status": consultation.status},
    )


def _status_changed(consultation: Consultation, *, user: Any, request: Any) -> None:
    """Audit the new status and announce it."""
    audit_record(actor=user, action=AuditAction.UPDATE, object_type="consultation", object_id=consultation.pk,
                 patient_id=consultation.patient_id, request=request, detail={"status": str(consultation.status)})
    _announce(consultation)


def _group_consultants(group_id: int) -> list[int]:
    return list(
        User.objects.filter(care_teams=group_id, role=Role.CONSULTANT, is_active=True).values_list("pk", flat=True)
    )


def consultation_request(
    *, requested_by: Any, patient_id: int, question: str, urgency: str = Urgency.ROUTINE,
    consultant_id: int | None = None, consultant_group_id: int | None = None, scope: str = ShareScope.RECORD,
    study_uids: list[str] | None = None, report_ids: list[int] | None = None, expires_at: dt.datetime,
    identifiable: bool = False, request: Any = None,
) -> Consultation:
    patient = patient_get_for_edit(requested_by, patient_id, request=request)
    text = (question or "").strip()
    if not text or len(text) > QUESTION_MAX_CHARS:
        raise _invalid("question", f"1 to {QUESTION_MAX_CHARS} characters.")
    if urgency not in Urgency.values:
        raise _invalid("urgency", f"one of {', '.join(Urgency.values)}.")
    if (consultant_id is None) == (consultant_group_id is None):
        raise _invalid("consultant", "name either one consultant or one consultant group.", "consultant_required")
    now = timezone.now()
    if expires_at <= now or expires_at > now + SHARE_MAX:
        raise _invalid("expires_at", "in the future and at most 30 days ahead.", "invalid_expiry")
    consultant = group = None
    if consultant_id is not None:
        consultant = User.objects.filter(pk=consultant_id, role=Role.CONSULTANT, is_active=True).first()
        if consultant is None:
            raise _invalid("consultant", "not an active consultant.", "unknown_consultant")
    elif consultant_group_id is not None:
        group = CareTeam.objects.filter(pk=consultant_group_id).first()
        if group is None or not _group_consultants(group.pk):
            raise _invalid("consultant_group", "not a group with an active consultant.", "unknown_consultant")
    if scope not in ShareScope.values:
        raise _invalid("scope", f"one of {', '.join(ShareScope.values)}.", "invalid_scope")
    uids = sorted({str(u) for u in (study_uids or [])})
    reports = sorted({int(r) for r in (report_ids or [])})
    if scope == ShareScope.STUDIES:
        if not uids and not reports:
            raise _invalid("study_uids", "choose at least one study or report to share.", "empty_scope")
        known = set(ImagingStudy.objects.filter(patient=patient, study_instance_uid__in=uids).values_list(
            "study_instance_uid", flat=True))
        if known != set(uids):
            raise _invalid("study_uids", "every study must be one of this patient's.", "unknown_study")
        if Report.objects.filter(patient=patient, pk__in=reports).count() != len(reports):
            raise _invalid("report_ids", "every report must be one of this patient's.", "unknown_report")
    else:
        uids, reports = [], []
    with transaction.atomic():
        consultation = Consultation.objects.create(
            patient=patient, requested_by=requested_by, consultant=consultant, consultant_group=group,
            question=text, urgency=urgency, scope=scope, study_uids=uids, report_ids=reports,
            expires_at=expires_at, identifiable=identifiable, status=ConsultationStatus.REQUESTED,
        )
        audit_record(actor=requested_by, action=AuditAction.CREATE, object_type="consultation",
                     object_id=consultation.pk, patient_id=patient.pk, request=request,
                     detail={"scope": scope, "identifiable": identifiable, "urgency": urgency})
        _announce(consultation)
        recipients = [consultant.pk] if consultant is not None else _group_consultants(group.pk if group else 0)
        consultation_id = consultation.pk
        transaction.on_commit(lambda: consultation_notify(consultation_id, recipients), robust=True)
    return consultation


def _locked(consultation: Consultation) -> Consultation:
    return Consultation.objects.select_for_update().get(pk=consultation.pk)


def _may_answer(user: Any, consultation: Consultation) -> bool:
    if consultation.consultant_id is not None:
        return bool(consultation.consultant_id == user.pk)
    return consultation.consultant_group_id is not None and user.pk in _group_consultants(consultation.consultant_group_id)


def consultation_accept(*, consultation: Consultation, user: Any, request: Any = None) -> Consultation:
    with transaction.atomic():
        consultation = _locked(consultation)
        if not _may_answer(user, consultation):
            raise PermissionDenied("Only the consultant asked may accept.")
        if consultation_state(consultation) != ConsultationStatus.REQUESTED:
            raise Conflict("This consultation is no longer waiting for an answer.", code="consultation_not_pending")
        assert consultation.expires_at is not None
        grant = share_grant_create(
            granted_by=consultation.requested_by, user=user, patient=consultation.patient,
            expires_at=consultation.expires_at, identifiable=consultation.identifiable, scope=consultation.scope,
            study_uids=consultation.study_uids, report_ids=consultation.report_ids, request=request,
        )
        thread = thread_create(
            subject_type="consultation", subject_id=consultation.pk, patient_id=consultation.patient_id,
            participants=[consultation.requested_by, user],
        )
        consultation.consultant = user
        consultation.grant = grant
        consultation.thread = thread
        consultation.status = ConsultationStatus.OPEN
        consultation.answered_at = timezone.now()
        consultation.save(update_fields=["consultant", "grant", "thread", "status", "answered_at"])
        _status_changed(consultation, user=user, request=request)
    return consultation


def consultation_decline(*, consultation: Consultation, user: Any, request: Any = None) -> Consultation:
    with transaction.atomic():
        consultation = _locked(consultation)
        if not _may_answer(user, consultation):
            raise PermissionDenied("Only the consultant asked may decline.")
        if consultation_state(consultation) != ConsultationStatus.REQUESTED:
            raise Conflict("This consultation is no longer waiting for an answer.", code="consultation_not_pending")
        consultation.status = ConsultationStatus.DECLINED
        consultation.answered_at = timezone.now()
        if consultation.consultant_id is None:
            consultation.consultant = user
        consultation.save(update_fields=["status", "answered_at", "consultant"])
        _status_changed(consultation, user=user, request=request)
    return consultation


def consultation_close(*, consultation: Consultation, user: Any, request: Any = None) -> Consultation:
    """Either side ends it; the share ends at once (and with it the consultant's sockets)."""
    with transaction.atomic():
        consultation = _locked(consultation)
        sides = {consultation.requested_by_id, consultation.consultant_id}
        if user.pk not in sides and getattr(user, "role", None) not in (Role.CLINICIAN, Role.ADMIN):
            raise PermissionDenied("Only the two sides of a consultation may close it.")
        if consultation.status in (ConsultationStatus.CLOSED, ConsultationStatus.DECLINED):
            return consultation
        if consultation.grant is not None:
            share_grant_end(grant=consultation.grant, actor=user, request=request)
        consultation.status = ConsultationStatus.CLOSED
        consultation.closed_at = timezone.now()
        consultation.closed_by = user
        consultation.save(update_fields=["status", "closed_at", "closed_by"])
        _status_changed(consultation, user=user, request=request)
    return consultation


def _display_name(user: Any) -> str:
    return " ".join(p for p in (user.first_name, user.last_name) if p) or user.username


def opinion_for_report(opinion: Opinion, *, author: Any = None) -> SecondOpinion:
    """What a report version keeps of a signed opinion: its reference and its text."""
    author = author or opinion.author
    return SecondOpinion(
        ref=f"consult_opinion:{opinion.pk}", opinion_id=opinion.pk, consultation_id=opinion.consultation_id,
        author_id=author.pk, author=_display_name(author), answer=opinion.answer,
        recommendations=list(opinion.recommendations), urgency=opinion.urgency,
        signed_at=opinion.signed_at.isoformat(), content_sha256=opinion.content_sha256,
    )


def signed_opinions_for_reports(patient_id: int) -> list[SecondOpinion]:
    """The patient's signed opinions, oldest first, for ``inference.reports.opinions``."""
    rows = Opinion.objects.filter(patient_id=patient_id).select_related("author").order_by("signed_at", "pk")
    return [opinion_for_report(o) for o in rows]


def _opinion_digest(*, consultation_id: int, author_id: int, answer: str, recommendations: list[str],
                    urgency: str, signed_at: dt.datetime) -> str:
    content = {"consultation": consultation_id, "author": author_id, "answer": answer,
               "recommendations": recommendations, "urgency": urgency, "signed_at": signed_at.isoformat()}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def opinion_sign(
    *, consultation: Consultation, user: Any, answer: str, recommendations: list[Any] | None, urgency: str,
    request: Any = None,
) -> Opinion:
    """The consultant's structured answer, signed once; it joins the patient's record and, as a
    new draft version, their newest report (``inference.reports.opinions``)."""
    text = (answer or "").strip()
    if not text or len(text) > QUESTION_MAX_CHARS:
        raise _invalid("answer", f"1 to {QUESTION_MAX_CHARS} characters.")
    items = [str(r).strip() for r in (recommendations or []) if str(r).strip()]
    if len(items) > RECOMMENDATIONS_MAX or any(len(r) > 1000 for r in items):
        raise _invalid("recommendations", f"at most {RECOMMENDATIONS_MAX}, each up to 1000 characters.")
    if urgency not in Urgency.values:
        raise _invalid("urgency", f"one of {', '.join(Urgency.values)}.")
    with transaction.atomic():
        consultation = _locked(consultation)
        if consultation.consultant_id != user.pk:
            raise PermissionDenied("Only the consultant signs the opinion.")
        if consultation_state(consultation) != ConsultationStatus.OPEN:
            raise Conflict("The consultation is not open.", code="consultation_not_open")
        if Opinion.objects.filter(consultation=consultation).exists():
            raise Conflict("This consultation already has a signed opinion.", code="opinion_already_signed")
        signed_at = timezone.now()
        opinion = Opinion.objects.create(
            consultation=consultation, patient_id=consultation.patient_id, author=user, answer=text,
            recommendations=items, urgency=urgency, signed_at=signed_at,
            content_sha256=_opinion_digest(consultation_id=consultation.pk, author_id=user.pk, answer=text,
                                           recommendations=items, urgency=urgency, signed_at=signed_at),
        )
        audit_record(actor=user, action=AuditAction.CREATE, object_type="consult_opinion", object_id=opinion.pk,
                     patient_id=consultation.patient_id, request=request, detail={"consultation_id": consultation.pk})
        # The opinion also joins the patient's next report version (a new draft to sign).
        report_opinion_attach(actor=user, patient_id=consultation.patient_id, request=request,
                              opinion=opinion_for_report(opinion, author=user))
        event_publish_on_commit(
            groups=[patient_group(consultation.patient_id)], event_type="record.changed",
            payload={"patient_id": consultation.patient_id, "record": "consult_opinion", "action": "created",
                     "ids": [opinion.pk]},
        )
        _announce(consultation)
    return opinion
