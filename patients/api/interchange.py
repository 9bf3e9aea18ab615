"""The patient summary for the portal, FHIR export, and FHIR/CSV import."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from cdss.audit.models import AuditAction
from cdss.audit.reads import read_audit_note
from cdss.core.parsers import JSONParser, json_loads_strict
from patients.access import (
    patient_get_for_edit,
    patient_get_for_export,
    patient_get_for_user,
    patient_rows_for_user,
)
from patients.api.common import query_flag
from patients.api.serializers import ImportReportSerializer, ImportUploadSerializer, PatientSummarySerializer
from patients.errors import ImportTooLarge, InvalidCsv, InvalidFhir, MissingField, UnsupportedImportFormat
from patients.selectors import patient_fhir_export, patient_summary
from patients.services.imports import ImportFormat, patient_import

FHIR_JSON = "application/fhir+json"
IMPORT_MAX_BYTES = 20 * 1024 * 1024


class ImportJsonParser(JSONParser):
    max_bytes = IMPORT_MAX_BYTES


class FhirJsonParser(ImportJsonParser):
    media_type = FHIR_JSON


class CsvParser(BaseParser):
    """A ``text/csv`` body arrives as ``{"csv": text}``."""

    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> dict[str, str]:
        raw = stream.read(IMPORT_MAX_BYTES + 1) if stream is not None else b""
        return {"csv": _csv_text(raw)}


def _csv_text(raw: bytes) -> str:
    if len(raw) > IMPORT_MAX_BYTES:
        raise ImportTooLarge("The file is too large.", detail={"max_bytes": IMPORT_MAX_BYTES})
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidCsv("The file is not UTF-8 text.", detail={"line": None}) from exc


def import_document_read(request: Request) -> tuple[ImportFormat, Any]:
    """(format, document) from a JSON/FHIR JSON body, a text/csv body, or a multipart ``file``."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    # DRF's parsers read the stream, so Django's body-size limit does not apply: check here.
    if length > IMPORT_MAX_BYTES:
        raise ImportTooLarge("The document is too large.", detail={"max_bytes": IMPORT_MAX_BYTES})
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type == "text/csv":
        # An empty body never reaches the parser.
        return "csv", request.data.get("csv", "") if hasattr(request.data, "get") else ""
    if content_type in ("application/json", FHIR_JSON):
        return "fhir", request.data
    upload = request.data.get("file") if hasattr(request.data, "get") else None
    if upload is None or not hasattr(upload, "read"):  # absent, or a text field named "file"
        raise MissingField("file: a FHIR Bundle or a CSV file is required.", detail={"field": "file"})
    if upload.size > IMPORT_MAX_BYTES:
        raise ImportTooLarge("The file is too large.", detail={"max_bytes": IMPORT_MAX_BYTES})
    raw = upload.read()
    name = (upload.name or "").lower()
    if name.endswith(".csv") or upload.content_type == "text/csv":
        return "csv", _csv_text(raw)
    if name.endswith(".json") or upload.content_type in ("application/json", FHIR_JSON):
        try:
            return "fhir", json_loads_strict(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidFhir("The file is not JSON.", detail={"errors": []}) from exc
    raise UnsupportedImportFormat("Send a FHIR Bundle (.json) or a CSV file (.csv).", detail={"field": "file"})


class PatientSummaryApi(GenericAPIView[Any]):
    audit_object_type = "patient_summary"
    serializer_class = PatientSummarySerializer

    @extend_schema(operation_id="patients_summary")
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        summary = patient_summary(patient=patient)
        counts: dict[str, Any] = dict(summary.counts)
        read_audit_note(**counts)
        data = dict(self.get_serializer(summary).data)
        data["patient"] = patient_rows_for_user(request.user, [patient], [data["patient"]])[0]
        return Response(data)


class PatientFhirExportApi(GenericAPIView[Any]):
    audit_object_type = "patient"
    audit_action = AuditAction.EXPORT

    @extend_schema(
        operation_id="patients_fhir_export",
        responses={(200, FHIR_JSON): OpenApiResponse(OpenApiTypes.OBJECT, description="A FHIR R4 Bundle (type collection).")},
    )
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_export(request.user, patient_id, request=request)
        bundle = patient_fhir_export(patient=patient)
        read_audit_note(format="fhir-r4", entries=len(bundle.get("entry", [])))
        return Response(bundle, content_type=FHIR_JSON)


class PatientImportApi(GenericAPIView[Any]):
    parser_classes = [ImportJsonParser, FhirJsonParser, CsvParser, MultiPartParser]
    serializer_class = ImportReportSerializer

    @extend_schema(
        operation_id="patients_import",
        parameters=[OpenApiParameter("dry_run", bool, description="Validate and report; save nothing.")],
        request={
            "application/json": OpenApiTypes.OBJECT,
            FHIR_JSON: OpenApiTypes.OBJECT,
            "text/csv": OpenApiTypes.STR,
            "multipart/form-data": ImportUploadSerializer,
        },
        responses={200: ImportReportSerializer, 201: ImportReportSerializer},
        description="A FHIR R4 Bundle or a CSV of observations (columns in README). A dry run answers "
        "200 with every row's error; a real run saves every row (201) or none (400 import_invalid).",
    )
    def post(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_edit(request.user, patient_id, request=request)
        dry_run = query_flag(request.query_params, "dry_run")
        fmt, document = import_document_read(request)
        report = patient_import(
            actor=request.user, patient=patient, document=document, fmt=fmt, dry_run=dry_run, request=request
        )
        return Response(
            self.get_serializer(report.as_dict()).data,
            status=status.HTTP_200_OK if dry_run else status.HTTP_201_CREATED,
        )
