from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cdss.core.views import healthz, readyz

handler400 = "cdss.core.http_errors.handler400"
handler403 = "cdss.core.http_errors.handler403"
handler404 = "cdss.core.http_errors.handler404"
handler500 = "cdss.core.http_errors.handler500"

api_v1 = [
    path("", include("cdss.accounts.api.urls")),
    path("", include("cdss.audit.api.urls")),
    path("", include("patients.api.urls")),
    path("", include("imaging.api.urls")),
    path("", include("inference.api.urls")),
    path("", include("messaging.api.urls")),
    path("", include("consultations.api.urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include(api_v1)),
    path("dicomweb/", include("imaging.dicomweb.urls")),
    path("", include("interop.urls")),
    path("", include("frontend.urls")),
]
