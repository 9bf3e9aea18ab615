from django.urls import path

from consultations.api.views import (
    ConsultantDirectoryApi,
    ConsultationAcceptApi,
    ConsultationCloseApi,
    ConsultationDeclineApi,
    ConsultationDetailApi,
    ConsultationListApi,
    ConsultationOpinionApi,
    ConsultationRoomApi,
    ConsultationRoomFindingsApi,
    PatientOpinionListApi,
)

one = "consultations/<int:consultation_id>/"

urlpatterns = [
    path("consultants/", ConsultantDirectoryApi.as_view(), name="consultant-directory"),
    path("consultations/", ConsultationListApi.as_view(), name="consultation-list"),
    path(one, ConsultationDetailApi.as_view(), name="consultation-detail"),
    path(f"{one}accept/", ConsultationAcceptApi.as_view(), name="consultation-accept"),
    path(f"{one}decline/", ConsultationDeclineApi.as_view(), name="consultation-decline"),
    path(f"{one}close/", ConsultationCloseApi.as_view(), name="consultation-close"),
    path(f"{one}opinion/", ConsultationOpinionApi.as_view(), name="consultation-opinion"),
    path(f"{one}room/", ConsultationRoomApi.as_view(), name="consultation-room"),
    path(f"{one}room/findings/", ConsultationRoomFindingsApi.as_view(), name="consultation-room-findings"),
    path("patients/<int:patient_id>/opinions/", PatientOpinionListApi.as_view(), name="patient-opinion-list"),
]
