"""Which consultations a user may see: scoped like every other lookup (missing = not yours = 404)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from cdss.accounts.models import Role
from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.reads import read_audit_mark
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound
from consultations.models import Consultation, ConsultationStatus, Opinion
from patients.access import patients_for_user
from patients.models import Patient


def consultations_for_user(user: Any) -> QuerySet[Consultation]:
    """A clinician: consultations about the patients of their care teams. A consultant: those
    asked of them (or of their group, until someone accepts) that are still pending or open and
    unexpired; a closed, declined or expired one is gone from their view, with its patient."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Consultation.objects.none()
    role = getattr(user, "role", None)
    base = Consultation.objects.select_related("requested_by", "consultant", "consultant_group", "opinion")
    if role == Role.ADMIN:
        return base.all()
    if role == Role.CLINICIAN:
        return base.filter(Q(requested_by=user) | Q(patient__in=patients_for_user(user))).distinct()
    if role == Role.CONSULTANT:
        mine = Q(consultant=user) | Q(consultant__isnull=True, consultant_group__members=user)
        live = Q(status__in=[ConsultationStatus.REQUESTED, ConsultationStatus.OPEN]) & Q(expires_at__gt=timezone.now())
        return base.filter(mine & live).distinct()
    return Consultation.objects.none()


def consultation_get_for_user(user: Any, consultation_id: Any, *, request: Any = None) -> Consultation:
    try:
        pk = int(consultation_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("Consultation not found.") from exc
    consultation = consultations_for_user(user).filter(pk=pk).first()
    if consultation is None:
        audit_record(actor=user, action=AuditAction.READ, object_type="consultation", object_id=pk,
                     outcome=AuditOutcome.DENIED, request=request)
        raise NotFound("Consultation not found.")
    read_audit_mark(object_type="consultation", object_id=consultation.pk, patient_id=consultation.patient_id)
    return consultation


def opinions_of_patient(*, patient: Patient) -> QuerySet[Opinion]:
    return Opinion.objects.filter(patient=patient).select_related("author", "consultation").order_by("-signed_at")
