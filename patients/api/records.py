"""Genetic findings, lifestyle records and clinical findings: list, create, read, change, delete."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from cdss.audit.reads import read_audit_note
from patients.access import patient_get_for_edit, patient_get_for_user
from patients.api.common import RecordPagination
from patients.api.serializers import (
    ClinicalFindingSerializer,
    GeneticFindingSerializer,
    LifestyleRecordSerializer,
)
from patients.selectors import record_get, record_list
from patients.services.records import (
    FINDINGS,
    GENETICS,
    LIFESTYLE,
    RecordKind,
    record_create,
    record_delete,
    record_update,
)


class RecordListApi(GenericAPIView[Any]):
    kind: RecordKind[Any]
    pagination_class = RecordPagination

    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        records = record_list(self.kind, patient=patient)
        page = self.paginate_queryset(records)
        rows = page if page is not None else list(records)
        read_audit_note(count=len(rows))
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)

    def post(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_edit(request.user, patient_id, request=request)
        record = record_create(self.kind, actor=request.user, patient=patient, data=request.data, request=request)
        return Response(self.get_serializer(record).data, status=status.HTTP_201_CREATED)


class RecordDetailApi(GenericAPIView[Any]):
    kind: RecordKind[Any]

    def get(self, request: Request, patient_id: int, record_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        record = record_get(self.kind, patient=patient, record_id=record_id)
        read_audit_note(object_id=record.pk)
        return Response(self.get_serializer(record).data)

    def patch(self, request: Request, patient_id: int, record_id: int) -> Response:
        patient = patient_get_for_edit(request.user, patient_id, request=request)
        record = record_get(self.kind, patient=patient, record_id=record_id)
        record = record_update(self.kind, actor=request.user, record=record, data=request.data, request=request)
        return Response(self.get_serializer(record).data)

    def delete(self, request: Request, patient_id: int, record_id: int) -> Response:
        patient = patient_get_for_edit(request.user, patient_id, request=request)
        record = record_get(self.kind, patient=patient, record_id=record_id)
        record_delete(self.kind, actor=request.user, record=record, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


def record_apis(
    name: str, kind: RecordKind[Any], serializer: type[serializers.ModelSerializer[Any]]
) -> tuple[type[RecordListApi], type[RecordDetailApi]]:
    """The list and detail views of one kind of patient record, named after its serializer,
    with OpenAPI operation ids ``patients_<name>_list`` and so on."""
    stem = serializer.__name__.removesuffix("Serializer")
    list_api = extend_schema_view(
        get=extend_schema(operation_id=f"patients_{name}_list", responses=serializer(many=True)),
        post=extend_schema(operation_id=f"patients_{name}_create", responses={201: serializer}),
    )(type(f"{stem}ListApi", (RecordListApi,), {
        "kind": kind, "serializer_class": serializer, "audit_object_type": f"{kind.name}_list",
    }))
    detail_api = extend_schema_view(
        get=extend_schema(operation_id=f"patients_{name}_retrieve"),
        patch=extend_schema(operation_id=f"patients_{name}_partial_update"),
        delete=extend_schema(operation_id=f"patients_{name}_destroy"),
    )(type(f"{stem}DetailApi", (RecordDetailApi,), {
        "kind": kind, "serializer_class": serializer, "audit_object_type": kind.name,
    }))
    return list_api, detail_api


GeneticFindingListApi, GeneticFindingDetailApi = record_apis("genetics", GENETICS, GeneticFindingSerializer)
LifestyleRecordListApi, LifestyleRecordDetailApi = record_apis("lifestyle", LIFESTYLE, LifestyleRecordSerializer)
ClinicalFindingListApi, ClinicalFindingDetailApi = record_apis("findings", FINDINGS, ClinicalFindingSerializer)
