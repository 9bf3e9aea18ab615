from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from cdss.accounts.permissions import ClinicalCreateOrReadOnly
from cdss.audit.reads import read_audit_note
from patients.access import (
    patient_care_team_default,
    patient_get_for_edit,
    patient_get_for_user,
    patient_rows_for_user,
)
from patients.api.common import RecordPagination
from patients.api.serializers import PatientSerializer
from patients.selectors import patient_search
from patients.services import patient_create, patient_update


class PatientListApi(GenericAPIView[Any]):
    audit_object_type = "patient_list"
    permission_classes = [ClinicalCreateOrReadOnly]
    serializer_class = PatientSerializer
    pagination_class = RecordPagination

    @extend_schema(
        operation_id="patients_list",
        responses=PatientSerializer(many=True),
        parameters=[
            OpenApiParameter("q", str, description="Name or MRN terms (each must match)"),
            OpenApiParameter("birth_date", str, description="YYYY-MM-DD"),
        ]
    )
    def get(self, request: Request) -> Response:
        patients = patient_search(
            user=request.user,
            query=request.query_params.get("q", ""),
            birth_date=request.query_params.get("birth_date") or None,
        ).select_related(None)
        page = self.paginate_queryset(patients)
        rows = page if page is not None else list(patients)
        read_audit_note(count=len(rows), patient_ids=[p.pk for p in rows])
        return self.get_paginated_response(patient_rows_for_user(request.user, rows, self.get_serializer(rows, many=True).data))

    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        if "care_team" not in fields:
            fields["care_team"] = patient_care_team_default(request.user)
        patient = patient_create(actor=request.user, request=request, **fields)
        return Response(self.get_serializer(patient).data, status=status.HTTP_201_CREATED)


class PatientDetailApi(GenericAPIView[Any]):
    permission_classes = [IsAuthenticated]
    serializer_class = PatientSerializer

    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        return Response(patient_rows_for_user(request.user, [patient], [self.get_serializer(patient).data])[0])

    def patch(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_edit(request.user, patient_id, request=request)
        serializer = self.get_serializer(patient, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        patient = patient_update(actor=request.user, patient=patient, request=request, **serializer.validated_data)
        return Response(self.get_serializer(patient).data)
