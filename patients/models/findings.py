from __future__ import annotations

from django.db import models

from patients.models.patient import Patient
from patients.models.source import AttributedRecord


class Ascites(models.TextChoices):
    NONE = "none"
    SLIGHT = "slight"
    MODERATE_SEVERE = "moderate_severe"


class Encephalopathy(models.TextChoices):
    NONE = "none"
    GRADE_1_2 = "grade_1_2"
    GRADE_3_4 = "grade_3_4"


class HbvStatus(models.TextChoices):
    NEGATIVE = "negative"
    CHRONIC = "chronic"  # HBsAg positive
    RESOLVED = "resolved"  # anti-HBc positive, HBsAg negative
    VACCINATED = "vaccinated"


class HcvStatus(models.TextChoices):
    NEGATIVE = "negative"
    CHRONIC = "chronic"  # HCV RNA positive
    CLEARED = "cleared"  # RNA negative after infection: sustained virological response or spontaneous


class ClinicalFinding(AttributedRecord):
    """A clinician's assessment on one date of the findings the scores need.

    Every field is optional; null means "not assessed", never "absent". The latest value of each
    field is the newest assessment that states it.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="clinical_findings")
    assessed_on = models.DateField()
    ascites = models.CharField(max_length=16, choices=Ascites.choices, null=True, blank=True)  # noqa: DJ001  (null: not assessed)
    encephalopathy = models.CharField(max_length=16, choices=Encephalopathy.choices, null=True, blank=True)  # noqa: DJ001  (null: not assessed)
    ecog_ps = models.PositiveSmallIntegerField("ECOG performance status", null=True, blank=True)
    dialysis_twice_past_week = models.BooleanField(
        null=True, blank=True, help_text="Two or more dialyses, or 24 h of CVVHD, in the week before."
    )
    hbv_status = models.CharField(max_length=12, choices=HbvStatus.choices, null=True, blank=True)  # noqa: DJ001  (null: not assessed)
    hcv_status = models.CharField(max_length=12, choices=HcvStatus.choices, null=True, blank=True)  # noqa: DJ001  (null: not assessed)
    known_cirrhosis = models.BooleanField(null=True, blank=True)
    cholestatic_disease = models.BooleanField(null=True, blank=True)
    # Staging findings BCLC 2022 needs: the tumour burden, then invasion and spread.
    tumour_count = models.PositiveSmallIntegerField("number of liver tumours (HCC nodules)", null=True, blank=True)
    tumour_largest_diameter_mm = models.FloatField("largest liver tumour diameter (mm)", null=True, blank=True)
    macrovascular_invasion = models.BooleanField(null=True, blank=True)
    extrahepatic_spread = models.BooleanField(null=True, blank=True)
    clinically_significant_portal_hypertension = models.BooleanField(null=True, blank=True)
    transplant_candidate = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["-assessed_on", "-id"]

    def __str__(self) -> str:
        return f"clinical finding {self.pk}"
