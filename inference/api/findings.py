"""Findings endpoints: list an analysis's, a report's or a patient's findings; decide (accept,
edit, reject) or enter one. Thin adapters over ``inference.findings.services``; every lookup
goes through ``inference.selectors`` (patients get 404: findings are clinical working material)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdss.audit.reads import read_audit_note
from inference.findings.services import Decision, finding_as_dict, finding_enter, findings_decide
from inference.models import AnalysisRequest, FindingDecisionStatus, FindingKind, ImagingFinding, Report
from inference.reports.services import user_display_name
from inference.selectors import (
    analysis_get_for_user,
    finding_decisions,
    finding_get_for_user,
    findings_of_analysis,
    findings_of_patient_for_user,
    findings_of_report_for_user,
)


class DecisionSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=FindingDecisionStatus.choices)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    # "label" is the API's word; DRF's stubs type Serializer.label (a Field attribute) as a string.
    label = serializers.CharField(max_length=32, required=False)  # type: ignore[assignment]
    values = serializers.DictField(child=serializers.FloatField(), required=False)


class BatchDecisionSerializer(DecisionSerializer):
    finding = serializers.IntegerField()


class BatchSerializer(serializers.Serializer[Any]):
    decisions = BatchDecisionSerializer(many=True)


class EnterSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=[FindingKind.LESION, FindingKind.NODULE], default=FindingKind.LESION)
    label = serializers.CharField(max_length=32, default="liver_lesion")  # type: ignore[assignment]
    values = serializers.DictField(child=serializers.FloatField())
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    series_uid = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


def _decision(data: dict[str, Any], finding_id: int) -> Decision:
    return Decision(finding_id=finding_id, status=data["status"], reason=data.get("reason", ""),
                    label=data.get("label"), values=data.get("values"))


def _report_ref(report: Report | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {"id": report.pk, "version": report.version, "status": report.status,
            "staging": report.content.get("staging", {}), "findings_pending": report.content.get("findings_review", {}).get("proposed", 0)}


# The list views answer a JSON array of findings (finding_as_dict), not one object.
FINDING_LIST = inline_serializer("ImagingFindingItem", fields={"id": serializers.IntegerField(required=False)}, many=True)

def _listed(findings: list[ImagingFinding], *, scope: str, scope_id: int) -> Response:
    detail: dict[str, Any] = {scope: scope_id, "finding_ids": [f.pk for f in findings]}
    read_audit_note(**detail)
    return Response([finding_as_dict(f) for f in findings])


def _decide(request: Request, analysis: AnalysisRequest, decisions: list[Decision]) -> dict[str, Any]:
    """The decisions taken together: every finding of the analysis and the new draft, if any."""
    findings, report = findings_decide(actor=request.user, analysis=analysis, decisions=decisions, request=request)
    return {"findings": [finding_as_dict(f) for f in findings], "report": _report_ref(report)}


class AnalysisFindingsApi(APIView):
    """GET: the analysis's findings; POST: a clinician enters a finding (it counts at once)."""

    audit_object_type = "imaging_finding_list"
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=FINDING_LIST)
    def get(self, request: Request, analysis_id: int) -> Response:
        analysis = analysis_get_for_user(request.user, analysis_id)
        return _listed(findings_of_analysis(request.user, analysis), scope="analysis", scope_id=analysis.pk)

    @extend_schema(request=EnterSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, analysis_id: int) -> Response:
        analysis = analysis_get_for_user(request.user, analysis_id)
        body = EnterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        finding, report = finding_enter(actor=request.user, analysis=analysis, kind=data["kind"], label=data["label"],
                                        values=data["values"], reason=data["reason"], series_uid=data["series_uid"],
                                        request=request)
        return Response({"finding": finding_as_dict(finding), "report": _report_ref(report)}, status=201)


class AnalysisFindingsDecideApi(APIView):
    """Several decisions at once, one new draft report version for all of them."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=BatchSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, analysis_id: int) -> Response:
        analysis = analysis_get_for_user(request.user, analysis_id)
        body = BatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(_decide(request, analysis, [_decision(d, d["finding"]) for d in body.validated_data["decisions"]]))


class FindingDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, finding_id: int) -> Response:
        finding = finding_get_for_user(request.user, finding_id)
        history = [{"status": d.status, "by": user_display_name(d.decided_by), "at": d.decided_at.isoformat(),
                    "reason": d.reason, "label": d.label, "values": d.values}
                   for d in finding_decisions(finding)]
        return Response({**finding_as_dict(finding), "decisions": history})


class FindingDecideApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=DecisionSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, finding_id: int) -> Response:
        finding = finding_get_for_user(request.user, finding_id)
        body = DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        analysis = analysis_get_for_user(request.user, finding.analysis_id)
        answer = _decide(request, analysis, [_decision(body.validated_data, finding.pk)])
        return Response({"finding": next(f for f in answer["findings"] if f["id"] == finding.pk), **answer})


class ReportFindingsApi(APIView):
    """The findings of the analysis a report version presents, as they stand now."""

    audit_object_type = "imaging_finding_list"
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=FINDING_LIST)
    def get(self, request: Request, report_id: int) -> Response:
        report, findings = findings_of_report_for_user(request.user, report_id)
        return _listed(findings, scope="report", scope_id=report.pk)


class PatientFindingsApi(APIView):
    audit_object_type = "imaging_finding_list"
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=FINDING_LIST)
    def get(self, request: Request, patient_id: int) -> Response:
        findings = findings_of_patient_for_user(request.user, patient_id, request=request)
        return _listed(findings, scope="patient", scope_id=patient_id)
