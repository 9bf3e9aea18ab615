from __future__ import annotations

from django.conf import settings
from django.db import models


class Sex(models.TextChoices):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class PatientStatus(models.TextChoices):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DECEASED = "deceased"


class Patient(models.Model):
    mrn = models.CharField("MRN", max_length=64, unique=True)
    given_name = models.CharField(max_length=120)
    family_name = models.CharField(max_length=120, db_index=True)
    birth_date = models.DateField(db_index=True)
    sex = models.CharField(max_length=8, choices=Sex.choices)
    phone = models.CharField(max_length=40, blank=True)
    email = models.EmailField(blank=True)
    # Contact address (FHIR Patient.address); all optional.
    address_line = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=120, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=80, blank=True)
    care_team = models.ForeignKey(
        "accounts.CareTeam", on_delete=models.PROTECT, related_name="patients", null=True, blank=True
    )
    # The patient's own login, if they have one: it sees this record and nothing else.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patient_record",
    )
    status = models.CharField(max_length=10, choices=PatientStatus.choices, default=PatientStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        # Deliberately no name or MRN: this string can reach logs.
        return f"patient {self.pk}"
