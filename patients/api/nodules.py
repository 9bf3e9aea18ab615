"""Lung nodules and their scoring context: list, create, read, change, delete."""

from __future__ import annotations

from rest_framework import serializers

from patients.api.records import record_apis
from patients.api.serializers import RECORD_READ_ONLY
from patients.models import LungNodule, LungNoduleAssessment
from patients.services.nodules import NODULE_ASSESSMENTS, NODULES


class LungNoduleSerializer(serializers.ModelSerializer[LungNodule]):
    class Meta:
        model = LungNodule
        fields = ["id", *(name for name in NODULES.parsers), *RECORD_READ_ONLY[1:]]
        read_only_fields = RECORD_READ_ONLY


class LungNoduleAssessmentSerializer(serializers.ModelSerializer[LungNoduleAssessment]):
    class Meta:
        model = LungNoduleAssessment
        fields = ["id", *(name for name in NODULE_ASSESSMENTS.parsers), *RECORD_READ_ONLY[1:]]
        read_only_fields = RECORD_READ_ONLY


LungNoduleListApi, LungNoduleDetailApi = record_apis("lung_nodules", NODULES, LungNoduleSerializer)
LungNoduleAssessmentListApi, LungNoduleAssessmentDetailApi = record_apis(
    "lung_nodule_assessments", NODULE_ASSESSMENTS, LungNoduleAssessmentSerializer
)
