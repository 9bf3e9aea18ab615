"""Lung nodules in the record, and the context the lung nodule scores need.

A nodule is one dated row with the measurements Lung-RADS v2022, Brock (PanCan) and Fleischner
2017 read. It is typed by a clinician or copied from an imaging finding a clinician accepted
(``finding_id`` names that finding; this layer stores the id only, it does not import imaging).
"""

from __future__ import annotations

from django.db import models

from patients.models.patient import Patient
from patients.models.source import AttributedRecord


class NoduleType(models.TextChoices):
    SOLID = "solid"
    PART_SOLID = "part_solid"
    NON_SOLID = "non_solid"  # ground-glass


class NoduleStatus(models.TextChoices):
    NEW = "new"
    GROWING = "growing"
    STABLE = "stable"


class NodulePriorCategory(models.TextChoices):
    C2 = "2"
    C3 = "3"
    C4A = "4A"
    C4B = "4B"


class NoduleContext(models.TextChoices):
    SCREENING = "screening"
    INCIDENTAL = "incidental"


class ScreeningExam(models.TextChoices):
    BASELINE = "baseline"
    FOLLOW_UP = "follow_up"


class NodulePatientRisk(models.TextChoices):
    LOW = "low"
    HIGH = "high"


class LungNodule(AttributedRecord):
    """One lung nodule as seen on one date. Null means "not measured / not assessed"."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="lung_nodules")
    observed_on = models.DateField()
    nodule_type = models.CharField(max_length=12, choices=NoduleType.choices)
    long_axis_mm = models.FloatField(null=True, blank=True)
    short_axis_mm = models.FloatField(null=True, blank=True)
    mean_diameter_mm = models.FloatField(null=True, blank=True)
    volume_mm3 = models.FloatField(null=True, blank=True)
    solid_component_mm = models.FloatField(null=True, blank=True)
    mean_hu = models.FloatField("mean density (HU)", null=True, blank=True)
    calcified = models.BooleanField(null=True, blank=True)
    upper_lobe = models.BooleanField(null=True, blank=True)
    spiculated = models.BooleanField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=NoduleStatus.choices, blank=True, default="")
    prior_category = models.CharField(max_length=2, choices=NodulePriorCategory.choices, blank=True, default="")
    # centre in DICOM patient coordinates (LPS), mm
    centre_x_mm = models.FloatField(null=True, blank=True)
    centre_y_mm = models.FloatField(null=True, blank=True)
    centre_z_mm = models.FloatField(null=True, blank=True)
    series_uid = models.CharField(max_length=64, blank=True, default="")
    finding_id = models.PositiveIntegerField(null=True, blank=True, help_text="the accepted imaging finding copied")
    model_key = models.CharField(max_length=64, blank=True, default="")
    model_version = models.CharField(max_length=32, blank=True, default="")
    confidence = models.FloatField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-observed_on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "finding_id"], name="lung_nodule_one_per_finding",
                                    condition=models.Q(finding_id__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"lung nodule {self.pk}"


class LungNoduleAssessment(AttributedRecord):
    """The context of the nodule scores on one date: why the CT was made and the patient's risk."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="lung_nodule_assessments")
    assessed_on = models.DateField()
    nodule_context = models.CharField(max_length=12, choices=NoduleContext.choices, blank=True, default="")
    screening_exam = models.CharField(max_length=12, choices=ScreeningExam.choices, blank=True, default="")
    nodule_patient_risk = models.CharField(max_length=4, choices=NodulePatientRisk.choices, blank=True, default="")
    family_history_lung_cancer = models.BooleanField(null=True, blank=True)
    emphysema = models.BooleanField(null=True, blank=True)
    known_cancer_or_immunosuppressed = models.BooleanField(null=True, blank=True)
    nodule_count = models.PositiveSmallIntegerField("nodules on the scan", null=True, blank=True)

    class Meta:
        ordering = ["-assessed_on", "-id"]

    def __str__(self) -> str:
        return f"lung nodule assessment {self.pk}"
