from django.urls import path

from messaging.api.care_team import CareThreadApi
from messaging.api.views import ThreadDetailApi, ThreadMessageListApi, ThreadReadApi

urlpatterns = [
    path("threads/<int:thread_id>/", ThreadDetailApi.as_view(), name="thread-detail"),
    path("threads/<int:thread_id>/messages/", ThreadMessageListApi.as_view(), name="thread-message-list"),
    path("threads/<int:thread_id>/read/", ThreadReadApi.as_view(), name="thread-read"),
    path("patients/<int:patient_id>/care-thread/", CareThreadApi.as_view(), name="patient-care-thread"),
]
