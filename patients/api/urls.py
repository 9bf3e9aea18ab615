from django.urls import path

from patients.api.views import PatientDetailApi, PatientListApi

urlpatterns = [
    path("patients/", PatientListApi.as_view(), name="patient-list"),
    path("patients/<int:patient_id>/", PatientDetailApi.as_view(), name="patient-detail"),
]
