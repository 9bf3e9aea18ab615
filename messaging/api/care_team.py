"""GET /patients/<id>/care-thread/: the patient's conversation with their care team."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from messaging.api.serializers import ParticipantSerializer, ThreadSerializer
from messaging.care_team import care_thread_for_user
from messaging.services import thread_participants
from patients.access import patient_get_for_user


class CareThreadApi(GenericAPIView[Any]):
    permission_classes = [IsAuthenticated]
    serializer_class = ThreadSerializer

    @extend_schema(operation_id="patient_care_thread", responses=ThreadSerializer)
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        thread = care_thread_for_user(user=request.user, patient=patient, request=request)
        audit_record(actor=request.user, action=AuditAction.READ, object_type="thread", object_id=thread.pk,
                     patient_id=patient.pk, request=request)
        participants = ParticipantSerializer(thread_participants(thread=thread), many=True).data
        return Response({"id": thread.pk, "subject_type": thread.subject_type, "subject_id": thread.subject_id,
                         "patient": thread.patient_id, "participants": participants})
