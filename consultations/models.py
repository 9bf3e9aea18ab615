"""Telemedicine: a case shared with a remote consultant for as long as the consultation is open."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ConsultationStatus(models.TextChoices):
    OPEN = "open"
    CLOSED = "closed"


class Consultation(models.Model):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="consultations")
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consultations")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consultations_requested"
    )
    question = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=ConsultationStatus.choices, default=ConsultationStatus.OPEN)
    # De-identified unless the sharing clinician decides otherwise.
    identifiable = models.BooleanField(default=False)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["consultant", "status"])]

    def __str__(self) -> str:
        return f"consultation {self.pk} ({self.status})"
