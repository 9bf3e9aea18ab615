"""Consultations over REST: thin views over ``consultations.services`` and ``selectors``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from cdss.audit.reads import read_audit_note
from consultations.api.serializers import (
    ConsultantDirectorySerializer,
    ConsultationRequestSerializer,
    ConsultationSerializer,
    OpinionSerializer,
    OpinionSignSerializer,
    RoomFindingsSerializer,
    RoomSerializer,
)
from consultations.models import Consultation
from consultations.room import room_findings_for_user, room_series_for_user
from consultations.selectors import (
    consultant_directory_for_user,
    consultation_get_for_user,
    consultation_patient_labels,
    consultations_recent_for_user,
    opinion_get_for_user,
    opinions_of_patient,
    room_consultation_for_user,
)
from consultations.services import (
    consultation_accept,
    consultation_close,
    consultation_decline,
    consultation_request,
    opinion_sign,
)
from patients.access import patient_get_for_user


def _render(request: Request, consultations: list[Consultation]) -> Any:
    context = {"request": request, "patient_labels": consultation_patient_labels(request.user, consultations)}
    return ConsultationSerializer(consultations, many=True, context=context).data


class ConsultationListApi(GenericAPIView[Any]):
    audit_object_type = "consultation_list"
    permission_classes = [IsAuthenticated]
    serializer_class = ConsultationSerializer
    pagination_class = None  # a plain list (at most 200), as the schema says

    @extend_schema(
        operation_id="consultations_list",
        parameters=[OpenApiParameter("patient", int, description="only this patient's consultations")],
        responses=ConsultationSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        items = consultations_recent_for_user(request.user, patient_id=request.query_params.get("patient"))
        read_audit_note(consultation_ids=[c.pk for c in items])
        return Response(_render(request, items))

    @extend_schema(operation_id="consultations_request", request=ConsultationRequestSerializer,
                   responses={201: ConsultationSerializer})
    def post(self, request: Request) -> Response:
        serializer = ConsultationRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        consultation = consultation_request(
            requested_by=request.user, patient_id=data["patient"], question=data["question"], urgency=data["urgency"],
            consultant_id=data.get("consultant"), consultant_group_id=data.get("consultant_group"),
            scope=data["scope"], study_uids=data.get("study_uids"), report_ids=data.get("report_ids"),
            expires_at=data["expires_at"], identifiable=data["identifiable"], request=request,
        )
        return Response(_render(request, [consultation])[0], status=status.HTTP_201_CREATED)


class ConsultationDetailApi(GenericAPIView[Any]):
    permission_classes = [IsAuthenticated]
    serializer_class = ConsultationSerializer

    def get(self, request: Request, consultation_id: int) -> Response:
        consultation = consultation_get_for_user(request.user, consultation_id, request=request)
        return Response(_render(request, [consultation])[0])


class _ConsultationActionApi(GenericAPIView[Any]):
    permission_classes = [IsAuthenticated]
    serializer_class = ConsultationSerializer

    def act(self, *, consultation: Consultation, user: Any, request: Request) -> Consultation:
        raise NotImplementedError

    @extend_schema(request=None, responses=ConsultationSerializer)
    def post(self, request: Request, consultation_id: int) -> Response:
        consultation = consultation_get_for_user(request.user, consultation_id, request=request)
        consultation = self.act(consultation=consultation, user=request.user, request=request)
        consultation.refresh_from_db()
        return Response(_render(request, [consultation])[0])


class ConsultationAcceptApi(_ConsultationActionApi):
    def act(self, *, consultation: Consultation, user: Any, request: Request) -> Consultation:
        return consultation_accept(consultation=consultation, user=user, request=request)


class ConsultationDeclineApi(_ConsultationActionApi):
    def act(self, *, consultation: Consultation, user: Any, request: Request) -> Consultation:
        return consultation_decline(consultation=consultation, user=user, request=request)


class ConsultationCloseApi(_ConsultationActionApi):
    def act(self, *, consultation: Consultation, user: Any, request: Request) -> Consultation:
        return consultation_close(consultation=consultation, user=user, request=request)


class ConsultationOpinionApi(GenericAPIView[Any]):
    audit_object_type = "consult_opinion"
    permission_classes = [IsAuthenticated]
    serializer_class = OpinionSerializer

    def get(self, request: Request, consultation_id: int) -> Response:
        opinion = opinion_get_for_user(request.user, consultation_id, request=request)
        read_audit_note(object_id=opinion.pk)
        return Response(OpinionSerializer(opinion).data)

    @extend_schema(operation_id="consultation_opinion_sign", request=OpinionSignSerializer,
                   responses={201: OpinionSerializer})
    def post(self, request: Request, consultation_id: int) -> Response:
        consultation = consultation_get_for_user(request.user, consultation_id, request=request)
        serializer = OpinionSignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        opinion = opinion_sign(consultation=consultation, user=request.user, answer=data["answer"],
                               recommendations=data.get("recommendations"), urgency=data["urgency"], request=request)
        return Response(OpinionSerializer(opinion).data, status=status.HTTP_201_CREATED)


class ConsultationRoomApi(GenericAPIView[Any]):
    """What the room page needs: ids, the socket path, ICE servers, the series to view."""

    audit_object_type = "consultation_room"
    permission_classes = [IsAuthenticated]
    serializer_class = RoomSerializer

    def get(self, request: Request, consultation_id: int) -> Response:
        consultation = room_consultation_for_user(request.user, consultation_id, request=request)
        series = room_series_for_user(request.user, consultation)
        return Response({
            "consultation": consultation.pk, "patient": consultation.patient_id, "thread": consultation.thread_id,
            "me": request.user.pk, "presenter": consultation.requested_by_id,
            "websocket": f"/ws/consultations/{consultation.pk}/room/",
            "ice_servers": list(getattr(settings, "WEBRTC_ICE_SERVERS", [])), "series": series,
        })


class ConsultationRoomFindingsApi(GenericAPIView[Any]):
    """The room's AI findings panel: the shared patient's analyses (as the share allows), their
    progress and findings with model and version; live changes come over the room socket."""

    audit_object_type = "imaging_finding_list"
    permission_classes = [IsAuthenticated]
    serializer_class = RoomFindingsSerializer

    def get(self, request: Request, consultation_id: int) -> Response:
        consultation = room_consultation_for_user(request.user, consultation_id, request=request)
        data = room_findings_for_user(request.user, consultation)
        read_audit_note(consultation_id=consultation.pk,
                        finding_ids=[f["id"] for a in data["analyses"] for f in a["findings"]])
        return Response(data)


class PatientOpinionListApi(GenericAPIView[Any]):
    """Signed consultant opinions: part of the patient's record."""

    audit_object_type = "consult_opinion_list"
    permission_classes = [IsAuthenticated]
    pagination_class = None
    serializer_class = OpinionSerializer

    @extend_schema(responses=OpinionSerializer(many=True))
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        opinions = list(opinions_of_patient(patient=patient))
        read_audit_note(count=len(opinions))
        return Response(OpinionSerializer(opinions, many=True).data)


class ConsultantDirectoryApi(GenericAPIView[Any]):
    """Who a clinician can ask: active consultants and the groups that have one."""

    permission_classes = [IsAuthenticated]
    serializer_class = ConsultantDirectorySerializer

    def get(self, request: Request) -> Response:
        return Response(consultant_directory_for_user(request.user))
