"""The demo seed gives every demo patient a plausible record, once."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from patients.models import ClinicalFinding, GeneticFinding, LabObservation, LifestyleRecord, Patient
from patients.selectors import observation_latest, patient_summary

pytestmark = pytest.mark.django_db


def test_demo_seed_records_are_valid_complete_and_idempotent() -> None:
    call_command("demo_seed", stdout=StringIO())
    counts = [model.objects.count() for model in (LabObservation, GeneticFinding, LifestyleRecord, ClinicalFinding)]
    call_command("demo_seed", stdout=StringIO())
    assert [model.objects.count() for model in (LabObservation, GeneticFinding, LifestyleRecord, ClinicalFinding)] == counts
    patients = list(Patient.objects.filter(mrn__startswith="DEMO-").order_by("mrn"))
    assert [p.mrn for p in patients] == [f"DEMO-000{n}" for n in range(1, 7)]
    adults, children = patients[:4], patients[4:]
    # The children carry the paediatric demo radiographs: young enough for cxr_pneumonia.
    today = dt.date.today()
    assert all((today - child.birth_date).days < 6 * 365 for child in children)
    assert all((today - adult.birth_date).days > 40 * 365 for adult in adults)
    for patient in adults:
        latest = observation_latest(patient=patient)
        assert len(latest) == 11  # every catalogued analyte
        assert LabObservation.objects.filter(patient=patient, code="1742-6").count() >= 5  # a history
        summary = patient_summary(patient=patient)
        assert summary.genetics and summary.lifestyle["smoking_status"] and summary.findings["ascites"]
    units = set(LabObservation.objects.values_list("unit", flat=True))
    assert {"mg/dL", "umol/L", "ukat/L", "kU/L", "/mm3"} <= units  # a mix of units
