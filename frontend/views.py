from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from cdss.accounts.throttling import login_throttle
from cdss.core.errors import Throttled
from cdss.core.middleware import client_ip
from cdss.env import BASE_DIR

SHELL = BASE_DIR / "frontend" / "dist" / "index.html"


@login_required
@ensure_csrf_cookie
def portal(request: HttpRequest) -> HttpResponse:
    """The portal's application shell; the TypeScript app takes over from here."""
    if SHELL.is_file():
        return HttpResponse(SHELL.read_text(), content_type="text/html")
    return render(request, "frontend/shell_missing.html", {"debug": settings.DEBUG})


class PortalLoginView(auth_views.LoginView):
    """The portal's sign-in page, throttled per account and per address like the API's login."""

    template_name = "frontend/login.html"

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        try:
            login_throttle(client_ip=client_ip(request), username=str(request.POST.get("username", "")))
        except Throttled as exc:
            response = render(request, self.template_name, {"form": self.get_form(), "throttled": True}, status=429)
            response["Retry-After"] = str(exc.retry_after)
            response.cdss_error = True  # type: ignore[attr-defined]  # a page of its own, kept as it is
            return response
        return super().post(request, *args, **kwargs)
