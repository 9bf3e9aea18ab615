from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from cdss.accounts.models import Role, User
from imaging.models import ImagingSeries, ImagingStudy
from patients.models import Patient
from tests.conftest import client_for
from tests.factories import CareTeamFactory, PatientFactory, UserFactory

CANARY = {
    "given_name": "Zebulon", "family_name": "Canarywhistle", "mrn": "MRN-CANARY-7731",
    "phone": "+44 7700 900731", "email": "zebulon@canary.example", "address_line": "17 Canary Wharf Lane",
    "city": "Canaryville", "postal_code": "CN1 7AY",
}


@dataclass
class Consult:
    clinician: User
    consultant: User
    other_consultant: User
    patient: Patient
    study: ImagingStudy
    series: ImagingSeries


def consult_world() -> Consult:
    clinician = UserFactory.create(role=Role.CLINICIAN)
    consultant = UserFactory.create(role=Role.CONSULTANT)
    other_consultant = UserFactory.create(role=Role.CONSULTANT)
    team = CareTeamFactory.create(members=[clinician])
    patient = PatientFactory.create(care_team=team, birth_date=dt.date(1961, 3, 14), **CANARY)
    study = ImagingStudy.objects.create(patient=patient, study_instance_uid="1.2.826.0.1.3680043.8.498.100",
                                        dicom_patient_id=patient.mrn, description="CT Canarywhistle")
    series = ImagingSeries.objects.create(study=study, series_instance_uid="1.2.826.0.1.3680043.8.498.101",
                                          modality="CT", description="Zebulon arterial")
    return Consult(clinician, consultant, other_consultant, patient, study, series)


@pytest.fixture
def consult(db: Any) -> Consult:
    return consult_world()


def request_body(c: Consult, **overrides: Any) -> dict[str, Any]:
    body = {
        "patient": c.patient.pk, "question": "Is this lesion LI-RADS 5?", "urgency": "urgent",
        "consultant": c.consultant.pk, "expires_at": (timezone.now() + dt.timedelta(hours=2)).isoformat(),
        "identifiable": False,
    }
    body.update(overrides)
    return body


def open_consultation(c: Consult, **overrides: Any) -> dict[str, Any]:
    created = client_for(c.clinician).post("/api/v1/consultations/", request_body(c, **overrides), format="json")
    assert created.status_code == 201, created.content
    accepted = client_for(c.consultant).post(f"/api/v1/consultations/{created.json()['id']}/accept/")
    assert accepted.status_code == 200, accepted.content
    data: dict[str, Any] = accepted.json()
    return data
