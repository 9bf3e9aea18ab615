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

from cdss.accounts.models import Role
from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound, PermissionDenied
from inference.models import Report
from inference.reports.services import report_amend, report_sign, report_verify
from patients.access import patient_get_for_user, patients_for_user


def _superseding_id(report: Report) -> int | None:
    try:
        return report.superseded_by.pk
    except Report.DoesNotExist:
        return None


class ReportSerializer(serializers.ModelSerializer[Report]):
    patient = serializers.IntegerField(source="patient_id")
    request = serializers.IntegerField(source="request_id", allow_null=True)
    supersedes = serializers.IntegerField(source="supersedes_id", allow_null=True)
    signed_by = serializers.IntegerField(source="signed_by_id", allow_null=True)
    superseded_by = serializers.SerializerMethodField()
    integrity_ok = serializers.SerializerMethodField()

    class Meta:
        model = Report
        fields = ["id", "patient", "request", "version", "supersedes", "superseded_by", "status", "content",
                  "content_sha256", "integrity_ok", "created_at", "signed_by", "signed_at", "sign_comment"]

    def get_superseded_by(self, obj: Report) -> int | None:
        return _superseding_id(obj)

    def get_integrity_ok(self, obj: Report) -> bool:
        return report_verify(obj)


class ReportSummarySerializer(serializers.ModelSerializer[Report]):
    request = serializers.IntegerField(source="request_id", allow_null=True)
    supersedes = serializers.IntegerField(source="supersedes_id", allow_null=True)
    superseded_by = serializers.SerializerMethodField(help_text="The amendment that replaced this version, if any")
    latest = serializers.SerializerMethodField(help_text="The patient's newest report version (a re-run or amendment)")

    class Meta:
        model = Report
        fields = ["id", "version", "status", "request", "supersedes", "superseded_by", "latest", "created_at",
                  "signed_at", "content_sha256"]

    def get_superseded_by(self, obj: Report) -> int | None:
        return _superseding_id(obj)

    def get_latest(self, obj: Report) -> bool:
        return bool(obj.version == self.context.get("latest_version"))


class SignSerializer(serializers.Serializer[Any]):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AmendSerializer(serializers.Serializer[Any]):
    text = serializers.CharField(max_length=5000)


def report_get_for_user(user: Any, report_id: int) -> Report:
    report = Report.objects.filter(pk=report_id, patient__in=patients_for_user(user)).first()
    if report is None:
        raise NotFound("Report not found.")
    return report


def _require_clinician(user: Any) -> None:
    if getattr(user, "role", None) not in (Role.CLINICIAN, Role.ADMIN):
        raise PermissionDenied("Only clinicians may sign or amend reports.")


def _audit_read(request: Request, report: Report, action: str = AuditAction.READ, **detail: Any) -> None:
    audit_record(actor=request.user, action=action, object_type="report", object_id=report.pk,
                 patient_id=report.patient_id, request=request, detail=detail)


class PatientReportListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=ReportSummarySerializer(many=True))
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        reports = list(Report.objects.filter(patient=patient).select_related("superseded_by").order_by("-version"))
        audit_record(actor=request.user, action=AuditAction.READ, object_type="report_list", patient_id=patient.pk,
                     request=request, detail={"report_ids": [r.pk for r in reports]})
        latest = {"latest_version": reports[0].version if reports else None}
        return Response(ReportSummarySerializer(reports, many=True, context=latest).data)


class ReportDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=ReportSerializer)
    def get(self, request: Request, report_id: int) -> Response:
        report = report_get_for_user(request.user, report_id)
        _audit_read(request, report)
        return Response(ReportSerializer(report).data)


class ReportSignApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=SignSerializer, responses=ReportSerializer)
    def post(self, request: Request, report_id: int) -> Response:
        report = report_get_for_user(request.user, report_id)
        _require_clinician(request.user)
        body = SignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        signed = report_sign(actor=request.user, report=report, comment=body.validated_data["comment"], request=request)
        return Response(ReportSerializer(signed).data)


class ReportAmendApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=AmendSerializer, responses={201: ReportSerializer})
    def post(self, request: Request, report_id: int) -> Response:
        report = report_get_for_user(request.user, report_id)
        _require_clinician(request.user)
        body = AmendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        amended = report_amend(actor=request.user, report=report, amendment=body.validated_data["text"], request=request)
        return Response(ReportSerializer(amended).data, status=201)


class ReportExportApi(APIView):
    """PDF, FHIR DiagnosticReport bundle, or a printable HTML page of one report version."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY, (200, "application/fhir+json"): OpenApiTypes.OBJECT,
                              (200, "text/html"): OpenApiTypes.STR})
    def get(self, request: Request, report_id: int, fmt: str) -> HttpResponse:
        from inference.reports import exports

        report = report_get_for_user(request.user, report_id)
        _audit_read(request, report, action=AuditAction.EXPORT, format=fmt)
        if fmt == "pdf":
            response = HttpResponse(exports.report_pdf(report), content_type="application/pdf")
            response["Content-Disposition"] = f'attachment; filename="report-{report.pk}-v{report.version}.pdf"'
            return response
        if fmt == "fhir":
            return HttpResponse(exports.report_fhir_json(report), content_type="application/fhir+json")
        if fmt == "html":
            return HttpResponse(exports.report_html(report), content_type="text/html; charset=utf-8")
        raise NotFound("Unknown export format.")
