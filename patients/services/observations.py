"""Recording laboratory observations: validate every row, convert through ``patients.units``, save.

A row is rejected (nothing stored) for an unknown analyte or unit, a value that is not a finite
number or breaks the analyte's plausibility limits, or a date in the future. A batch is all or
nothing and reports every bad row, not only the first.

A value typical of the analyte only in another accepted unit ("albumin 3.5 g/L") is refused with
``unit_suspect`` and the likely unit in ``detail.suggested_units``; the clinician resends it with
``"unit_confirmed": true`` when the unusual value is real. A censored result ("<5", ">2000") is
stored with its comparator (FHIR Quantity.comparator), given either as text in ``value`` or as
``comparator`` beside a number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from cdss.core.errors import CdssError
from patients.errors import BatchEmpty, BatchInvalid, BatchTooLarge, InconsistentValues
from patients.models import LabObservation, Patient, RecordSource
from patients.services.events import record_changed_publish
from patients.validation import (
    LAB_QUANTITY_FIELDS,
    boolean,
    fields_parse,
    lab_quantity_read,
    list_read,
    number,
    past_datetime,
    text,
)

OBSERVATION_BATCH_MAX = 1000


@dataclass(frozen=True, slots=True)
class ObservationInput:
    """One validated observation, ready to store."""

    code: str
    value: float
    unit: str
    value_canonical: float
    unit_canonical: str
    observed_at: dt.datetime
    specimen: str = ""
    reference_low: float | None = None
    reference_high: float | None = None
    comparator: str = ""

    def dedupe_key(self) -> tuple[str, dt.datetime, float, str]:
        """Same analyte, same time, same value (and comparator): the same result reported twice."""
        return observation_dedupe_key(self.code, self.observed_at, self.value_canonical, self.comparator)


def observation_dedupe_key(
    code: str, observed_at: dt.datetime, value_canonical: float, comparator: str = ""
) -> tuple[str, dt.datetime, float, str]:
    # "<5" and "5" at the same moment are different results, not one reported twice.
    return code, observed_at.astimezone(dt.UTC), round(value_canonical, 9), comparator


OBSERVATION_FIELDS = {
    **LAB_QUANTITY_FIELDS,
    "unit_confirmed": boolean,
    "observed_at": past_datetime,
    "specimen": text(64),
    "reference_low": number(0, 1e12),
    "reference_high": number(0, 1e12),
}


def observation_input_parse(raw: Any, *, path: str = "") -> ObservationInput:
    """Validate one observation as entered (JSON object, CSV row or mapped FHIR resource)."""
    fields = fields_parse(raw, parsers=OBSERVATION_FIELDS, required=("code", "value", "observed_at"), path=path)
    quantity = lab_quantity_read(
        code=fields["code"], value=fields["value"], unit=fields.get("unit") or "", comparator=fields.get("comparator"),
        path=path, unit_confirmed=bool(fields.get("unit_confirmed")),
    )
    low, high = fields.get("reference_low"), fields.get("reference_high")
    if low is not None and high is not None and low > high:
        prefix = f"{path}." if path else ""
        raise InconsistentValues(
            f"{prefix}reference_low: above reference_high.", detail={"field": f"{prefix}reference_low"}
        )
    return ObservationInput(
        code=quantity.analyte.loinc,
        value=quantity.value,
        unit=quantity.unit,
        value_canonical=quantity.canonical.value,
        unit_canonical=quantity.canonical.unit,
        observed_at=fields["observed_at"],
        specimen=fields.get("specimen") or "",
        reference_low=low,
        reference_high=high,
        comparator=quantity.comparator,
    )


def error_row(exc: CdssError, **where: Any) -> dict[str, Any]:
    detail = exc.detail if isinstance(exc.detail, dict) else {}
    return {**where, "code": exc.code, "field": detail.get("field"), "message": exc.message, "detail": exc.detail}


def observation_inputs_parse(rows: Any, *, path: str = "observations") -> list[ObservationInput]:
    """Validate a whole batch; ``BatchInvalid`` lists every bad row (by index) if any is bad."""
    list_read(rows, path)
    if not rows:
        raise BatchEmpty(f"{path}: is empty.", detail={"field": path})
    if len(rows) > OBSERVATION_BATCH_MAX:
        raise BatchTooLarge(
            f"{path}: at most {OBSERVATION_BATCH_MAX} observations per request.",
            detail={"field": path, "max": OBSERVATION_BATCH_MAX, "count": len(rows)},
        )
    inputs: list[ObservationInput] = []
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(rows):
        try:
            inputs.append(observation_input_parse(raw, path=f"{path}[{index}]"))
        except CdssError as exc:
            errors.append(error_row(exc, index=index))
    if errors:
        raise BatchInvalid(
            f"{len(errors)} of {len(rows)} observations are invalid; none was saved.",
            detail={"errors": errors, "count": len(rows)},
        )
    return inputs


def observations_save(
    *, actor: Any, patient: Patient, inputs: Sequence[ObservationInput], source: str
) -> list[LabObservation]:
    """Store already validated observations in one statement (the caller holds the transaction)."""
    entered_by = actor if getattr(actor, "is_authenticated", False) else None
    objects = [
        LabObservation(
            patient=patient,
            code=item.code,
            comparator=item.comparator,
            value=item.value,
            unit=item.unit,
            value_canonical=item.value_canonical,
            unit_canonical=item.unit_canonical,
            observed_at=item.observed_at,
            specimen=item.specimen,
            reference_low=item.reference_low,
            reference_high=item.reference_high,
            source=source,
            entered_by=entered_by,
        )
        for item in inputs
    ]
    return LabObservation.objects.bulk_create(objects)


@transaction.atomic
def observation_record(
    *, actor: Any, patient: Patient, data: Any, source: str = RecordSource.MANUAL, request: Any = None
) -> LabObservation:
    item = observation_input_parse(data)
    (observation,) = observations_save(actor=actor, patient=patient, inputs=[item], source=source)
    audit_record(
        actor=actor, action=AuditAction.CREATE, object_type="observation", object_id=observation.pk,
        patient_id=patient.pk, request=request, detail={"code": observation.code, "source": source},
    )
    record_changed_publish(patient_id=patient.pk, record="observation", action="created", ids=[observation.pk])
    return observation


@transaction.atomic
def observation_record_batch(
    *, actor: Any, patient: Patient, rows: Any, source: str = RecordSource.MANUAL, request: Any = None
) -> list[LabObservation]:
    """Up to ``OBSERVATION_BATCH_MAX`` observations, all or none."""
    inputs = observation_inputs_parse(rows)
    observations = observations_save(actor=actor, patient=patient, inputs=inputs, source=source)
    ids = [o.pk for o in observations]
    audit_record(
        actor=actor, action=AuditAction.CREATE, object_type="observation_batch", patient_id=patient.pk,
        request=request, detail={"count": len(ids), "ids": ids, "source": source},
    )
    record_changed_publish(patient_id=patient.pk, record="observation", action="created", ids=ids)
    return observations
