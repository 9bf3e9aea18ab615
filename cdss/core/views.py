from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from cdss.core.readiness import readiness_report


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches no backing service on purpose."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database, Redis, PACS and a live worker on each queue; 503 names what failed."""
    report = readiness_report()
    failed = {name: reason for name, reason in report.items() if reason is not None}
    body = {
        "status": "ready" if not failed else "unavailable",
        "checks": {name: ("ok" if reason is None else reason) for name, reason in report.items()},
        "failed": sorted(failed),
    }
    return JsonResponse(body, status=200 if not failed else 503)
