"""The FHIR API in the project's access table (tests/access_table.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.access_table import PATIENT_READ, Endpoint

# A signed report not yet released: the patient does not see it (like the REST API).
SIGNED_UNRELEASED = {**PATIENT_READ, "patient_self": 404}


def _record(world: Any) -> dict[str, int]:
    built = getattr(world, "_interop_record", None)
    if built is not None:
        return built
    from django.utils import timezone

    from consultations.models import Consultation, Opinion
    from imaging.models import ImagingStudy
    from tests.interop.conftest import signed_report

    report = signed_report(world)
    study = ImagingStudy.objects.create(patient=world.patient, study_instance_uid="1.2.826.0.1.3680043.8.498.77",
                                        study_date=dt.date(2026, 10, 1), modalities="CT", link_source="upload")
    consultation = Consultation.objects.create(patient=world.patient, consultant=world.consultant, requested_by=world.clinician)
    opinion = Opinion.objects.create(consultation=consultation, patient=world.patient, author=world.consultant, answer="Agree.",
                                     urgency="routine", signed_at=timezone.now(), content_sha256="0" * 64)
    built = {"report": report.pk, "study": study.pk, "opinion": opinion.pk}
    world._interop_record = built
    return built


ACCESS_PLACEHOLDERS = {
    "fhir_report": lambda world: _record(world)["report"],
    "fhir_study": lambda world: _record(world)["study"],
    "fhir_opinion": lambda world: _record(world)["opinion"],
}

ACCESS_ROWS = [
    Endpoint("GET", "/fhir/DiagnosticReport/r{fhir_report}", SIGNED_UNRELEASED),
    Endpoint("GET", "/fhir/RiskAssessment/r{fhir_report}-risk", SIGNED_UNRELEASED),
    Endpoint("GET", "/fhir/ImagingStudy/{fhir_study}", PATIENT_READ),
    Endpoint("GET", "/fhir/Communication/op{fhir_opinion}", PATIENT_READ),
]
