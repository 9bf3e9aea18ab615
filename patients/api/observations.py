"""Laboratory observations of one patient, and the analyte catalogue for unit pickers."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from cdss.audit.reads import read_audit_note
from patients.access import patient_get_for_edit, patient_get_for_user
from patients.api.common import RecordPagination, query_datetime
from patients.api.serializers import (
    AnalyteSerializer,
    ObservationBatchSerializer,
    ObservationBatchWriteSerializer,
    ObservationSerializer,
    ObservationWriteSerializer,
    SeriesSerializer,
)
from patients.errors import MissingField, UnknownField
from patients.selectors import observation_latest, observation_list, observation_series
from patients.services import observation_record, observation_record_batch
from patients.units import analytes

CODE_PARAM = OpenApiParameter("code", str, description="LOINC code of the analyte, e.g. 1742-6 (ALT)")
SINCE_PARAM = OpenApiParameter("since", str, description="Observed at or after (ISO 8601)")
UNTIL_PARAM = OpenApiParameter("until", str, description="Observed at or before (ISO 8601)")


class AnalyteListApi(GenericAPIView[Any]):
    """The analyte catalogue: LOINC codes, canonical and accepted units, reference ranges."""

    serializer_class = AnalyteSerializer
    pagination_class = None

    @extend_schema(operation_id="analytes_list", responses=AnalyteSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(self.get_serializer(analytes(), many=True).data)


class ObservationListApi(GenericAPIView[Any]):
    audit_object_type = "observation_list"
    serializer_class = ObservationSerializer
    pagination_class = RecordPagination

    @extend_schema(
        operation_id="patients_observations_list",
        parameters=[CODE_PARAM, SINCE_PARAM, UNTIL_PARAM],
        responses=ObservationSerializer(many=True),
    )
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        params = request.query_params
        observations = observation_list(
            patient=patient,
            code=params.get("code") or None,
            since=query_datetime(params, "since"),
            until=query_datetime(params, "until"),
        )
        page = self.paginate_queryset(observations)
        rows = page if page is not None else list(observations)
        read_audit_note(count=len(rows), code=params.get("code") or None)
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)

    @extend_schema(
        operation_id="patients_observations_create",
        request=PolymorphicProxySerializer(
            component_name="ObservationCreate",
            serializers=[ObservationWriteSerializer, ObservationBatchWriteSerializer],
            resource_type_field_name=None,
        ),
        responses={
            201: PolymorphicProxySerializer(
                component_name="ObservationCreated",
                serializers=[ObservationSerializer, ObservationBatchSerializer],
                resource_type_field_name=None,
            )
        },
        description="One observation, or {\"observations\": [...]} with up to 1,000 saved all or none.",
    )
    def post(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_edit(request.user, patient_id, request=request)
        data = request.data
        if isinstance(data, dict) and "observations" in data:
            extra = sorted(set(data) - {"observations"})
            if extra:
                raise UnknownField(f"{extra[0]}: unknown field.", detail={"field": extra[0]})
            saved = observation_record_batch(
                actor=request.user, patient=patient, rows=data["observations"], request=request
            )
            body = {"count": len(saved), "observations": ObservationSerializer(saved, many=True).data}
            return Response(body, status=status.HTTP_201_CREATED)
        observation = observation_record(actor=request.user, patient=patient, data=data, request=request)
        return Response(self.get_serializer(observation).data, status=status.HTTP_201_CREATED)


class ObservationLatestApi(GenericAPIView[Any]):
    audit_object_type = "observation_latest"
    serializer_class = ObservationSerializer
    pagination_class = None

    @extend_schema(operation_id="patients_observations_latest", responses=ObservationSerializer(many=True))
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        latest = observation_latest(patient=patient)
        read_audit_note(count=len(latest))
        return Response(self.get_serializer(latest, many=True).data)


class ObservationSeriesApi(GenericAPIView[Any]):
    audit_object_type = "observation_series"
    serializer_class = SeriesSerializer
    pagination_class = None

    @extend_schema(
        operation_id="patients_observations_series",
        parameters=[
            OpenApiParameter("code", str, required=True, description="LOINC code of the analyte"),
            OpenApiParameter("unit", str, description="Unit for the values (default: canonical); see /analytes/"),
            SINCE_PARAM,
            UNTIL_PARAM,
        ],
    )
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        params = request.query_params
        code = params.get("code")
        if not code:
            raise MissingField("code: required.", detail={"field": "code"})
        series = observation_series(
            patient=patient,
            code=code,
            unit=params.get("unit") or None,
            since=query_datetime(params, "since"),
            until=query_datetime(params, "until"),
        )
        read_audit_note(code=series.analyte.loinc, count=len(series.points))
        return Response(self.get_serializer(series).data)
