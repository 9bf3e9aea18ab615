from __future__ import annotations

from django.conf import settings
from django.db import models

from patients.models.patient import Patient
from patients.models.source import RecordSource


class Comparator(models.TextChoices):
    """A censored result ("<5", ">2000"): FHIR Quantity.comparator. Blank: the value is exact."""

    LT = "<", "less than"
    LE = "<=", "less than or equal to"
    GE = ">=", "greater than or equal to"
    GT = ">", "greater than"


class LabObservation(models.Model):
    """One laboratory result, kept as entered and in the analyte's canonical unit.

    ``code`` is the LOINC code; the catalogue of analytes and units is data
    (``patients/data/analytes.json``, read through ``patients.units``), so a new analyte needs
    no change here. The reference range is the reporting laboratory's, in the entered unit.
    A censored result keeps its comparator: "<5" is ``comparator="<"``, ``value=5`` (the
    assay's limit), never the number 5 on its own.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="observations")
    code = models.CharField("LOINC code", max_length=32)
    comparator = models.CharField(
        max_length=2, choices=Comparator.choices, blank=True, default="",
        help_text="Censored result: the true value is comparator value (FHIR Quantity.comparator).",
    )
    value = models.FloatField(help_text="As entered, in `unit`.")
    unit = models.CharField(max_length=32, blank=True, help_text="As entered (blank only for unitless INR).")
    value_canonical = models.FloatField()
    unit_canonical = models.CharField(max_length=32)
    observed_at = models.DateTimeField(help_text="When the specimen was taken (FHIR effectiveDateTime).")
    specimen = models.CharField(max_length=64, blank=True)
    reference_low = models.FloatField(null=True, blank=True)
    reference_high = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=8, choices=RecordSource.choices, default=RecordSource.MANUAL)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    entered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-observed_at", "-id"]
        indexes = [models.Index(fields=["patient", "code", "observed_at"], name="labobs_patient_code_time")]

    def __str__(self) -> str:
        # No value here: this string can reach logs.
        return f"observation {self.pk} ({self.code})"
