"""The demo seed gives every demo patient a plausible record, once."""

from __future__ import annotations

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
    patients = list(Patient.objects.filter(mrn__startswith="DEMO-"))
    assert len(patients) == 4
    for patient in patients:
        latest = observation_latest(patient=patient)
        assert len(latest) == 11  # every catalogued analyte
        assert LabObservation.objects.filter(patient=patient, code="1742-6").count() >= 5  # a history
        summary = patient_summary(patient=patient)
        assert summary.genetics and summary.lifestyle["smoking_status"] and summary.findings["ascites"]
    units = set(LabObservation.objects.values_list("unit", flat=True))
    assert {"mg/dL", "umol/L", "ukat/L", "kU/L", "/mm3"} <= units  # a mix of units
