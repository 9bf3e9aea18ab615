from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound
from inference.analysis.catalog import analysis_models
from inference.analysis.services import analysis_request_create
from inference.models import AnalysisRequest
from patients.access import patient_get_for_edit, patients_for_user


class AnalysisCreateSerializer(serializers.Serializer[Any]):
    patient = serializers.IntegerField()
    series = serializers.ListField(child=serializers.CharField(max_length=64), max_length=50, default=list)
    models = serializers.ListField(child=serializers.CharField(max_length=64), max_length=10, default=list)
    options = serializers.DictField(default=dict)
    idempotency_key = serializers.CharField(max_length=128)


class AnalysisStepSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    error_code = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class AnalysisSerializer(serializers.ModelSerializer[AnalysisRequest]):
    steps = AnalysisStepSerializer(many=True, read_only=True)
    report_id = serializers.SerializerMethodField()
    patient = serializers.IntegerField(source="patient_id")

    class Meta:
        model = AnalysisRequest
        fields = ["id", "patient", "series_uids", "model_keys", "options", "status", "current_step", "progress",
                  "error_code", "error_message", "created_at", "updated_at", "finished_at", "steps", "report_id"]

    def get_report_id(self, obj: AnalysisRequest) -> int | None:
        if not obj.is_finished:
            return None  # as in the live events: the report is announced when the request finishes
        report = getattr(obj, "report", None)
        return report.pk if report is not None else None


def analysis_get_for_user(user: Any, analysis_id: int, *, request: Any = None) -> AnalysisRequest:
    analysis = (
        AnalysisRequest.objects.filter(pk=analysis_id, patient__in=patients_for_user(user))
        .select_related("report").prefetch_related("steps").first()
    )
    if analysis is None:
        raise NotFound("Analysis not found.")
    return analysis


class AnalysisListCreateApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=AnalysisCreateSerializer, responses={201: AnalysisSerializer, 200: AnalysisSerializer})
    def post(self, request: Request) -> Response:
        body = AnalysisCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        patient = patient_get_for_edit(request.user, data["patient"], request=request)
        if data["series"]:
            from imaging.selectors import series_uids_of_patient

            foreign = sorted(set(data["series"]) - series_uids_of_patient(patient=patient))
            if foreign:
                raise NotFound("Series not found for this patient.", code="series_not_found", detail={"series": foreign})
        analysis, created = analysis_request_create(
            actor=request.user, patient=patient, series_uids=data["series"], model_keys=data["models"],
            idempotency_key=data["idempotency_key"], options=data["options"], request=request,
        )
        if analysis.patient_id != patient.pk:
            raise NotFound("Analysis not found.")
        # A request this view just stored is answered from memory: fetching it again (with the
        # access subquery) cost as much as storing it, while the worker was starting its step.
        fresh = analysis if created else analysis_get_for_user(request.user, analysis.pk)
        return Response(AnalysisSerializer(fresh).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses=AnalysisSerializer(many=True))
    def get(self, request: Request) -> Response:
        patient_id = request.query_params.get("patient")
        analyses = AnalysisRequest.objects.filter(patient__in=patients_for_user(request.user))
        if patient_id:
            analyses = analyses.filter(patient_id=int(patient_id) if patient_id.isdigit() else -1)
        rows = list(analyses.select_related("report").prefetch_related("steps").order_by("-created_at")[:50])
        audit_record(actor=request.user, action=AuditAction.READ, object_type="analysis_list", request=request,
                     detail={"analysis_ids": [a.pk for a in rows]})
        return Response(AnalysisSerializer(rows, many=True).data)


class AnalysisDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=AnalysisSerializer)
    def get(self, request: Request, analysis_id: int) -> Response:
        analysis = analysis_get_for_user(request.user, analysis_id)
        audit_record(actor=request.user, action=AuditAction.READ, object_type="analysis_request", object_id=analysis.pk,
                     patient_id=analysis.patient_id, request=request)
        return Response(AnalysisSerializer(analysis).data)


class AnalysisModelsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response([
            {"key": m.key, "kind": m.kind, "modalities": list(m.modalities), "description": m.description}
            for m in analysis_models().values()
        ])
