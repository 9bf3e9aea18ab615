from django.urls import URLPattern, URLResolver, path

from imaging.api.views import PatientImagingStudyListApi, PatientImagingSyncApi, PatientImagingUploadApi

urlpatterns: list[URLPattern | URLResolver] = [
    path("patients/<int:patient_id>/imaging/studies/", PatientImagingStudyListApi.as_view(), name="patient-imaging-studies"),
    path("patients/<int:patient_id>/imaging/upload/", PatientImagingUploadApi.as_view(), name="patient-imaging-upload"),
    path("patients/<int:patient_id>/imaging/sync/", PatientImagingSyncApi.as_view(), name="patient-imaging-sync"),
]
