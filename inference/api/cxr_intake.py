"""Chest X-ray intake API: batch, video and camera inputs classified by the worker.

POST   /api/cxr-intake/                 multipart ``mode`` (batch|video|camera) + ``files`` -> 202 job
GET    /api/cxr-intake/<id>/            the job: status, progress, per-image results, video timeline
GET    /api/cxr-intake/<id>/results.csv the per-image results as CSV
POST   /api/cxr-intake/<id>/file/       ``{"patient": id, "indices": [...]}`` -> the study filed into the record

Errors (``{"code", "message", "detail"}``): 400 ``no_files`` / ``too_many_files`` / ``unknown_mode`` /
``unknown_index``; 404 ``intake_not_found``; 409 ``intake_not_finished``; 413 ``file_too_large`` /
``image_too_large``; 415 ``not_an_image`` / ``unsupported_video_codec``.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdss.audit.models import AuditAction
from cdss.audit.reads import read_audit_note
from cdss.audit.services import audit_record
from cdss.core.errors import RequestTooLarge
from inference.cxr_intake import (
    DISCLAIMER,
    MAX_FILES,
    MAX_VIDEO_BYTES,
    Upload,
    intake_access_check,
    intake_create,
    intake_file,
    intake_get_for_user,
)
from inference.models import CxrIntakeJob
from patients.access import patient_get_for_edit


def intake_state(job: CxrIntakeJob) -> dict[str, Any]:
    return {
        "id": job.pk, "mode": job.mode, "status": job.status, "progress": job.progress, "done": job.done,
        "total": job.total, "error_code": job.error_code or None, "error_message": job.error_message or None,
        "model": job.model or None, "disclaimer": DISCLAIMER, "results": job.results, "timeline": job.timeline,
        "filed": job.filed, "created_at": job.created_at.isoformat() if job.created_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


class IntakeCreateSerializer(serializers.Serializer[Any]):
    mode = serializers.ChoiceField(choices=["batch", "video", "camera"])
    files = serializers.ListField(child=serializers.FileField(), max_length=MAX_FILES)


class IntakeFileSerializer(serializers.Serializer[Any]):
    patient = serializers.IntegerField()
    indices = serializers.ListField(child=serializers.IntegerField(min_value=0), max_length=MAX_FILES, default=list)


class CxrIntakeCreateApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": IntakeCreateSerializer}, responses={202: dict})
    def post(self, request: Request) -> Response:
        intake_access_check(request.user)  # before the upload's size is even looked at
        try:
            declared = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            declared = 0
        if declared > MAX_VIDEO_BYTES + 1024 * 1024:
            raise RequestTooLarge("The upload is too large.", code="file_too_large", detail={"max_bytes": MAX_VIDEO_BYTES})
        mode = str(request.data.get("mode", "batch")) if hasattr(request.data, "get") else "batch"
        uploads = [Upload(name=f.name or "upload", content=f.read()) for f in request.FILES.getlist("files")]
        job = intake_create(actor=request.user, mode=mode, uploads=uploads)
        audit_record(actor=request.user, action=AuditAction.CREATE, object_type="cxr_intake", object_id=job.pk,
                     request=request, detail={"mode": job.mode, "files": len(uploads)})
        return Response(intake_state(job), status=status.HTTP_202_ACCEPTED)


class CxrIntakeDetailApi(APIView):
    audit_object_type = "cxr_intake"
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: dict})
    def get(self, request: Request, intake_id: int) -> Response:
        job = intake_get_for_user(request.user, intake_id)
        return Response(intake_state(job))


class CxrIntakeCsvApi(APIView):
    audit_object_type = "cxr_intake"
    audit_action = AuditAction.EXPORT
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={(200, "text/csv"): str})
    def get(self, request: Request, intake_id: int) -> HttpResponse:
        job = intake_get_for_user(request.user, intake_id)
        read_audit_note(format="csv", results=len(job.results))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        model = job.model or {}
        writer.writerow(["index", "file", "frame", "probability_PNEUMONIA", "threshold", "decision", "label",
                         "uncertain", "out_of_distribution", "ood_reasons", "model", "model_version"])
        for r in job.results:
            ood = r.get("ood") or {}
            writer.writerow([r["index"], r["name"], r.get("frame", ""), f"{r['probability']:.6f}", f"{r['threshold']:.6f}",
                             r.get("decision", r["label"]), r["label"], int(bool(r.get("uncertain"))),
                             int(bool(ood.get("flag"))), " ".join(ood.get("reasons", [])),
                             model.get("key", ""), model.get("version", "")])
        writer.writerow([])
        writer.writerow([f"# AI results {DISCLAIMER}."])
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="cxr-intake-{job.pk}.csv"'
        return response


class CxrIntakeFileApi(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(request=IntakeFileSerializer, responses={201: dict})
    def post(self, request: Request, intake_id: int) -> Response:
        body = IntakeFileSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = intake_get_for_user(request.user, intake_id)
        patient = patient_get_for_edit(request.user, body.validated_data["patient"], request=request)
        filed = intake_file(actor=request.user, job=job, patient=patient, indices=body.validated_data["indices"],
                            request=request)
        audit_record(actor=request.user, action=AuditAction.CREATE, object_type="cxr_intake_filing", object_id=job.pk,
                     patient_id=patient.pk, request=request, detail={"study_instance_uid": filed["study_instance_uid"]})
        return Response(filed, status=status.HTTP_201_CREATED)
