from __future__ import annotations

from typing import Any

from rest_framework import serializers

from messaging.models import Message, Thread, ThreadParticipant
from messaging.services import thread_participants


class AttachmentSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=["key_image", "study", "series", "report", "opinion"])
    ref = serializers.CharField(max_length=256, help_text="e.g. studyUID/seriesUID/sopUID/frame for a key image")
    # DRF fields have a "label" attribute of their own; this field of the payload shadows it.
    label = serializers.CharField(max_length=120, required=False, allow_blank=True)  # type: ignore[assignment]


class MessageSerializer(serializers.ModelSerializer[Message]):
    author_name = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = ["id", "thread", "author", "author_name", "parent", "body", "attachments", "client_key", "created_at"]
        read_only_fields = fields

    def get_author_name(self, message: Message) -> str:
        user = message.author
        return " ".join(p for p in (user.first_name, user.last_name) if p) or user.username


class MessageSendSerializer(serializers.Serializer[Any]):
    body = serializers.CharField()
    client_key = serializers.CharField(max_length=64, help_text="chosen by the client; resending it is harmless")
    # DRF fields have a "parent" attribute of their own; this field of the payload shadows it.
    parent = serializers.IntegerField(required=False, allow_null=True)  # type: ignore[assignment]
    attachments = AttachmentSerializer(many=True, required=False)


class ParticipantSerializer(serializers.ModelSerializer[ThreadParticipant]):
    username = serializers.CharField(source="user.username", read_only=True)
    role = serializers.CharField(source="user.role", read_only=True)

    class Meta:
        model = ThreadParticipant
        fields = ["user", "username", "role", "last_read_id"]
        read_only_fields = fields


class ThreadSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    subject_type = serializers.CharField()
    subject_id = serializers.IntegerField(allow_null=True)
    patient = serializers.IntegerField(source="patient_id", allow_null=True)
    participants = ParticipantSerializer(many=True)


def thread_body(thread: Thread) -> dict[str, Any]:
    """A thread with its participants, as ``ThreadSerializer`` describes it."""
    return {"id": thread.pk, "subject_type": thread.subject_type, "subject_id": thread.subject_id,
            "patient": thread.patient_id,
            "participants": ParticipantSerializer(thread_participants(thread=thread), many=True).data}


class MarkReadSerializer(serializers.Serializer[Any]):
    message_id = serializers.IntegerField()
