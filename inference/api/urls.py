from django.urls import path

from inference.api.analyses import AnalysisDetailApi, AnalysisListCreateApi, AnalysisModelsApi
from inference.api.cxr_intake import CxrIntakeCreateApi, CxrIntakeCsvApi, CxrIntakeDetailApi, CxrIntakeFileApi
from inference.api.findings import (
    AnalysisFindingsApi,
    AnalysisFindingsDecideApi,
    FindingDecideApi,
    FindingDetailApi,
    PatientFindingsApi,
    ReportFindingsApi,
)
from inference.api.nodule_measure import SeriesNoduleMeasureApi
from inference.api.patient_results import ExplanationCatalogueApi, PatientRecordExportApi, PatientResultsApi
from inference.api.reports import (
    PatientReportListApi,
    ReportAmendApi,
    ReportDetailApi,
    ReportExportApi,
    ReportReleaseApi,
    ReportSignApi,
)
from inference.api.scores import PatientScoresApi, ScoresEvaluateApi

urlpatterns = [
    path("scores/evaluate", ScoresEvaluateApi.as_view(), name="scores-evaluate"),
    path("patients/<int:patient_id>/scores/", PatientScoresApi.as_view(), name="patient-scores"),
    path("analyses/", AnalysisListCreateApi.as_view(), name="analysis-list"),
    path("analyses/models/", AnalysisModelsApi.as_view(), name="analysis-models"),
    path("analyses/<int:analysis_id>/", AnalysisDetailApi.as_view(), name="analysis-detail"),
    path("patients/<int:patient_id>/reports/", PatientReportListApi.as_view(), name="patient-reports"),
    path("reports/<int:report_id>/", ReportDetailApi.as_view(), name="report-detail"),
    path("reports/<int:report_id>/sign/", ReportSignApi.as_view(), name="report-sign"),
    path("reports/<int:report_id>/amend/", ReportAmendApi.as_view(), name="report-amend"),
    path("reports/<int:report_id>/release/", ReportReleaseApi.as_view(), name="report-release"),
    path("reports/<int:report_id>/findings/", ReportFindingsApi.as_view(), name="report-findings"),
    path("analyses/<int:analysis_id>/findings/", AnalysisFindingsApi.as_view(), name="analysis-findings"),
    path("analyses/<int:analysis_id>/findings/decide/", AnalysisFindingsDecideApi.as_view(), name="analysis-findings-decide"),
    path("findings/<int:finding_id>/", FindingDetailApi.as_view(), name="finding-detail"),
    path("findings/<int:finding_id>/decide/", FindingDecideApi.as_view(), name="finding-decide"),
    path("patients/<int:patient_id>/imaging-findings/", PatientFindingsApi.as_view(), name="patient-imaging-findings"),
    path("reports/<int:report_id>/export/<str:fmt>/", ReportExportApi.as_view(), name="report-export"),
    path("explanations/", ExplanationCatalogueApi.as_view(), name="explanations"),
    path("imaging/series/<str:series_uid>/nodule-measure", SeriesNoduleMeasureApi.as_view(), name="series-nodule-measure"),
    path("patients/<int:patient_id>/results/", PatientResultsApi.as_view(), name="patient-results"),
    path("patients/<int:patient_id>/record/<str:fmt>/", PatientRecordExportApi.as_view(), name="patient-record-export"),
    path("cxr-intake/", CxrIntakeCreateApi.as_view(), name="cxr-intake"),
    path("cxr-intake/<int:intake_id>/", CxrIntakeDetailApi.as_view(), name="cxr-intake-detail"),
    path("cxr-intake/<int:intake_id>/results.csv", CxrIntakeCsvApi.as_view(), name="cxr-intake-csv"),
    path("cxr-intake/<int:intake_id>/file/", CxrIntakeFileApi.as_view(), name="cxr-intake-file"),
]
