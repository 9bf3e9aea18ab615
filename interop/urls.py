from django.urls import path, re_path

from interop.cds import views as cds
from interop.fhir import views as fhir
from interop.smart import views as smart

urlpatterns = [
    path("cds-services", cds.services, name="cds-discovery"),
    path("cds-services/<str:service_id>", cds.service, name="cds-service"),
    path("cds-services/<str:service_id>/feedback", cds.feedback, name="cds-feedback"),
    path("smart/launch", smart.launch, name="smart-launch"),
    path("smart/callback", smart.callback, name="smart-callback"),
    path("smart/context", smart.context, name="smart-context"),
    path("fhir/metadata", fhir.Metadata.as_view(), name="fhir-metadata"),
    re_path(r"^fhir/(?P<resource_type>[A-Za-z]+)$", fhir.Search.as_view(), name="fhir-search"),
    re_path(r"^fhir/(?P<resource_type>[A-Za-z]+)/(?P<resource_id>[A-Za-z0-9\-.]{1,64})$", fhir.Read.as_view(), name="fhir-read"),
]
