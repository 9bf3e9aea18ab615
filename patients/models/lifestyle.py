from __future__ import annotations

from django.db import models

from patients.models.patient import Patient
from patients.models.source import AttributedRecord


class AlcoholUnit(models.TextChoices):
    GRAMS_PER_DAY = "g/day"
    # UK units: one unit is 8 g of ethanol.
    UNITS_PER_WEEK = "units/week"


class SmokingStatus(models.TextChoices):
    NEVER = "never"
    FORMER = "former"
    CURRENT = "current"


class DiabetesStatus(models.TextChoices):
    NONE = "none"
    PREDIABETES = "prediabetes"
    TYPE_1 = "type_1"
    TYPE_2 = "type_2"
    OTHER = "other"


class LifestyleRecord(AttributedRecord):
    """What was recorded on one date; every field is optional and null means "not recorded".

    Records are never overwritten by newer ones, so the history stays; the latest value of each
    field is the newest record that states it.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="lifestyle_records")
    recorded_on = models.DateField()
    alcohol_value = models.FloatField(null=True, blank=True, help_text="As entered, in `alcohol_unit`.")
    alcohol_unit = models.CharField(max_length=12, choices=AlcoholUnit.choices, blank=True)
    alcohol_g_per_day = models.FloatField(null=True, blank=True)
    smoking_status = models.CharField(max_length=8, choices=SmokingStatus.choices, null=True, blank=True)  # noqa: DJ001  (null: not recorded)
    pack_years = models.FloatField(null=True, blank=True)
    height_cm = models.FloatField(null=True, blank=True)
    weight_kg = models.FloatField(null=True, blank=True)
    bmi = models.FloatField("BMI (kg/m2)", null=True, blank=True)
    diabetes = models.CharField(max_length=12, choices=DiabetesStatus.choices, null=True, blank=True)  # noqa: DJ001  (null: not recorded)
    activity_minutes_per_week = models.PositiveIntegerField(
        null=True, blank=True, help_text="Moderate-to-vigorous physical activity."
    )

    class Meta:
        ordering = ["-recorded_on", "-id"]

    def __str__(self) -> str:
        return f"lifestyle record {self.pk}"
