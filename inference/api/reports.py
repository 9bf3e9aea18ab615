"""Report endpoints: thin adapters over ``inference.selectors`` and ``inference.reports.services``.

Patients are answered with the patient version of their released reports (and the same 404 as
for a missing report for anything else); clinicians and consultants with the full report.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdss.audit.models import AuditAction
from cdss.audit.reads import read_audit_note
from cdss.core.errors import NotFound
from inference.models import Report, ReportStatus
from inference.reports import exports
from inference.reports.dicom_sr import sr_download, sr_state
from inference.reports.patient_view import (
    report_patient_fhir,
    report_patient_html,
    report_patient_pdf,
    report_patient_summary,
    report_patient_version,
)
from inference.reports.presentation import report_document
from inference.reports.services import (
    report_amend,
    report_release,
    report_sign,
    report_verify,
    user_display_name,
)
from inference.reports.signing import report_findings_pending, report_sign_blocker, report_user_may_sign
from inference.selectors import report_get_for_user, report_versions_for_patient, user_is_patient
from patients.access import patient_get_for_export, patient_get_for_user


def _superseding_id(report: Report) -> int | None:
    try:
        return report.superseded_by.pk
    except Report.DoesNotExist:
        return None


def _requested_by(report: Report) -> Any:
    analysis = report.analysis
    return analysis.requested_by if analysis is not None else report.created_by


class _LifecycleFields(serializers.Serializer[Report]):
    """Who asked, who signed and released, by name; the version's place in the lifecycle."""

    status_label = serializers.SerializerMethodField()
    current = serializers.SerializerMethodField(help_text="The patient's current signed version")
    requested_by_name = serializers.SerializerMethodField()
    requested_at = serializers.SerializerMethodField()
    signed_by_name = serializers.SerializerMethodField()
    released_by_name = serializers.SerializerMethodField()
    released_at = serializers.DateTimeField(allow_null=True)
    analysis = serializers.IntegerField(source="analysis_id", allow_null=True)
    amends = serializers.IntegerField(source="amends_id", allow_null=True)
    derived_from = serializers.IntegerField(source="derived_from_id", allow_null=True)
    findings_pending = serializers.SerializerMethodField(help_text="AI findings still proposed when this version was made")

    def get_status_label(self, obj: Report) -> str:
        return str(ReportStatus(obj.status).label)

    def get_current(self, obj: Report) -> bool:
        return obj.status == ReportStatus.FINAL

    def get_requested_by_name(self, obj: Report) -> str | None:
        return user_display_name(_requested_by(obj))

    def get_requested_at(self, obj: Report) -> str | None:
        analysis = obj.analysis
        return analysis.created_at.isoformat() if analysis is not None else None

    def get_signed_by_name(self, obj: Report) -> str | None:
        return user_display_name(obj.signed_by)

    def get_released_by_name(self, obj: Report) -> str | None:
        return user_display_name(obj.released_by)

    def get_findings_pending(self, obj: Report) -> int:
        return report_findings_pending(obj)


LIFECYCLE_FIELDS = ["status_label", "current", "requested_by_name", "requested_at", "signed_by_name",
                    "released_by_name", "released_at", "analysis", "amends", "derived_from", "findings_pending"]


class ReportSerializer(_LifecycleFields, serializers.ModelSerializer[Report]):
    patient = serializers.IntegerField(source="patient_id")
    request = serializers.IntegerField(source="request_id", allow_null=True)
    supersedes = serializers.IntegerField(source="supersedes_id", allow_null=True)
    signed_by = serializers.IntegerField(source="signed_by_id", allow_null=True)
    superseded_by = serializers.SerializerMethodField()
    integrity_ok = serializers.SerializerMethodField()
    sign_blocker = serializers.SerializerMethodField(help_text="Why this version cannot be signed now ({code, message}), or null")

    class Meta:
        model = Report
        fields = ["id", "patient", "request", "version", "supersedes", "superseded_by", "status", "content",
                  "content_sha256", "integrity_ok", "created_at", "signed_by", "signed_at", "sign_comment",
                  *LIFECYCLE_FIELDS, "sign_blocker"]

    def get_superseded_by(self, obj: Report) -> int | None:
        return _superseding_id(obj)

    def get_integrity_ok(self, obj: Report) -> bool:
        return report_verify(obj)

    def get_sign_blocker(self, obj: Report) -> dict[str, Any] | None:
        if obj.status != ReportStatus.DRAFT:
            return None
        blocker = report_sign_blocker(obj)
        return None if blocker is None else {"code": blocker.code, "message": blocker.message}


class ReportSummarySerializer(_LifecycleFields, serializers.ModelSerializer[Report]):
    request = serializers.IntegerField(source="request_id", allow_null=True)
    supersedes = serializers.IntegerField(source="supersedes_id", allow_null=True)
    superseded_by = serializers.SerializerMethodField(help_text="The signed version that replaced this one, if any")
    latest = serializers.SerializerMethodField(help_text="The patient's newest report version (a re-run or amendment)")

    class Meta:
        model = Report
        fields = ["id", "version", "status", "request", "supersedes", "superseded_by", "latest", "created_at",
                  "signed_at", "content_sha256", *LIFECYCLE_FIELDS]

    def get_superseded_by(self, obj: Report) -> int | None:
        return _superseding_id(obj)

    def get_latest(self, obj: Report) -> bool:
        return bool(obj.version == self.context.get("latest_version"))


