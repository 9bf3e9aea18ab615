from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdss.audit.reads import read_audit_note
from cdss.core.jsonbounds import json_check_bounds
from inference.analysis.catalog import analysis_models
from inference.analysis.services import analysis_request_start
from inference.models import AnalysisRequest, AnalysisStep
from inference.registry import model_list
from inference.selectors import analyses_recent_for_user, analysis_get_for_user
from patients.access import patient_get_for_edit

# Options are a few flags per model; anything bigger is stored in every request row for nothing.
OPTIONS_MAX_DEPTH = 4
OPTIONS_MAX_BYTES = 4096


class AnalysisCreateSerializer(serializers.Serializer[Any]):
    patient = serializers.IntegerField()
    series = serializers.ListField(child=serializers.CharField(max_length=64), max_length=50, default=list)
    models = serializers.ListField(child=serializers.CharField(max_length=64), max_length=10, default=list)
    options = serializers.DictField(default=dict)
    idempotency_key = serializers.CharField(max_length=128)

    def validate_options(self, value: dict[str, Any]) -> dict[str, Any]:
        json_check_bounds(value, field="options", max_depth=OPTIONS_MAX_DEPTH, max_bytes=OPTIONS_MAX_BYTES)
        return value


class AnalysisStepSerializer(serializers.ModelSerializer[AnalysisStep]):
    class Meta:
        model = AnalysisStep
        fields = ["key", "kind", "status", "attempts", "error_code", "started_at", "finished_at"]


class AnalysisSerializer(serializers.ModelSerializer[AnalysisRequest]):
    """An analysis request with its steps. Pass ``context={"steps": [...]}`` with the steps in
    hand (a request just created) to answer without reading them again."""

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

    def to_representation(self, instance: AnalysisRequest) -> dict[str, Any]:
        # Built directly: DRF's generic rendering (its fields built per call, and the steps read
        # again) was a quarter of the POST that starts an analysis, on the web process's one
        # core. A test checks that both give the same answer, field for field.
        steps = self.context.get("steps") if self.context else None
        ordered = sorted(steps, key=lambda s: (s.order, s.pk)) if steps is not None else instance.steps.all()
        return {
            "id": instance.pk, "patient": instance.patient_id, "series_uids": instance.series_uids,
            "model_keys": instance.model_keys, "options": instance.options, "status": instance.status,
            "current_step": instance.current_step, "progress": instance.progress,
            "error_code": instance.error_code, "error_message": instance.error_message,
            "created_at": _when(instance.created_at), "updated_at": _when(instance.updated_at),
            "finished_at": _when(instance.finished_at),
            "steps": [
                {"key": s.key, "kind": s.kind, "status": s.status, "attempts": s.attempts, "error_code": s.error_code,
                 "started_at": _when(s.started_at), "finished_at": _when(s.finished_at)}
                for s in ordered
            ],
            "report_id": self.get_report_id(instance),
        }


_DATETIME = serializers.DateTimeField()


def _when(value: Any) -> str | None:
    return None if value is None else _DATETIME.to_representation(value)


class AnalysisListCreateApi(APIView):
    audit_object_type = "analysis_list"
    permission_classes = [IsAuthenticated]

    @extend_schema(request=AnalysisCreateSerializer, responses={201: AnalysisSerializer, 200: AnalysisSerializer})
    def post(self, request: Request) -> Response:
        body = AnalysisCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        patient = patient_get_for_edit(request.user, data["patient"], request=request)
        analysis, created, steps = analysis_request_start(
            actor=request.user, patient=patient, series_uids=data["series"], model_keys=data["models"],
            idempotency_key=data["idempotency_key"], options=data["options"], request=request,
        )
        if not created:
            fresh = analysis_get_for_user(request.user, analysis.pk)
            return Response(AnalysisSerializer(fresh).data, status=status.HTTP_200_OK)
        # A request this view just stored is answered from memory, steps included: reading it
        # again (with the access subquery) cost as much as storing it, while the worker was
        # starting its step.
        return Response(AnalysisSerializer(analysis, context={"steps": steps}).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=AnalysisSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = analyses_recent_for_user(request.user, patient_id=request.query_params.get("patient"))
        read_audit_note(analysis_ids=[a.pk for a in rows])
        return Response(AnalysisSerializer(rows, many=True).data)


class AnalysisDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=AnalysisSerializer)
    def get(self, request: Request, analysis_id: int) -> Response:
        return Response(AnalysisSerializer(analysis_get_for_user(request.user, analysis_id)).data)


class AnalysisModelSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    kind = serializers.CharField()
    modalities = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    # The newest card's display name, version and stated limitations (the viewer shows them
    # beside a model's findings and heatmaps); empty for a model without a card.
    name = serializers.CharField()
    version = serializers.CharField()
    limitations = serializers.ListField(child=serializers.CharField())


class AnalysisModelsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=AnalysisModelSerializer(many=True))
    def get(self, request: Request) -> Response:
        cards = {card.key: card for card in model_list(latest_only=True)}
        return Response([
            {"key": m.key, "kind": m.kind, "modalities": list(m.modalities), "description": m.description,
             "name": str(cards[m.key].data.get("name", m.key)) if m.key in cards else m.description,
             "version": cards[m.key].version if m.key in cards else "",
             "limitations": [str(t) for t in cards[m.key].data.get("limitations", [])] if m.key in cards else []}
            for m in analysis_models().values()
        ])
