from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from cdss.env import BASE_DIR

SHELL = BASE_DIR / "frontend" / "dist" / "index.html"


@login_required
@ensure_csrf_cookie
def portal(request: HttpRequest) -> HttpResponse:
    """The portal's application shell; the TypeScript app takes over from here."""
    if SHELL.is_file():
        return HttpResponse(SHELL.read_text(), content_type="text/html")
    return render(request, "frontend/shell_missing.html", {"debug": settings.DEBUG})
