"""The patient's own results: explanations, released results explained, "download my record"."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdss.audit.models import AuditAction
from cdss.audit.reads import read_audit_note
from cdss.core.errors import NotFound
from inference.explanations.explain import catalogue_public
from inference.reports.patient_results import patient_record_fhir, patient_results
from inference.reports.patient_summary import patient_summary_pdf
from patients.access import patient_get_for_export, patient_get_for_user

FHIR_JSON = "application/fhir+json"


class ExplanationCatalogueApi(APIView):
    """The reviewed plain-language catalogue: every score, lab, gene and risk factor shown."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="explanations_catalogue")
    def get(self, request: Request) -> Response:
        return Response(catalogue_public())


class PatientResultsApi(APIView):
    """Released reports explained, score history across them, labs and genetics in words."""

    audit_object_type = "patient_results"
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="patient_results")
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        results = patient_results(user=request.user, patient=patient)
        read_audit_note(report_ids=[r["id"] for r in results["reports"]])
        return Response(results)


class PatientRecordExportApi(APIView):
    """Download my record: a FHIR R4 Bundle or a readable PDF summary; every download audited."""

    audit_object_type = "patient_record"
    audit_action = AuditAction.EXPORT
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="patient_record_export",
        responses={(200, FHIR_JSON): OpenApiResponse(OpenApiTypes.OBJECT, description="FHIR R4 collection Bundle"),
                   (200, "application/pdf"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, patient_id: int, fmt: str) -> HttpResponse:
        patient = patient_get_for_export(request.user, patient_id, request=request)
        stamp = timezone.now()
        if fmt == "fhir":
            bundle = patient_record_fhir(user=request.user, patient=patient)
            content: bytes = json.dumps(bundle, indent=1).encode()
            response = HttpResponse(content, content_type=FHIR_JSON)
            filename = f"my-record-{stamp:%Y%m%d}.fhir.json"
            read_audit_note(format="fhir-r4", entries=len(bundle.get("entry", [])))
        elif fmt == "pdf":
            results = patient_results(user=request.user, patient=patient)
            response = HttpResponse(patient_summary_pdf(patient=patient, results=results, generated_at=stamp),
                                    content_type="application/pdf")
            filename = f"my-record-{stamp:%Y%m%d}.pdf"
            read_audit_note(format="pdf-summary", report_ids=[r["id"] for r in results["reports"]])
        else:
            raise NotFound("Unknown export format.")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["Cache-Control"] = "no-store"
        return response
