"""Genetic findings, lifestyle records and clinical findings: dated, attributed, validated.

The three share one shape (a dated row of optional typed fields on a patient), so they share
one implementation driven by a ``RecordKind`` (``patients.record_kinds``): ``record_create``,
``record_update`` and ``record_delete`` take the kind. The entity-named creators at the end
serve callers that create one kind of record outside the API (the demo seed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.db import models, transaction

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from patients.errors import MissingField
from patients.models import ClinicalFinding, GeneticFinding, LifestyleRecord, Patient, RecordSource
from patients.record_kinds import (
    FINDINGS,
    GENETICS,
    LIFESTYLE,
    RECORD_KINDS,
    RecordKind,
    bmi_compute,
    record_dedupe_key,
    record_input_parse,
)
from patients.services.events import record_changed_publish
from patients.validation import fields_parse

M = TypeVar("M", bound=models.Model)

__all__ = [
    "FINDINGS", "GENETICS", "LIFESTYLE", "RECORD_KINDS", "RecordKind", "bmi_compute", "record_dedupe_key",
    "record_input_parse",
]


def records_save(
    kind: RecordKind[M], *, actor: Any, patient: Patient, states: Iterable[dict[str, Any]], source: str
) -> list[M]:
    recorded_by = actor if getattr(actor, "is_authenticated", False) else None
    objects = [kind.model(patient=patient, source=source, recorded_by=recorded_by, **state) for state in states]
    return kind.model._default_manager.bulk_create(objects)


@transaction.atomic
def record_create(
    kind: RecordKind[M],
    *,
    actor: Any,
    patient: Patient,
    data: Any,
    source: str = RecordSource.MANUAL,
    request: Any = None,
) -> M:
    state = record_input_parse(kind, data)
    (record,) = records_save(kind, actor=actor, patient=patient, states=[state], source=source)
    audit_record(
        actor=actor, action=AuditAction.CREATE, object_type=kind.name, object_id=record.pk,
        patient_id=patient.pk, request=request, detail={"source": source},
    )
    record_changed_publish(patient_id=patient.pk, record=kind.name, action="created", ids=[record.pk])
    return record


@transaction.atomic
def record_update(kind: RecordKind[M], *, actor: Any, record: M, data: Any, request: Any = None) -> M:
    """Change some fields; the record is checked again as a whole. ``null`` clears a field."""
    fields = fields_parse(data, parsers=kind.parsers)
    for name in kind.required:
        if name in fields and fields[name] is None:
            raise MissingField(f"{name}: required.", detail={"field": name})
    state = {name: getattr(record, name) for name in kind.parsers}
    state.update(fields)
    state = kind.check(state, set(fields))
    changed = sorted(name for name in kind.fields if getattr(record, name) != state.get(name))
    for name in kind.fields:
        setattr(record, name, state.get(name))
    record.save()
    patient_id: int = record.patient_id  # type: ignore[attr-defined]
    audit_record(
        actor=actor, action=AuditAction.UPDATE, object_type=kind.name, object_id=record.pk,
        patient_id=patient_id, request=request, detail={"fields": changed},
    )
    record_changed_publish(patient_id=patient_id, record=kind.name, action="updated", ids=[record.pk])
    return record


@transaction.atomic
def record_delete(kind: RecordKind[M], *, actor: Any, record: M, request: Any = None) -> None:
    record_id = record.pk
    patient_id: int = record.patient_id  # type: ignore[attr-defined]
    record.delete()
    audit_record(
        actor=actor, action=AuditAction.DELETE, object_type=kind.name, object_id=record_id,
        patient_id=patient_id, request=request,
    )
    record_changed_publish(patient_id=patient_id, record=kind.name, action="deleted", ids=[record_id])


def genetic_finding_create(
    *, actor: Any, patient: Patient, data: Any, source: str = RecordSource.MANUAL, request: Any = None
) -> GeneticFinding:
    return record_create(GENETICS, actor=actor, patient=patient, data=data, source=source, request=request)


def lifestyle_record_create(
    *, actor: Any, patient: Patient, data: Any, source: str = RecordSource.MANUAL, request: Any = None
) -> LifestyleRecord:
    return record_create(LIFESTYLE, actor=actor, patient=patient, data=data, source=source, request=request)


def clinical_finding_create(
    *, actor: Any, patient: Patient, data: Any, source: str = RecordSource.MANUAL, request: Any = None
) -> ClinicalFinding:
    return record_create(FINDINGS, actor=actor, patient=patient, data=data, source=source, request=request)
