from __future__ import annotations

import datetime as dt

from rest_framework import serializers

from cdss.accounts.models import CareTeam
from patients.models import Patient


class PatientSerializer(serializers.ModelSerializer[Patient]):
    care_team = serializers.PrimaryKeyRelatedField(queryset=CareTeam.objects.all(), required=False, allow_null=True)

    class Meta:
        model = Patient
        fields = [
            "id", "mrn", "given_name", "family_name", "birth_date", "sex", "phone", "email",
            "care_team", "status", "created_at", "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_birth_date(self, value: dt.date) -> dt.date:
        if value > dt.date.today():
            raise serializers.ValidationError("Birth date is in the future.", code="future_date")
        return value

    def validate_care_team(self, value: CareTeam | None) -> CareTeam | None:
        user = self.context["request"].user
        if value is not None and user.role != "admin" and not value.members.filter(pk=user.pk).exists():
            raise serializers.ValidationError("You are not a member of that care team.", code="not_member")
        return value
