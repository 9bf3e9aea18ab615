from django.urls import path

from cdss.audit.api.views import AuditEventListApi

urlpatterns = [path("audit/", AuditEventListApi.as_view(), name="audit-list")]
