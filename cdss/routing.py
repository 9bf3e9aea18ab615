from django.urls import path

from consultations.consumers import ConsultationInboxConsumer, ConsultRoomConsumer
from inference.consumers import AnalysisEventsConsumer, PatientEventsConsumer
from messaging.consumers import ThreadEventsConsumer

websocket_urlpatterns = [
    path("ws/patients/<int:patient_id>/", PatientEventsConsumer.as_asgi()),
    path("ws/analyses/<int:analysis_id>/", AnalysisEventsConsumer.as_asgi()),
    path("ws/threads/<int:thread_id>/", ThreadEventsConsumer.as_asgi()),
    path("ws/consultations/inbox/", ConsultationInboxConsumer.as_asgi()),
    path("ws/consultations/<int:consultation_id>/room/", ConsultRoomConsumer.as_asgi()),
]
