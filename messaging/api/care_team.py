"""GET /patients/<id>/care-thread/: the patient's conversation with their care team."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from cdss.audit.reads import read_audit_note
from messaging.api.serializers import ThreadSerializer, thread_body
from messaging.care_team import care_thread_for_user
from patients.access import patient_get_for_user


class CareThreadApi(GenericAPIView[Any]):
    audit_object_type = "thread"
    permission_classes = [IsAuthenticated]
    serializer_class = ThreadSerializer

    @extend_schema(operation_id="patient_care_thread", responses=ThreadSerializer)
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        thread = care_thread_for_user(user=request.user, patient=patient, request=request)
        read_audit_note(object_id=thread.pk)
        return Response(thread_body(thread))
