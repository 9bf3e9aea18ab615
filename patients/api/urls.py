from django.urls import path

from patients.api.interchange import PatientFhirExportApi, PatientImportApi, PatientSummaryApi
from patients.api.nodules import (
    LungNoduleAssessmentDetailApi,
    LungNoduleAssessmentListApi,
    LungNoduleDetailApi,
    LungNoduleListApi,
)
from patients.api.observations import (
    AnalyteListApi,
    ObservationLatestApi,
    ObservationListApi,
    ObservationSeriesApi,
)
from patients.api.records import (
    ClinicalFindingDetailApi,
    ClinicalFindingListApi,
    GeneticFindingDetailApi,
    GeneticFindingListApi,
    LifestyleRecordDetailApi,
    LifestyleRecordListApi,
)
from patients.api.views import PatientDetailApi, PatientListApi

patient = "patients/<int:patient_id>/"

urlpatterns = [
    path("analytes/", AnalyteListApi.as_view(), name="analyte-list"),
    path("patients/", PatientListApi.as_view(), name="patient-list"),
    path(patient, PatientDetailApi.as_view(), name="patient-detail"),
    path(f"{patient}observations/", ObservationListApi.as_view(), name="observation-list"),
    path(f"{patient}observations/latest/", ObservationLatestApi.as_view(), name="observation-latest"),
    path(f"{patient}observations/series/", ObservationSeriesApi.as_view(), name="observation-series"),
    path(f"{patient}genetics/", GeneticFindingListApi.as_view(), name="genetic-finding-list"),
    path(f"{patient}genetics/<int:record_id>/", GeneticFindingDetailApi.as_view(), name="genetic-finding-detail"),
    path(f"{patient}lifestyle/", LifestyleRecordListApi.as_view(), name="lifestyle-record-list"),
    path(f"{patient}lifestyle/<int:record_id>/", LifestyleRecordDetailApi.as_view(), name="lifestyle-record-detail"),
    path(f"{patient}findings/", ClinicalFindingListApi.as_view(), name="clinical-finding-list"),
    path(f"{patient}findings/<int:record_id>/", ClinicalFindingDetailApi.as_view(), name="clinical-finding-detail"),
    path(f"{patient}lung-nodules/", LungNoduleListApi.as_view(), name="lung-nodule-list"),
    path(f"{patient}lung-nodules/<int:record_id>/", LungNoduleDetailApi.as_view(), name="lung-nodule-detail"),
    path(f"{patient}lung-nodule-assessments/", LungNoduleAssessmentListApi.as_view(), name="lung-nodule-assessment-list"),
    path(
        f"{patient}lung-nodule-assessments/<int:record_id>/",
        LungNoduleAssessmentDetailApi.as_view(),
        name="lung-nodule-assessment-detail",
    ),
    path(f"{patient}summary/", PatientSummaryApi.as_view(), name="patient-summary"),
    path(f"{patient}fhir/", PatientFhirExportApi.as_view(), name="patient-fhir-export"),
    path(f"{patient}import/", PatientImportApi.as_view(), name="patient-import"),
]
