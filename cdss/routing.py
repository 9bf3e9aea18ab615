from django.urls import path

from inference.consumers import AnalysisEventsConsumer, PatientEventsConsumer

websocket_urlpatterns = [
    path("ws/patients/<int:patient_id>/", PatientEventsConsumer.as_asgi()),
    path("ws/analyses/<int:analysis_id>/", AnalysisEventsConsumer.as_asgi()),
]
