"""Every lookup of analyses, reports and findings, scoped to the user.

Views, exports and consumers fetch through these and nothing else. Built on
``patients.access.patients_for_user`` (which patients a user may see) with one rule of its own:
a patient sees only the *released* reports of their own record, and never an analysis, a
finding, a draft or an unreleased version. "Not released" and "missing" are the same 404.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from cdss.accounts.models import Role
from cdss.audit.reads import read_audit_mark
from cdss.core.errors import NotFound
from cdss.core.ids import id_parse
from imaging.models import ImagingSeries, ImagingStudy
from imaging.selectors import imaging_study_get_for_user
from inference.models import SIGNED_STATUSES, AnalysisRequest, FindingDecision, ImagingFinding, Report
from patients.access import patient_get_for_user, patients_for_user, report_scope_q


def user_is_patient(user: Any) -> bool:
    """Patients get the patient version of a report (plain language, no model internals)."""
    return getattr(user, "role", None) == Role.PATIENT


def _scoped(queryset: QuerySet[Any], scope: Q) -> QuerySet[Any]:
    # A by-study share reaches reports through a join that can repeat a row.
    return queryset if scope == Q() else queryset.filter(scope).distinct()


def reports_for_user(user: Any) -> QuerySet[Report]:
    reports = Report.objects.filter(patient__in=patients_for_user(user)).filter(report_scope_q(user))
    if user_is_patient(user):
        return reports.filter(released_at__isnull=False, status__in=SIGNED_STATUSES)
    return reports


def report_get_for_user(user: Any, report_id: Any) -> Report:
    pk = id_parse(report_id)
    if pk is None:
        raise NotFound("Report not found.")
    report = (
        reports_for_user(user).filter(pk=pk)
        .select_related("signed_by", "created_by", "released_by", "analysis__requested_by", "superseded_by")
        .first()
    )
    if report is None:
        raise NotFound("Report not found.")
    read_audit_mark(object_type="report", object_id=report.pk, patient_id=report.patient_id)
    return report


def report_versions_for_patient(user: Any, *, patient_id: int) -> list[Report]:
    """A patient's report versions this user may see, newest first."""
    return list(
        reports_for_user(user).filter(patient_id=patient_id)
        .select_related("signed_by", "created_by", "released_by", "analysis__requested_by", "superseded_by")
        .order_by("-version")
    )


def analyses_for_user(user: Any) -> QuerySet[AnalysisRequest]:
    """Analyses are clinical working material: never shown to patients."""
    if user_is_patient(user):
        return AnalysisRequest.objects.none()
    analyses = AnalysisRequest.objects.filter(patient__in=patients_for_user(user))
    return _scoped(analyses, report_scope_q(user, report_field="report_versions__pk"))


def analyses_recent_for_user(user: Any, *, patient_id: Any = None, limit: int = 50) -> list[AnalysisRequest]:
    """The newest analyses this user may see, of one patient when ``patient_id`` is given (an id
    that cannot exist finds none). A patient is answered 404, as for any analysis."""
    if user_is_patient(user):
        raise NotFound("Analysis not found.")
    analyses = analyses_for_user(user)
    if patient_id:
        patient_pk = id_parse(patient_id)
        analyses = analyses.filter(patient_id=patient_pk) if patient_pk is not None else analyses.none()
    return list(analyses.select_related("report").prefetch_related("steps").order_by("-created_at")[:limit])


def analysis_get_for_user(user: Any, analysis_id: Any) -> AnalysisRequest:
    pk = id_parse(analysis_id)
    if pk is None:
        raise NotFound("Analysis not found.")
    analysis = analyses_for_user(user).filter(pk=pk).select_related("report").prefetch_related("steps").first()
    if analysis is None:
        raise NotFound("Analysis not found.")
    read_audit_mark(object_type="analysis_request", object_id=analysis.pk, patient_id=analysis.patient_id)
    return analysis


def findings_for_user(user: Any) -> QuerySet[ImagingFinding]:
    if user_is_patient(user):
        return ImagingFinding.objects.none()
    findings = ImagingFinding.objects.filter(patient__in=patients_for_user(user))
    return _scoped(findings, report_scope_q(user, report_field="analysis__report_versions__pk"))


def findings_of_analysis(user: Any, analysis: AnalysisRequest) -> list[ImagingFinding]:
    """The analysis's findings this user may see, as they stand now."""
    return list(findings_for_user(user).filter(analysis=analysis).select_related("decided_by").order_by("kind", "id"))


def findings_of_report_for_user(user: Any, report_id: Any) -> tuple[Report, list[ImagingFinding]]:
    """The report version and the findings of the analysis it presents. Findings are clinical
    working material: a patient is answered 404, as for a missing report."""
    if user_is_patient(user):
        raise NotFound("Report not found.")
    report = report_get_for_user(user, report_id)
    if report.analysis_id is None:
        return report, []
    findings = findings_for_user(user).filter(analysis_id=report.analysis_id).select_related("decided_by")
    return report, list(findings.order_by("kind", "id"))


def findings_of_patient_for_user(user: Any, patient_id: Any, *, request: Any = None, limit: int = 500) -> list[ImagingFinding]:
    """A patient's findings, newest analysis first; a patient user is answered 404."""
    if user_is_patient(user):
        raise NotFound("Findings not found.")
    patient = patient_get_for_user(user, patient_id, request=request)
    findings = findings_for_user(user).filter(patient=patient).select_related("decided_by")
    return list(findings.order_by("-analysis_id", "kind", "id")[:limit])


def finding_get_for_user(user: Any, finding_id: Any) -> ImagingFinding:
    pk = id_parse(finding_id)
    if pk is None:
        raise NotFound("Finding not found.")
    finding = findings_for_user(user).filter(pk=pk).select_related("decided_by", "created_by").first()
    if finding is None:
        raise NotFound("Finding not found.")
    read_audit_mark(object_type="imaging_finding", object_id=finding.pk, patient_id=finding.patient_id)
    return finding


def finding_decisions(finding: ImagingFinding) -> list[FindingDecision]:
    """Every decision on a finding, oldest first, with who took it."""
    return list(finding.decisions.select_related("decided_by"))


def series_get_for_clinical_use(
    user: Any, series_uid: str, *, request: Any = None, route: str = ""
) -> tuple[ImagingSeries, ImagingStudy]:
    """A series of a study this user may see, for clinical work on it (measuring in the
    viewer). A patient user, a missing series and one of a study not theirs: the same 404."""
    series = ImagingSeries.objects.select_related("study").filter(series_instance_uid=series_uid).first()
    if series is None or user_is_patient(user):
        raise NotFound("Series not found.")
    study = imaging_study_get_for_user(user, series.study.study_instance_uid, request=request, route=route)
    return series, study
