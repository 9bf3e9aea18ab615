"""Operations that change patient records. Every one is audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from patients.models import Patient

PATIENT_EDITABLE_FIELDS = (
    "given_name", "family_name", "birth_date", "sex", "phone", "email", "status", "care_team",
    "address_line", "city", "postal_code", "country",
)


@transaction.atomic
def patient_create(*, actor: Any, request: Any = None, **fields: Any) -> Patient:
    patient = Patient(**fields)
    patient.full_clean()
    patient.save()
    audit_record(actor=actor, action=AuditAction.CREATE, object_type="patient", object_id=patient.pk, patient_id=patient.pk, request=request)
    return patient


@transaction.atomic
def patient_update(*, actor: Any, patient: Patient, request: Any = None, **fields: Any) -> Patient:
    changed = sorted(name for name in fields if name in PATIENT_EDITABLE_FIELDS)
    for name in changed:
        setattr(patient, name, fields[name])
    patient.full_clean()
    patient.save()
    audit_record(
        actor=actor, action=AuditAction.UPDATE, object_type="patient", object_id=patient.pk,
        patient_id=patient.pk, request=request, detail={"fields": changed},
    )
    return patient
