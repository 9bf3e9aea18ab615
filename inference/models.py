"""Analysis requests, their steps, and the immutable, versioned reports they produce.

Delivery is at least once, so every step is idempotent: a step that is ``done`` is never run
again, a request has at most one report (a unique constraint, not a convention), and a report's
content never changes after it is written (only its sign-off fields do).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class AnalysisStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class AnalysisRequest(models.Model):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="analysis_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=128)
    series_uids = models.JSONField(default=list)
    model_keys = models.JSONField(default=list)
    options = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=AnalysisStatus.choices, default=AnalysisStatus.QUEUED)
    current_step = models.CharField(max_length=64, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    redrive_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["requested_by", "idempotency_key"], name="analysis_idempotency_unique")
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"analysis {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (AnalysisStatus.SUCCEEDED, AnalysisStatus.FAILED)


class StepKind(models.TextChoices):
    IMAGING = "imaging"
    RISK = "risk"
    FUSION = "fusion"
    REPORT = "report"


class StepStatus(models.TextChoices):
    PENDING = "pending"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class AnalysisStep(models.Model):
    request = models.ForeignKey(AnalysisRequest, on_delete=models.CASCADE, related_name="steps")
    key = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=StepKind.choices)
    order = models.PositiveSmallIntegerField()
    series_uid = models.CharField(max_length=64, blank=True)
    model_key = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["request", "key"], name="analysis_step_key_unique")]

    def __str__(self) -> str:
        return f"step {self.key} ({self.status})"


class ReportStatus(models.TextChoices):
    DRAFT = "draft"
    FINAL = "final"
    AMENDED = "amended"  # a later version replaced this one


class ReportImmutableError(Exception):
    """Raised on any attempt to change a report's content after it was written."""


class Report(models.Model):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="reports")
    # One report per analysis request, enforced by the database: duplicate deliveries of the
    # report step cannot make a second one.
    request = models.OneToOneField(
        AnalysisRequest, on_delete=models.PROTECT, related_name="report", null=True, blank=True
    )
    version = models.PositiveIntegerField()
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    status = models.CharField(max_length=10, choices=ReportStatus.choices, default=ReportStatus.DRAFT)
    content = models.JSONField()
    content_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    sign_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["patient", "version"], name="report_patient_version_unique")]

    def __str__(self) -> str:
        return f"report {self.pk} v{self.version} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            stored = Report.objects.filter(pk=self.pk).values("content", "content_sha256", "version", "patient_id").first()
            if stored and (
                stored["content"] != self.content
                or stored["content_sha256"] != self.content_sha256
                or stored["version"] != self.version
                or stored["patient_id"] != self.patient_id
            ):
                raise ReportImmutableError("a report's content never changes; amend to make a new version")
        super().save(*args, **kwargs)