class PatientReportSerializer(serializers.Serializer[Any]):
    """The patient version (schema ``cdss.report.patient/1``); see ``inference.reports.patient_view``."""

    schema = serializers.CharField()
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    current = serializers.BooleanField()
    title = serializers.CharField()
    signed_by = serializers.CharField(allow_null=True)
    signed_at = serializers.CharField(allow_null=True)
    released_at = serializers.CharField(allow_null=True)
    scores = serializers.ListField(child=serializers.DictField())
    findings = serializers.ListField(child=serializers.CharField())
    advice = serializers.ListField(child=serializers.CharField())
    about = serializers.CharField()


class SignSerializer(serializers.Serializer[Any]):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AmendSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(max_length=5000)


def _note_version_shown(request: Request) -> bool:
    """Whether the patient version is shown (to a patient); the audit entry says so."""
    patient_version = user_is_patient(request.user)
    if patient_version:
        read_audit_note(version_shown="patient")
    return patient_version


def _full(report: Report) -> dict[str, Any]:
    data = dict(ReportSerializer(report).data)
    # The clinical document (inference.reports.presentation): the page shows the same rows as the PDF.
    data["document"] = report_document(report).as_dict()
    # The signed measurements as a DICOM SR in the PACS (inference.reports.dicom_sr).
    data["dicom_sr"] = sr_state(report)
    return data


class PatientReportListApi(APIView):
    audit_object_type = "report_list"
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=ReportSummarySerializer(many=True))
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        reports = report_versions_for_patient(request.user, patient_id=patient.pk)
        read_audit_note(report_ids=[r.pk for r in reports])
        if user_is_patient(request.user):
            return Response([report_patient_summary(r) for r in reports])
        latest = {"latest_version": reports[0].version if reports else None}
        return Response(ReportSummarySerializer(reports, many=True, context=latest).data)


class ReportDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=ReportSerializer)
    def get(self, request: Request, report_id: int) -> Response:
        report = report_get_for_user(request.user, report_id)
        if _note_version_shown(request):
            return Response(report_patient_version(report))
        data = _full(report)
        data["may_sign"] = report_user_may_sign(request.user)
        return Response(data)


class ReportSignApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=SignSerializer, responses=ReportSerializer)
    def post(self, request: Request, report_id: int) -> Response:
        report = report_get_for_user(request.user, report_id)
        body = SignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        signed = report_sign(actor=request.user, report=report, comment=body.validated_data["comment"], request=request)
        return Response(_full(signed))


class ReportAmendApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=AmendSerializer, responses={201: ReportSerializer})
    def post(self, request: Request, report_id: int) -> Response:
        report = report_get_for_user(request.user, report_id)
        body = AmendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        amended = report_amend(actor=request.user, report=report, amendment=body.validated_data["text"], request=request)
        return Response(_full(amended), status=201)


class ReportReleaseApi(APIView):
    """Release the current signed version to the patient (an audited step of its own)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=ReportSerializer)
    def post(self, request: Request, report_id: int) -> Response:
        report = report_get_for_user(request.user, report_id)
        released = report_release(actor=request.user, report=report, request=request)
        return Response(_full(released))


class ReportExportApi(APIView):
    """PDF, FHIR DiagnosticReport bundle, a printable HTML page or the DICOM SR (``dcm``) of one
    report version; for a patient, of the patient version of a released report."""

    audit_object_type = "report"
    audit_action = AuditAction.EXPORT
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY, (200, "application/fhir+json"): OpenApiTypes.OBJECT,
                              (200, "text/html"): OpenApiTypes.STR, (200, "application/dicom"): OpenApiTypes.BINARY})
    def get(self, request: Request, report_id: int, fmt: str) -> HttpResponse:
        if fmt not in ("pdf", "fhir", "html", "dcm"):
            raise NotFound("Unknown export format.")
        report = report_get_for_user(request.user, report_id)
        # A printed report names the patient: refused to a de-identified share.
        patient_get_for_export(request.user, report.patient_id, request=request)
        read_audit_note(format=fmt)
        patient_version = _note_version_shown(request)
        if fmt == "dcm":
            response = HttpResponse(sr_download(report), content_type="application/dicom")
            response["Content-Disposition"] = f'attachment; filename="report-{report.pk}-v{report.version}-sr.dcm"'
            return response
        if fmt == "pdf":
            pdf = report_patient_pdf(report) if patient_version else exports.report_pdf(report)
            response = HttpResponse(pdf, content_type="application/pdf")
            response["Content-Disposition"] = f'attachment; filename="report-{report.pk}-v{report.version}.pdf"'
            return response
        if fmt == "fhir":
            body = report_patient_fhir(report) if patient_version else exports.report_fhir_json(report)
            return HttpResponse(body, content_type="application/fhir+json")
        html = report_patient_html(report) if patient_version else exports.report_html(report)
        return HttpResponse(html, content_type="text/html; charset=utf-8")
