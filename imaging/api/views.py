"""Imaging REST endpoints: a patient's studies, upload (STOW-RS), sync from the PACS (QIDO-RS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdss.audit.reads import read_audit_note
from cdss.core.api import error_body
from cdss.core.errors import ValidationFailed
from imaging.api.serializers import (
    ImagingStudySerializer,
    ImagingUploadSerializer,
    SyncReportSerializer,
    UploadReportSerializer,
)
from imaging.deid import imaging_rows_for_user
from imaging.selectors import imaging_studies_of_patient
from imaging.services import UploadSource, UploadTooLarge, imaging_study_sync, imaging_upload
from patients.access import patient_get_for_edit, patient_get_for_user, study_scope_q

_TRUE = {"1", "true", "yes", "on"}


class PatientImagingStudyListApi(APIView):
    audit_object_type = "imaging_study_list"
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=ImagingStudySerializer(many=True))
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        studies = list(imaging_studies_of_patient(patient=patient).filter(study_scope_q(request.user)))
        read_audit_note(imaging_study_ids=[s.pk for s in studies])
        rows = ImagingStudySerializer(studies, many=True).data
        return Response(imaging_rows_for_user(request.user, patient.pk, list(rows)))


class PatientImagingUploadApi(APIView):
    """DICOM files or zip archives of them, validated one by one, sent by STOW-RS per study.

    201: everything stored. 202: some studies stored, others rejected (see each file).
    400 ``upload_rejected``: nothing stored; ``detail`` lists each file's code.
    """

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, JSONParser]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Every uploaded file goes straight to a temporary file on disk, never into memory. This
        # must be set before anything reads the body (DRF's CSRF check reads request.POST).
        request.upload_handlers = [TemporaryFileUploadHandler(request)]
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": ImagingUploadSerializer}, responses={201: UploadReportSerializer, 202: UploadReportSerializer})
    def post(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_edit(request.user, patient_id, request=request)
        try:
            declared = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            declared = 0
        if declared > settings.IMAGING_UPLOAD_MAX_BYTES:
            raise UploadTooLarge("The upload is larger than allowed.", detail={"max_bytes": settings.IMAGING_UPLOAD_MAX_BYTES})
        uploaded = [f for name in request.FILES for f in request.FILES.getlist(name)]
        if not uploaded:
            raise ValidationFailed("Attach DICOM files or zip archives of them (multipart field 'files').", code="no_files")
        data = request.data if hasattr(request.data, "get") else {}
        confirm = str(data.get("confirm_relink", "")).strip().lower() in _TRUE
        relink_raw = data.get("relink_from")
        # The other patient named for a relink must be one this user may change (404/403 otherwise).
        relink_from = patient_get_for_edit(request.user, relink_raw, request=request) if relink_raw not in (None, "") else None
        sources = [UploadSource(name=f.name or "upload", path=Path(f.temporary_file_path())) for f in uploaded]
        report = imaging_upload(
            actor=request.user, patient=patient, sources=sources, confirm_relink=confirm, relink_from=relink_from,
            request=request,
        )
        body = report.as_dict()
        if report.stored == 0:
            return Response(
                error_body("upload_rejected", "Nothing was stored; see each file's code.", body),
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(body, status=status.HTTP_201_CREATED if report.problems == 0 else status.HTTP_202_ACCEPTED)


class PatientImagingSyncApi(APIView):
    """Link this patient's studies from the PACS (PatientID = MRN) and refresh the linked ones."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=SyncReportSerializer)
    def post(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_edit(request.user, patient_id, request=request)
        report = imaging_study_sync(actor=request.user, patient=patient, request=request)
        return Response(report.as_dict())
