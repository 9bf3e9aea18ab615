"""Imaging studies and series in the PACS, linked to patients by their DICOM UIDs.

The pixels stay in the DICOMweb server; these rows say which patient a study belongs to (the
proxy's access check follows StudyInstanceUID -> ImagingStudy -> patient -> care team) and cache
the QIDO-RS attributes the portal lists.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from imaging.uids import UID_MAX_LENGTH, uid_validator


class LinkSource(models.TextChoices):
    SYNC = "sync"  # QIDO-RS: the study's PatientID equals the patient's MRN
    UPLOAD = "upload"  # uploaded through the API for this patient
    IMPORT = "import"  # manage.py import_dicom
    DEMO = "demo"  # manage.py demo_load_imaging


class ImagingStudy(models.Model):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="imaging_studies")
    study_instance_uid = models.CharField(
        "StudyInstanceUID", max_length=UID_MAX_LENGTH, unique=True, validators=[uid_validator]
    )
    study_date = models.DateField(null=True, blank=True)
    description = models.CharField(max_length=255, blank=True)
    accession_number = models.CharField(max_length=64, blank=True)
    # ModalitiesInStudy, comma-separated (e.g. "CT,SEG").
    modalities = models.CharField(max_length=128, blank=True)
    # BodyPartExamined of its series, comma-separated.
    body_parts = models.CharField(max_length=255, blank=True)
    number_of_series = models.PositiveIntegerField(default=0)
    number_of_instances = models.PositiveIntegerField(default=0)
    # The PatientID the PACS holds for this study, as last seen. Normally the patient's MRN.
    dicom_patient_id = models.CharField(max_length=64, blank=True)
    # A user confirmed this link although dicom_patient_id differs from the MRN.
    mismatch_confirmed = models.BooleanField(default=False)
    link_source = models.CharField(max_length=8, choices=LinkSource.choices)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    linked_at = models.DateTimeField(auto_now_add=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-study_date", "-id"]
        verbose_name_plural = "imaging studies"

    def __str__(self) -> str:
        # No UID, MRN or description: this string can reach logs.
        return f"imaging study {self.pk}"


class ImagingSeries(models.Model):
    study = models.ForeignKey(ImagingStudy, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(
        "SeriesInstanceUID", max_length=UID_MAX_LENGTH, unique=True, validators=[uid_validator]
    )
    modality = models.CharField(max_length=16, blank=True)
    body_part = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=255, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    series_date = models.DateField(null=True, blank=True)
    number_of_instances = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["series_number", "id"]
        verbose_name_plural = "imaging series"

    def __str__(self) -> str:
        return f"imaging series {self.pk}"
