from django.urls import URLPattern, path
from rest_framework.views import APIView

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


def _record_paths(segment: str, name: str, list_api: type[APIView], detail_api: type[APIView]) -> list[URLPattern]:
    return [
        path(f"{patient}{segment}/", list_api.as_view(), name=f"{name}-list"),
        path(f"{patient}{segment}/<int:record_id>/", detail_api.as_view(), name=f"{name}-detail"),
    ]


urlpatterns = [
    path("analytes/", AnalyteListApi.as_view(), name="analyte-list"),
    path("patients/", PatientListApi.as_view(), name="patient-list"),
    path(patient, PatientDetailApi.as_view(), name="patient-detail"),
    path(f"{patient}observations/", ObservationListApi.as_view(), name="observation-list"),
    path(f"{patient}observations/latest/", ObservationLatestApi.as_view(), name="observation-latest"),
    path(f"{patient}observations/series/", ObservationSeriesApi.as_view(), name="observation-series"),
    *_record_paths("genetics", "genetic-finding", GeneticFindingListApi, GeneticFindingDetailApi),
    *_record_paths("lifestyle", "lifestyle-record", LifestyleRecordListApi, LifestyleRecordDetailApi),
    *_record_paths("findings", "clinical-finding", ClinicalFindingListApi, ClinicalFindingDetailApi),
    *_record_paths("lung-nodules", "lung-nodule", LungNoduleListApi, LungNoduleDetailApi),
    *_record_paths("lung-nodule-assessments", "lung-nodule-assessment", LungNoduleAssessmentListApi,
                   LungNoduleAssessmentDetailApi),
    path(f"{patient}summary/", PatientSummaryApi.as_view(), name="patient-summary"),
    path(f"{patient}fhir/", PatientFhirExportApi.as_view(), name="patient-fhir-export"),
    path(f"{patient}import/", PatientImportApi.as_view(), name="patient-import"),
]
