"""Time-limited shares of a patient's record with one user (a remote consultant).

A grant is the only thing that lets a consultant see a patient (``patients.access``). It ends
at ``expires_at`` or when revoked, whichever comes first; nothing needs to run for expiry to
take effect because every check compares with the current time.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


class ShareScope(models.TextChoices):
    RECORD = "record", "Whole record"
    STUDIES = "studies", "Chosen studies and reports"


def pseudonym_new() -> str:
    return "P-" + secrets.token_hex(4).upper()


class ShareGrant(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="share_grants")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="share_grants")
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="share_grants_given"
    )
    scope = models.CharField(max_length=8, choices=ShareScope.choices, default=ShareScope.RECORD)
    # With scope "studies": the StudyInstanceUIDs and report ids shared (plain values, because
    # imaging and reports live in layers above this one).
    study_uids = models.JSONField(default=list, blank=True)
    report_ids = models.JSONField(default=list, blank=True)
    identifiable = models.BooleanField(default=False)
    # Shown instead of name and MRN when the share is de-identified; stable for the grant.
    pseudonym = models.CharField(max_length=16, default=pseudonym_new)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"])]

    def __str__(self) -> str:
        return f"share grant {self.pk}"

    def is_active(self, now: dt.datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())
