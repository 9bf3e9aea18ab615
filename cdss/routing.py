from django.urls import path

from inference.consumers import PatientEventsConsumer

websocket_urlpatterns = [
    path("ws/patients/<int:patient_id>/", PatientEventsConsumer.as_asgi()),
]
