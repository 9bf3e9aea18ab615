"""The EHR simulator (interop.sim) on a loopback port, registered with this system."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from interop.models import EhrRegistration, EhrUserLink
from interop.sim.server import MRN_SYSTEM, EhrSimulator

SCHEMAS = Path(__file__).resolve().parents[2] / "interop" / "cds" / "schema"
CLIENT_ID, CLIENT_SECRET = "cdss-test", "cdss-test-secret-value"


def sim_build() -> EhrSimulator:
    sim = EhrSimulator()
    today = timezone.now().date()
    sim.add_patient("ehr-7", mrn="placeholder", family="Example", given="Alex", birth_date="1960-05-01", gender="male")
    for loinc, value, unit, days in (
        ("1975-2", 2.0, "mg/dL", 3), ("1975-2", 1.0, "mg/dL", 40),  # the newer one counts
        ("1751-7", 3.0, "g/dL", 3), ("6301-6", 1.5, "{INR}", 3), ("2160-0", 1.2, "mg/dL", 3), ("2951-2", 132, "mmol/L", 3),
    ):
        sim.add_lab("ehr-7", loinc=loinc, value=value, unit=unit, when=f"{today - dt.timedelta(days=days)}T08:00:00Z")
    sim.add_condition("ehr-7", system="http://snomed.info/sct", code="19943007", text="Cirrhosis of liver")
    return sim


@pytest.fixture
def sim() -> Iterator[EhrSimulator]:
    simulator = sim_build().start()
    try:
        yield simulator
    finally:
        simulator.stop()


def register(sim: EhrSimulator, *, world: Any, redirect_uri: str) -> EhrRegistration:
    """Register the simulator as an EHR; its patient ehr-7 is the world's patient (by MRN) and
    Practitioner/1 is the world's clinician."""
    sim.patients["ehr-7"]["identifier"][0]["value"] = world.patient.mrn
    sim.add_client(CLIENT_ID, CLIENT_SECRET, redirect_uri)
    registration = EhrRegistration.objects.create(
        name="Simulated EHR", iss=sim.fhir_base, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        mrn_system=MRN_SYSTEM, cds_jwt_issuer=sim.base, cds_jwks=sim.jwks,
        scope="launch openid fhirUser patient/*.read",
    )
    EhrUserLink.objects.create(registration=registration, fhir_user="Practitioner/1", user=world.clinician)
    return registration


def signed_report(world: Any, *, scores: dict[str, Any] | None = None) -> Any:
    from inference.models import AnalysisRequest, Report, ReportStatus
    from inference.reports.content import content_sha256

    analysis = AnalysisRequest.objects.create(patient=world.patient, requested_by=world.clinician,
                                              idempotency_key="interop-report", status="succeeded")
    content = {"schema": "cdss.report/1", "patient_id": world.patient.pk, "recommendations": [], "gaps": [], "models": [],
               "imaging_findings": [], "intended_use": "Supports, does not replace, clinical judgement.",
               "scores": scores if scores is not None else {
                   "meld_3": {"computable": True, "value": 19, "category": None, "details": {}, "citation": "Kim WR 2021"},
                   "child_pugh": {"computable": True, "value": 8, "category": "B", "details": {}, "citation": "Pugh 1973"},
                   "albi": {"computable": False, "value": None, "category": None, "details": {}, "citation": "Johnson 2015"},
               }}
    now = timezone.now()
    return Report.objects.create(patient=world.patient, analysis=analysis, version=1, status=ReportStatus.FINAL,
                                 content=content, content_sha256=content_sha256(content), created_by=world.clinician,
                                 signed_by=world.clinician, signed_at=now)
