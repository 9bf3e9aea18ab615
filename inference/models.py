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
    """A report's place in its lifecycle: draft -> signed -> (amended | superseded).

    The stored value of a signed report stays ``final`` (the FHIR DiagnosticReport status, and
    what earlier clients read); its label is "signed". A signed report stops being current only
    when a newer version of the same patient is signed: ``amended`` when that version amends
    it, ``superseded`` when it came from a newer analysis. A draft never displaces it.
    """

    DRAFT = "draft", "draft"
    FINAL = "final", "signed"
    AMENDED = "amended", "amended"
    SUPERSEDED = "superseded", "superseded"


SIGNED_STATUSES = (ReportStatus.FINAL, ReportStatus.AMENDED, ReportStatus.SUPERSEDED)


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
    # The analysis whose results this version presents: the request of the report step, and of
    # the drafts recomputed from it after a finding decision, and of amendments of either.
    analysis = models.ForeignKey(
        AnalysisRequest, on_delete=models.PROTECT, related_name="report_versions", null=True, blank=True
    )
    # The signed version this one replaced, set when this one is signed (a draft displaces nothing).
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    # For an amendment: the signed version it amends (set when the amendment draft is made).
    amends = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="amendments")
    # For a draft recomputed after finding decisions: the version it was recomputed from.
    derived_from = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="derived_versions"
    )
    status = models.CharField(max_length=10, choices=ReportStatus.choices, default=ReportStatus.DRAFT)
    content = models.JSONField()
    content_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    sign_comment = models.TextField(blank=True)
    # Release to the patient: an explicit, audited step (or at signing, by REPORT_RELEASE_POLICY).
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    released_at = models.DateTimeField(null=True, blank=True)
    # The DICOM SR of the signed version's measurements (inference.reports.dicom_sr): its status
    # and UIDs. Outside the hashed content: it is written after signing, by the worker.
    sr = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "version"], name="report_patient_version_unique"),
            # At most one current signed version per patient.
            models.UniqueConstraint(
                fields=["patient"], condition=models.Q(status="final"), name="report_one_signed_per_patient"
            ),
            models.CheckConstraint(
                condition=models.Q(released_at__isnull=True) | models.Q(signed_at__isnull=False),
                name="report_released_only_when_signed",
            ),
        ]

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

    @property
    def is_signed(self) -> bool:
        return self.status in SIGNED_STATUSES

    @property
    def is_released(self) -> bool:
        return self.released_at is not None


class FindingKind(models.TextChoices):
    LESION = "lesion", "liver lesion"
    NODULE = "nodule", "lung nodule"
    CLASSIFICATION = "classification", "image classification"
    SEGMENTATION = "segmentation", "organ segmentation"


class FindingStatus(models.TextChoices):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    EDITED = "edited"
    REJECTED = "rejected"


class FindingDecisionStatus(models.TextChoices):
    """What a clinician may decide about a finding (the API's choices)."""

    ACCEPTED = "accepted"
    EDITED = "edited"
    REJECTED = "rejected"


class FindingSource(models.TextChoices):
    MODEL = "model"
    CLINICIAN = "clinician"


# Statuses whose findings count: staging, recommendations and scores read only these.
FINDING_COUNTED_STATUSES = (FindingStatus.ACCEPTED, FindingStatus.EDITED)


class ImagingFinding(models.Model):
    """One reviewable finding of an analysis: made by a model (``proposed`` until a clinician
    decides) or entered by a clinician (counted at once). ``proposed`` keeps the model's own
    values unchanged; ``values`` are the ones that count, changed only by an ``edited`` decision.
    Every decision is also a :class:`FindingDecision` row and an audit entry."""

    analysis = models.ForeignKey(AnalysisRequest, on_delete=models.PROTECT, related_name="findings")
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="imaging_findings")
    kind = models.CharField(max_length=16, choices=FindingKind.choices)
    source = models.CharField(max_length=10, choices=FindingSource.choices, default=FindingSource.MODEL)
    # Where a model finding came from, so that a repeated delivery finds the same row: the step's
    # key and the finding's place in its result ("lesion:1", "prediction:<SOP UID>", "liver").
    step_key = models.CharField(max_length=200, blank=True)
    source_ref = models.CharField(max_length=200)
    series_uid = models.CharField(max_length=64, blank=True)
    model_key = models.CharField(max_length=64, blank=True)
    model_version = models.CharField(max_length=32, blank=True)
    label = models.CharField(max_length=32)
    proposed = models.JSONField(default=dict, blank=True)
    values = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=FindingStatus.choices, default=FindingStatus.PROPOSED)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["analysis_id", "kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["analysis", "step_key", "source_ref"], name="finding_source_unique"),
        ]

    def __str__(self) -> str:
        return f"finding {self.pk} {self.kind} ({self.status})"

    @property
    def counts(self) -> bool:
        return self.status in FINDING_COUNTED_STATUSES


class FindingDecision(models.Model):
    """Append-only history of the decisions on a finding: who, when, what and why."""

    finding = models.ForeignKey(ImagingFinding, on_delete=models.CASCADE, related_name="decisions")
    status = models.CharField(max_length=10, choices=FindingStatus.choices)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()
    reason = models.TextField(blank=True)
    label = models.CharField(max_length=32, blank=True)
    values = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["decided_at", "id"]

    def __str__(self) -> str:
        return f"decision {self.pk} on finding {self.finding_id}: {self.status}"


class CxrIntakeMode(models.TextChoices):
    BATCH = "batch", "batch of images"
    VIDEO = "video", "video file"
    CAMERA = "camera", "camera capture"


class CxrIntakeJob(models.Model):
    """Chest X-ray images classified outside the PACS workflow (batch, video, camera), by the worker.

    Visible to the user who started it only; its images reach a patient's record only when filed
    (``filed`` lists the studies made from it)."""

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    mode = models.CharField(max_length=8, choices=CxrIntakeMode.choices)
    status = models.CharField(max_length=10, choices=AnalysisStatus.choices, default=AnalysisStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    model = models.JSONField(default=dict, blank=True)
    results = models.JSONField(default=list, blank=True)
    timeline = models.JSONField(default=list, blank=True)
    filed = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"cxr intake {self.pk} ({self.mode}, {self.status})"


class CxrIntakeInput(models.Model):
    """One uploaded file (an image or a video) or a key frame kept from a video, as bytes."""

    job = models.ForeignKey(CxrIntakeJob, on_delete=models.CASCADE, related_name="inputs")
    index = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=8)  # image | video | frame
    content = models.BinaryField()

    class Meta:
        ordering = ["job_id", "kind", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "kind", "index"], name="cxr_intake_input_unique")]

    def __str__(self) -> str:
        return f"cxr intake input {self.job_id}/{self.kind}/{self.index}"
