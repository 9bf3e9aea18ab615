"""THE module that decides which patients a user may see.

Every API, the DICOMweb proxy and WebSocket subscriptions fetch patients through
``patients_for_user`` / ``patient_get_for_user``. A patient the user may not see is reported
exactly like a missing one (``NotFound``), so existence never leaks.

- clinician: patients of the care teams they belong to
- consultant: patients shared with them in a consultation that is still open
- patient: their own record only
- admin: every patient (each access is audited like any other)
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from cdss.accounts.models import Role
from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound, PermissionDenied
from consultations.models import ConsultationStatus
from patients.models import Patient


def patients_for_user(user: Any) -> QuerySet[Patient]:
    if user is None or not user.is_authenticated or not user.is_active:
        return Patient.objects.none()
    role = getattr(user, "role", None)
    if role == Role.ADMIN:
        return Patient.objects.all()
    if role == Role.CLINICIAN:
        return Patient.objects.filter(care_team__members=user)
    if role == Role.CONSULTANT:
        return Patient.objects.filter(
            consultations__consultant=user, consultations__status=ConsultationStatus.OPEN
        ).distinct()
    if role == Role.PATIENT:
        return Patient.objects.filter(user=user)
    return Patient.objects.none()


def patient_get_for_user(user: Any, patient_id: Any, *, request: Any = None) -> Patient:
    """The patient if this user may see it; otherwise NotFound, and the denial is audited."""
    try:
        patient_pk = int(patient_id)
    except (TypeError, ValueError) as exc:
        raise NotFound("Patient not found.") from exc
    patient = patients_for_user(user).filter(pk=patient_pk).first()
    if patient is None:
        audit_record(
            actor=user, action=AuditAction.READ, object_type="patient", object_id=patient_pk,
            patient_id=patient_pk, outcome=AuditOutcome.DENIED, request=request,
        )
        raise NotFound("Patient not found.")
    return patient


def patient_ids_for_user(user: Any) -> QuerySet[Any]:
    return patients_for_user(user).values("pk")


def user_may_edit_patients(user: Any) -> bool:
    """Consultants and patients read; clinicians and admins write."""
    return getattr(user, "role", None) in (Role.CLINICIAN, Role.ADMIN)


def patient_get_for_edit(user: Any, patient_id: Any, *, request: Any = None) -> Patient:
    """Visibility first (404, like a missing patient), then the right to change it (403)."""
    patient = patient_get_for_user(user, patient_id, request=request)
    if not user_may_edit_patients(user):
        audit_record(
            actor=user, action=AuditAction.UPDATE, object_type="patient", object_id=patient.pk,
            patient_id=patient.pk, outcome=AuditOutcome.DENIED, request=request,
        )
        raise PermissionDenied("Only clinicians may change clinical records.")
    return patient
