"""Lung nodules and their scoring context: list, create, read, change, delete."""

from __future__ import annotations

from rest_framework import serializers

from patients.api.records import RecordDetailApi, RecordListApi, _detail_schema, _list_schema
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


@_list_schema("lung_nodules", LungNoduleSerializer)
class LungNoduleListApi(RecordListApi):
    kind = NODULES
    serializer_class = LungNoduleSerializer


@_detail_schema("lung_nodules")
class LungNoduleDetailApi(RecordDetailApi):
    kind = NODULES
    serializer_class = LungNoduleSerializer


@_list_schema("lung_nodule_assessments", LungNoduleAssessmentSerializer)
class LungNoduleAssessmentListApi(RecordListApi):
    kind = NODULE_ASSESSMENTS
    serializer_class = LungNoduleAssessmentSerializer


@_detail_schema("lung_nodule_assessments")
class LungNoduleAssessmentDetailApi(RecordDetailApi):
    kind = NODULE_ASSESSMENTS
    serializer_class = LungNoduleAssessmentSerializer
