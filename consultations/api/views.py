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

from cdss.accounts.models import CareTeam, Role, User
from cdss.audit.models import AuditAction
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound, PermissionDenied
from cdss.core.ids import id_parse
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
from consultations.selectors import consultation_get_for_user, consultations_for_user, opinions_of_patient
from consultations.services import (
    consultation_accept,
    consultation_close,
    consultation_decline,
    consultation_request,
    consultation_state,
    opinion_sign,
)
from patients.access import patient_get_for_user, patient_pseudonyms_for_user


def _labels(user: Any, consultations: list[Consultation]) -> dict[int, str]:
    """Patient label per consultation, as this user may see it: the name for the requesting
    side and an identifiable share, the grant's pseudonym for a de-identified one, nothing
    before the consultant has accepted."""
    pseudonyms = patient_pseudonyms_for_user(user)
    labels: dict[int, str] = {}
    for c in consultations:
        if getattr(user, "role", None) != Role.CONSULTANT:
            labels[c.pk] = f"{c.patient.given_name} {c.patient.family_name}"
        elif c.patient_id in pseudonyms:
            labels[c.pk] = pseudonyms[c.patient_id]
        elif c.grant is not None and c.grant.is_active() and c.identifiable:
            labels[c.pk] = f"{c.patient.given_name} {c.patient.family_name}"
        else:
            labels[c.pk] = "Shared on acceptance"
    return labels


def _render(request: Request, consultations: list[Consultation]) -> Any:
    context = {"request": request, "patient_labels": _labels(request.user, consultations)}
    return ConsultationSerializer(consultations, many=True, context=context).data


class ConsultationListApi(GenericAPIView[Any]):
    permission_classes = [IsAuthenticated]
    serializer_class = ConsultationSerializer
    pagination_class = None  # a plain list (at most 200), as the schema says

    @extend_schema(
        operation_id="consultations_list",
        parameters=[OpenApiParameter("patient", int, description="only this patient's consultations")],
        responses=ConsultationSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        rows = consultations_for_user(request.user).select_related("patient", "grant").order_by("-opened_at")
        patient = request.query_params.get("patient")
        if patient:
            patient_pk = id_parse(patient)  # "²".isdigit() is true, int("²") fails
            rows = rows.filter(patient_id=patient_pk) if patient_pk is not None else rows.none()
        items = list(rows[:200])
        audit_record(actor=request.user, action=AuditAction.READ, object_type="consultation_list", request=request,
                     detail={"consultation_ids": [c.pk for c in items]})
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
        audit_record(actor=request.user, action=AuditAction.READ, object_type="consultation",
                     object_id=consultation.pk, patient_id=consultation.patient_id, request=request)
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
    permission_classes = [IsAuthenticated]
    serializer_class = OpinionSerializer

    def get(self, request: Request, consultation_id: int) -> Response:
        consultation = consultation_get_for_user(request.user, consultation_id, request=request)
        opinion = getattr(consultation, "opinion", None)
        if opinion is None:
            raise NotFound("No opinion yet.")
        audit_record(actor=request.user, action=AuditAction.READ, object_type="consult_opinion", object_id=opinion.pk,
                     patient_id=consultation.patient_id, request=request)
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

    permission_classes = [IsAuthenticated]
    serializer_class = RoomSerializer

    def get(self, request: Request, consultation_id: int) -> Response:
        consultation = consultation_get_for_user(request.user, consultation_id, request=request)
        if request.user.pk not in (consultation.requested_by_id, consultation.consultant_id):
            raise PermissionDenied("Only the two sides of a consultation enter its room.")
        if consultation_state(consultation) != "open" or consultation.thread_id is None:
            raise NotFound("The room is not open.")
        # The consultant's sight of the patient is the access module's decision.
        patient_get_for_user(request.user, consultation.patient_id, request=request)
        series = room_series_for_user(request.user, consultation)
        audit_record(actor=request.user, action=AuditAction.READ, object_type="consultation_room",
                     object_id=consultation.pk, patient_id=consultation.patient_id, request=request)
        return Response({
            "consultation": consultation.pk, "patient": consultation.patient_id, "thread": consultation.thread_id,
            "me": request.user.pk, "presenter": consultation.requested_by_id,
            "websocket": f"/ws/consultations/{consultation.pk}/room/",
            "ice_servers": list(getattr(settings, "WEBRTC_ICE_SERVERS", [])), "series": series,
        })


def _room_consultation(request: Request, consultation_id: int) -> Consultation:
    """The consultation whose room this user may enter now, or the same 404/403 as the room."""
    consultation = consultation_get_for_user(request.user, consultation_id, request=request)
    if request.user.pk not in (consultation.requested_by_id, consultation.consultant_id):
        raise PermissionDenied("Only the two sides of a consultation enter its room.")
    if consultation_state(consultation) != "open" or consultation.thread_id is None:
        raise NotFound("The room is not open.")
    patient_get_for_user(request.user, consultation.patient_id, request=request)
    return consultation


class ConsultationRoomFindingsApi(GenericAPIView[Any]):
    """The room's AI findings panel: the shared patient's analyses (as the share allows), their
    progress and findings with model and version; live changes come over the room socket."""

    permission_classes = [IsAuthenticated]
    serializer_class = RoomFindingsSerializer

    def get(self, request: Request, consultation_id: int) -> Response:
        consultation = _room_consultation(request, consultation_id)
        data = room_findings_for_user(request.user, consultation)
        audit_record(actor=request.user, action=AuditAction.READ, object_type="imaging_finding_list",
                     patient_id=consultation.patient_id, request=request,
                     detail={"consultation_id": consultation.pk,
                             "finding_ids": [f["id"] for a in data["analyses"] for f in a["findings"]]})
        return Response(data)


class PatientOpinionListApi(GenericAPIView[Any]):
    """Signed consultant opinions: part of the patient's record."""

    permission_classes = [IsAuthenticated]
    pagination_class = None
    serializer_class = OpinionSerializer

    @extend_schema(responses=OpinionSerializer(many=True))
    def get(self, request: Request, patient_id: int) -> Response:
        patient = patient_get_for_user(request.user, patient_id, request=request)
        opinions = list(opinions_of_patient(patient=patient))
        audit_record(actor=request.user, action=AuditAction.READ, object_type="consult_opinion_list",
                     patient_id=patient.pk, request=request, detail={"count": len(opinions)})
        return Response(OpinionSerializer(opinions, many=True).data)


class ConsultantDirectoryApi(GenericAPIView[Any]):
    """Who a clinician can ask: active consultants and the groups that have one."""

    permission_classes = [IsAuthenticated]
    serializer_class = ConsultantDirectorySerializer

    def get(self, request: Request) -> Response:
        if getattr(request.user, "role", None) not in (Role.CLINICIAN, Role.ADMIN):
            raise PermissionDenied("Only clinicians request consultations.")
        people = User.objects.filter(role=Role.CONSULTANT, is_active=True).order_by("last_name", "username")
        groups = CareTeam.objects.filter(members__role=Role.CONSULTANT, members__is_active=True).distinct().order_by("name")
        return Response({
            "consultants": [{"id": u.pk, "name": " ".join(p for p in (u.first_name, u.last_name) if p) or u.username}
                            for u in people],
            "groups": [{"id": g.pk, "name": g.name} for g in groups],
        })
