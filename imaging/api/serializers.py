from __future__ import annotations

from rest_framework import serializers

from imaging.models import ImagingSeries, ImagingStudy


class ImagingSeriesSerializer(serializers.ModelSerializer[ImagingSeries]):
    class Meta:
        model = ImagingSeries
        fields = [
            "id", "series_instance_uid", "modality", "body_part", "description", "series_number",
            "series_date", "number_of_instances",
        ]
        read_only_fields = fields


class ImagingStudySerializer(serializers.ModelSerializer[ImagingStudy]):
    series = ImagingSeriesSerializer(many=True, read_only=True)

    class Meta:
        model = ImagingStudy
        fields = [
            "id", "patient", "study_instance_uid", "study_date", "description", "accession_number",
            "modalities", "body_parts", "number_of_series", "number_of_instances", "mismatch_confirmed",
            "link_source", "linked_at", "synced_at", "series",
        ]
        read_only_fields = fields


class ImagingUploadSerializer(serializers.Serializer[None]):
    """Multipart form: any number of files (DICOM or zip archives of DICOM) plus the flag."""

    files = serializers.ListField(child=serializers.FileField(), required=True)
    confirm_relink = serializers.BooleanField(
        required=False, default=False,
        help_text="Link files whose PatientID differs from the patient's MRN (the mismatch is recorded).",
    )
    relink_from = serializers.IntegerField(
        required=False, min_value=1,
        help_text="When the files' PatientID is another patient's MRN: that patient's id. You must be "
        "allowed to change both patients, and confirm_relink must be set too.",
    )


class FileResultSerializer(serializers.Serializer[None]):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["stored", "rejected", "not_sent", "failed", "skipped"])
    code = serializers.CharField(allow_null=True)
    message = serializers.CharField()
    detail = serializers.DictField(allow_null=True)
    study_instance_uid = serializers.CharField(allow_null=True)
    series_instance_uid = serializers.CharField(allow_null=True)
    sop_instance_uid = serializers.CharField(allow_null=True)


class StudyResultSerializer(serializers.Serializer[None]):
    study_instance_uid = serializers.CharField()
    status = serializers.ChoiceField(choices=["stored", "partial", "rejected", "failed"])
    files = serializers.IntegerField()
    imaging_study_id = serializers.IntegerField(allow_null=True)
    mismatch_confirmed = serializers.BooleanField()


class UploadReportSerializer(serializers.Serializer[None]):
    stored = serializers.IntegerField()
    rejected = serializers.IntegerField()
    files = FileResultSerializer(many=True)
    studies = StudyResultSerializer(many=True)


class StudyMismatchSerializer(serializers.Serializer[None]):
    study_instance_uid = serializers.CharField()
    reason = serializers.CharField()
    dicom_patient_id = serializers.CharField()
    mrn = serializers.CharField(allow_null=True)
    imaging_study_id = serializers.IntegerField(allow_null=True)
    patient_id = serializers.IntegerField(allow_null=True)


class SyncReportSerializer(serializers.Serializer[None]):
    linked = serializers.ListField(child=serializers.IntegerField())
    refreshed = serializers.ListField(child=serializers.IntegerField())
    missing = serializers.ListField(child=serializers.IntegerField())
    mismatches = StudyMismatchSerializer(many=True)
