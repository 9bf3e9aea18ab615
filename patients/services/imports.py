"""Importing a FHIR R4 Bundle or a CSV of observations into one patient's record.

Every row is validated by the same code as the REST API. A dry run reports every row's error
and what would be created, and saves nothing. A real run saves every row or, if any row is
bad, nothing (``import_invalid`` with the same report). Rows identical to a stored record (or
to an earlier row) are counted as duplicates and not stored again, so re-importing a file is
harmless.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from django.db import transaction

from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.services import audit_record
from cdss.core.errors import CdssError
from patients.errors import ImportInvalid, ImportTooLarge
from patients.interchange.csv_rows import csv_rows_read
from patients.interchange.fhir import RECORD_KIND_BY_NAME, bundle_entries_map, bundle_parse
from patients.models import LabObservation, Patient, RecordSource
from patients.services.events import record_changed_publish
from patients.services.observations import (
    ObservationInput,
    error_row,
    observation_dedupe_key,
    observation_input_parse,
    observations_save,
)
from patients.services.records import RecordKind, record_dedupe_key, record_input_parse, records_save

IMPORT_MAX_ROWS = 10_000
ImportFormat = Literal["fhir", "csv"]
OBSERVATION = "observation"


@dataclass
class ImportReport:
    format: str
    dry_run: bool
    rows: int = 0
    # Records created (or, in a dry run, that would be created), by kind.
    records: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "valid": self.valid}


@dataclass
class _Parsed:
    observations: list[ObservationInput] = field(default_factory=list)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _rows_from_document(
    document: Any, fmt: ImportFormat, *, patient: Patient, report: ImportReport
) -> list[tuple[int, str, dict[str, Any]]]:
    """(row, kind, raw input) per row; format-level problems raise, row problems go to the report."""
    if fmt == "csv":
        rows = csv_rows_read(document, max_rows=IMPORT_MAX_ROWS)
        report.rows = len(rows)
        mapped = []
        for row in rows:
            if row.data is None:
                report.errors.append(
                    {"row": row.line, "code": "invalid_csv", "field": None, "message": f"Line {row.line}: wrong number of cells.", "detail": {"cells": row.cells}}
                )
            else:
                mapped.append((row.line, OBSERVATION, row.data))
        return mapped
    bundle = bundle_parse(document)
    entries = bundle.entry or []
    if len(entries) > IMPORT_MAX_ROWS:
        raise ImportTooLarge(f"More than {IMPORT_MAX_ROWS} entries.", detail={"max": IMPORT_MAX_ROWS})
    report.rows = len(entries)
    mapped_entries, errors, skipped = bundle_entries_map(bundle, patient=patient)
    report.skipped = skipped
    report.errors.extend(error_row(exc, row=row) for row, exc in errors)
    return [(entry.row, entry.kind, entry.data) for entry in mapped_entries]


def _existing_keys(patient: Patient, parsed: _Parsed) -> set[tuple[Any, ...]]:
    keys: set[tuple[Any, ...]] = set()
    codes = {item.code for item in parsed.observations}
    if codes:
        stored = LabObservation.objects.filter(patient=patient, code__in=codes).values_list(
            "code", "observed_at", "value_canonical", "comparator"
        )
        keys.update((OBSERVATION, *observation_dedupe_key(*row)) for row in stored)
    for name, states in parsed.records.items():
        if states:
            kind = RECORD_KIND_BY_NAME[name]
            for stored_state in kind.model._default_manager.filter(patient=patient).values(*kind.fields):
                keys.add((name, *record_dedupe_key(kind, stored_state)))
    return keys


def patient_import(
    *,
    actor: Any,
    patient: Patient,
    document: Any,
    fmt: ImportFormat,
    dry_run: bool,
    request: Any = None,
) -> ImportReport:
    report = ImportReport(format=fmt, dry_run=dry_run)
    rows = _rows_from_document(document, fmt, patient=patient, report=report)
    parsed = _Parsed()
    keyed: list[tuple[tuple[Any, ...], str, Any]] = []
    for row, kind_name, raw in rows:
        try:
            if kind_name == OBSERVATION:
                item = observation_input_parse(raw)
                keyed.append(((OBSERVATION, *item.dedupe_key()), OBSERVATION, item))
            else:
                kind: RecordKind[Any] = RECORD_KIND_BY_NAME[kind_name]
                state = record_input_parse(kind, raw)
                keyed.append(((kind_name, *record_dedupe_key(kind, state)), kind_name, state))
        except CdssError as exc:
            report.errors.append(error_row(exc, row=row))
    report.errors.sort(key=lambda error: error["row"])
    for _key, kind_name, value in keyed:
        if kind_name == OBSERVATION:
            parsed.observations.append(value)
        else:
            parsed.records.setdefault(kind_name, []).append(value)
    seen = _existing_keys(patient, parsed)
    fresh = _Parsed()
    for key, kind_name, value in keyed:
        if key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        if kind_name == OBSERVATION:
            fresh.observations.append(value)
        else:
            fresh.records.setdefault(kind_name, []).append(value)
    report.records = {OBSERVATION: len(fresh.observations)} | {
        name: len(fresh.records.get(name, [])) for name in RECORD_KIND_BY_NAME
    }
    audit_detail = {
        "format": fmt, "dry_run": dry_run, "rows": report.rows, "errors": len(report.errors),
        "duplicates": report.duplicates, "records": report.records,
    }
    if dry_run or not report.valid:
        audit_record(
            actor=actor, action=AuditAction.CREATE, object_type="patient_import", object_id=patient.pk,
            patient_id=patient.pk, request=request, detail=audit_detail,
            # A dry run succeeds when it reports; a real run with bad rows failed and saved nothing.
            outcome=AuditOutcome.SUCCESS if dry_run else AuditOutcome.FAILED,
        )
        if not report.valid and not dry_run:
            raise ImportInvalid(
                f"{len(report.errors)} rows are invalid; nothing was imported.", detail=report.as_dict()
            )
        return report
    _import_save(actor=actor, patient=patient, fresh=fresh, fmt=fmt, request=request, audit_detail=audit_detail)
    return report


@transaction.atomic
def _import_save(
    *, actor: Any, patient: Patient, fresh: _Parsed, fmt: ImportFormat, request: Any, audit_detail: dict[str, Any]
) -> None:
    source = RecordSource.FHIR if fmt == "fhir" else RecordSource.IMPORT
    created: dict[str, list[int]] = {}
    if fresh.observations:
        saved = observations_save(actor=actor, patient=patient, inputs=fresh.observations, source=source)
        created[OBSERVATION] = [o.pk for o in saved]
    for name, states in fresh.records.items():
        records = records_save(RECORD_KIND_BY_NAME[name], actor=actor, patient=patient, states=states, source=source)
        created[name] = [r.pk for r in records]
    audit_record(
        actor=actor, action=AuditAction.CREATE, object_type="patient_import", object_id=patient.pk,
        patient_id=patient.pk, request=request, detail=audit_detail,
    )
    for name, ids in created.items():
        record_changed_publish(patient_id=patient.pk, record=name, action="created", ids=ids)
