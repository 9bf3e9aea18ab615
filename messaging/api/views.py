"""Threads over REST: read a thread, page its messages from an id, send, move the read receipt."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from cdss.audit.reads import read_audit_note
from cdss.core.errors import ValidationFailed
from messaging.api.serializers import (
    MarkReadSerializer,
    MessageSendSerializer,
    MessageSerializer,
    ParticipantSerializer,
    ThreadSerializer,
    thread_body,
)
from messaging.services import (
    message_send,
    messages_after,
    thread_get_for_user,
    thread_mark_read,
)


class ThreadDetailApi(GenericAPIView[Any]):
    permission_classes = [IsAuthenticated]
    serializer_class = ThreadSerializer

    def get(self, request: Request, thread_id: int) -> Response:
        thread = thread_get_for_user(request.user, thread_id, request=request)
        return Response(thread_body(thread))


class ThreadMessageListApi(GenericAPIView[Any]):
    audit_object_type = "message_list"
    permission_classes = [IsAuthenticated]
    serializer_class = MessageSerializer
    pagination_class = None

    @extend_schema(
        operation_id="thread_messages_list",
        parameters=[OpenApiParameter("after", int, description="only messages with a larger id (resume after a reconnect)")],
        responses=MessageSerializer(many=True),
    )
    def get(self, request: Request, thread_id: int) -> Response:
        thread = thread_get_for_user(request.user, thread_id, request=request)
        try:
            after = int(request.query_params.get("after", 0))
        except ValueError as exc:
            raise ValidationFailed("after: an integer.", code="invalid_field", detail={"field": "after"}) from exc
        rows = messages_after(thread=thread, after_id=after)
        read_audit_note(thread_id=thread.pk, count=len(rows), after=after)
        return Response(MessageSerializer(rows, many=True).data)

    @extend_schema(operation_id="thread_messages_send", request=MessageSendSerializer,
                   responses={201: MessageSerializer, 200: MessageSerializer})
    def post(self, request: Request, thread_id: int) -> Response:
        thread = thread_get_for_user(request.user, thread_id, request=request)
        serializer = MessageSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        message, created = message_send(
            thread=thread, author=request.user, body=data["body"], client_key=data["client_key"],
            attachments=data.get("attachments"), parent_id=data.get("parent"),
            request=request,
        )
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ThreadReadApi(GenericAPIView[Any]):
    permission_classes = [IsAuthenticated]
    serializer_class = MarkReadSerializer

    @extend_schema(operation_id="thread_mark_read", request=MarkReadSerializer, responses=ParticipantSerializer)
    def post(self, request: Request, thread_id: int) -> Response:
        thread = thread_get_for_user(request.user, thread_id, request=request)
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            raise ValidationFailed("message_id: an integer.", code="invalid_message_id", detail={"field": "message_id"})
        participant = thread_mark_read(thread=thread, user=request.user, message_id=serializer.validated_data["message_id"])
        return Response(ParticipantSerializer(participant).data)
