"""Telemedicine: a question about a patient put to a remote consultant, the scoped and
time-limited share that goes with it, a room to discuss it, and the consultant's signed opinion.

The share itself is a ``patients.ShareGrant`` (the access module decides what the consultant
sees); a consultation creates it on acceptance and ends it on close.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ConsultationStatus(models.TextChoices):
    REQUESTED = "requested"
    OPEN = "open"  # accepted: the share is live and the room usable
    DECLINED = "declined"
    CLOSED = "closed"


class Urgency(models.TextChoices):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class Consultation(models.Model):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="consultations")
    # The one consultant asked, or, when a group was asked, whoever of it accepted.
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consultations", null=True, blank=True
    )
    consultant_group = models.ForeignKey(
        "accounts.CareTeam", on_delete=models.PROTECT, related_name="consultations", null=True, blank=True
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consultations_requested"
    )
    question = models.TextField(blank=True)
    urgency = models.CharField(max_length=10, choices=Urgency.choices, default=Urgency.ROUTINE)
    status = models.CharField(max_length=10, choices=ConsultationStatus.choices, default=ConsultationStatus.REQUESTED)
    # De-identified unless the sharing clinician decides otherwise.
    identifiable = models.BooleanField(default=False)
    scope = models.CharField(max_length=8, default="record")  # patients.ShareScope
    study_uids = models.JSONField(default=list, blank=True)
    report_ids = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    grant = models.OneToOneField(
        "patients.ShareGrant", on_delete=models.PROTECT, related_name="consultation", null=True, blank=True
    )
    thread = models.OneToOneField(
        "messaging.Thread", on_delete=models.PROTECT, related_name="consultation", null=True, blank=True
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )

    class Meta:
        indexes = [models.Index(fields=["consultant", "status"])]

    def __str__(self) -> str:
        return f"consultation {self.pk} ({self.status})"


class Opinion(models.Model):
    """The consultant's structured answer; immutable once signed, part of the patient's record."""

    consultation = models.OneToOneField(Consultation, on_delete=models.PROTECT, related_name="opinion")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="consult_opinions")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consult_opinions")
    answer = models.TextField()
    recommendations = models.JSONField(default=list)
    urgency = models.CharField(max_length=10, choices=Urgency.choices)
    signed_at = models.DateTimeField()
    # SHA-256 over the signed content, so any later change to the row is detectable.
    content_sha256 = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"opinion {self.pk}"
