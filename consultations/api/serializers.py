from __future__ import annotations

from typing import Any

from rest_framework import serializers

from consultations.models import Consultation, Opinion, Urgency
from consultations.services import consultation_state
from patients.models import ShareScope


def _name(user: Any) -> str:
    if user is None:
        return ""
    return " ".join(p for p in (user.first_name, user.last_name) if p) or user.username


class OpinionSerializer(serializers.ModelSerializer[Opinion]):
    author_name = serializers.SerializerMethodField()

    class Meta:
        model = Opinion
        fields = ["id", "consultation", "patient", "author", "author_name", "answer", "recommendations", "urgency",
                  "signed_at", "content_sha256"]
        read_only_fields = fields

    def get_author_name(self, opinion: Opinion) -> str:
        return _name(opinion.author)


class OpinionSignSerializer(serializers.Serializer[Any]):
    answer = serializers.CharField(max_length=5000)
    recommendations = serializers.ListField(child=serializers.CharField(max_length=1000), max_length=20, required=False)
    urgency = serializers.ChoiceField(choices=Urgency.choices)


class ConsultationSerializer(serializers.ModelSerializer[Consultation]):
    """What both sides see. ``patient_label`` is the pseudonym for a de-identified share; the
    StudyInstanceUIDs of a study-scoped share are listed only to the requesting side."""

    state = serializers.SerializerMethodField(help_text="status, or 'expired' past expires_at")
    patient_label = serializers.SerializerMethodField()
    requested_by_name = serializers.SerializerMethodField()
    consultant_name = serializers.SerializerMethodField()
    consultant_group_name = serializers.SerializerMethodField()
    study_uids = serializers.SerializerMethodField()
    opinion = serializers.SerializerMethodField()

    class Meta:
        model = Consultation
        fields = [
            "id", "patient", "patient_label", "question", "urgency", "status", "state", "requested_by",
            "requested_by_name", "consultant", "consultant_name", "consultant_group", "consultant_group_name",
            "scope", "study_uids", "report_ids", "identifiable", "expires_at", "opened_at", "answered_at",
            "closed_at", "thread", "opinion",
        ]
        read_only_fields = fields

    def get_state(self, consultation: Consultation) -> str:
        return consultation_state(consultation)

    def get_patient_label(self, consultation: Consultation) -> str:
        labels: dict[int, str] = self.context.get("patient_labels", {})
        return labels.get(consultation.pk, "")

    def get_requested_by_name(self, consultation: Consultation) -> str:
        return _name(consultation.requested_by)

    def get_consultant_name(self, consultation: Consultation) -> str:
        return _name(consultation.consultant)

    def get_consultant_group_name(self, consultation: Consultation) -> str:
        return consultation.consultant_group.name if consultation.consultant_group else ""

    def get_study_uids(self, consultation: Consultation) -> list[str]:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is not None and consultation.consultant_id == user.pk and not consultation.identifiable:
            return []
        return list(consultation.study_uids)

    def get_opinion(self, consultation: Consultation) -> dict[str, Any] | None:
        opinion = getattr(consultation, "opinion", None)
        return OpinionSerializer(opinion).data if opinion is not None else None


class ConsultationRequestSerializer(serializers.Serializer[Any]):
    patient = serializers.IntegerField()
    question = serializers.CharField(max_length=5000)
    urgency = serializers.ChoiceField(choices=Urgency.choices, default=Urgency.ROUTINE)
    consultant = serializers.IntegerField(required=False, allow_null=True)
    consultant_group = serializers.IntegerField(required=False, allow_null=True)
    scope = serializers.ChoiceField(choices=ShareScope.choices, default=ShareScope.RECORD)
    study_uids = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    report_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    expires_at = serializers.DateTimeField()
    identifiable = serializers.BooleanField(default=False)


class ConsultantSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ConsultantDirectorySerializer(serializers.Serializer[Any]):
    consultants = ConsultantSerializer(many=True)
    groups = ConsultantSerializer(many=True)


class IceServerSerializer(serializers.Serializer[Any]):
    urls = serializers.ListField(child=serializers.CharField())
    username = serializers.CharField(required=False)
    credential = serializers.CharField(required=False)


class RoomSeriesSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(help_text="ImagingSeries id: what viewer sync messages name")
    study_uid = serializers.CharField()
    series_uid = serializers.CharField()
    modality = serializers.CharField()
    description = serializers.CharField()
    pixels_withheld = serializers.BooleanField(help_text="pixels may show burned-in identifying text: not shown")


class RoomSerializer(serializers.Serializer[Any]):
    consultation = serializers.IntegerField()
    patient = serializers.IntegerField()
    thread = serializers.IntegerField()
    me = serializers.IntegerField()
    presenter = serializers.IntegerField(help_text="who leads the viewer when the room opens (the requester)")
    websocket = serializers.CharField()
    ice_servers = IceServerSerializer(many=True)
    series = RoomSeriesSerializer(many=True)


class RoomFindingSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    # DRF's stubs type Field.label and Field.source as strings; here they are finding fields.
    label = serializers.CharField()  # type: ignore[assignment]
    status = serializers.CharField(help_text="proposed, accepted, edited or rejected")
    source = serializers.CharField(help_text="model or clinician")  # type: ignore[assignment]
    counts = serializers.BooleanField()
    model_key = serializers.CharField()
    model_name = serializers.CharField()
    model_version = serializers.CharField()
    values = serializers.DictField(help_text="each key names its unit (e.g. longest_axial_diameter_mm)")
    series_uid = serializers.CharField()
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()


class RoomAnalysisSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.CharField()
    step = serializers.CharField()
    progress = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    report_id = serializers.IntegerField(allow_null=True)
    findings = RoomFindingSerializer(many=True)


class RoomFindingsSerializer(serializers.Serializer[Any]):
    may_decide = serializers.BooleanField(help_text="whether this user may accept, edit or reject findings")
    notice = serializers.CharField()
    analyses = RoomAnalysisSerializer(many=True)
