"""Session login/logout for the browser app and token issue for API clients."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware, get_token
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdss.accounts.throttling import login_throttle
from cdss.core.errors import CdssError
from cdss.core.errors import PermissionDenied as CdssPermissionDenied
from cdss.core.middleware import client_ip
from cdss.core.websocket import origin_allowed


class LoginFailed(CdssError):
    code = "login_failed"
    status_code = 401


class CredentialsSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


def _me(user: Any) -> dict[str, Any]:
    patient = getattr(user, "patient_record", None)
    return {
        "id": user.pk,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role,
        "patient_id": patient.pk if patient is not None else None,
    }


def _authenticate(request: Request) -> Any:
    credentials = CredentialsSerializer(data=request.data)
    credentials.is_valid(raise_exception=True)
    login_throttle(client_ip=client_ip(request._request), username=credentials.validated_data["username"])
    user = authenticate(request._request, **credentials.validated_data)
    if user is None:
        # One message for wrong password, unknown user and locked account alike.
        raise LoginFailed("Wrong username or password, or the account is locked.")
    return user


def _no_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse()  # the CSRF check wants a view; it never calls it


def _session_login_origin_check(request: HttpRequest) -> None:
    """A session login comes from this site's own page: a CSRF token, and an Origin (or, without
    one, a Referer) that is this site or a trusted origin, compared on scheme, host and port.
    Without it another site could log a browser into an account of the attacker's choosing."""
    if getattr(request, "_dont_enforce_csrf_checks", False):
        return
    origin = request.META.get("HTTP_ORIGIN")
    if not origin:
        referer = urlsplit(request.META.get("HTTP_REFERER", ""))
        origin = f"{referer.scheme}://{referer.netloc}" if referer.scheme and referer.netloc else ""
    if not origin_allowed(origin, scheme=request.scheme or "http", host=request.get_host()):
        raise DjangoPermissionDenied("origin")
    reason = CsrfViewMiddleware(lambda _request: HttpResponse()).process_view(request, _no_view, (), {})
    if reason is not None:
        raise DjangoPermissionDenied("csrf")


class SessionLoginApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=CredentialsSerializer, responses=inline_serializer("Me", {"id": serializers.IntegerField()}))
    def post(self, request: Request) -> Response:
        try:
            _session_login_origin_check(request._request)
        except DjangoPermissionDenied as exc:
            raise CdssPermissionDenied(
                "A session login must come from this site's page with its CSRF token.", code="csrf_failed",
                detail={"reason": str(exc)},
            ) from exc
        user = _authenticate(request)
        login(request._request, user)
        return Response({"user": _me(user), "csrf_token": get_token(request._request)})


class SessionLogoutApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=204)


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=inline_serializer("MeResponse", {"id": serializers.IntegerField()}))
    def get(self, request: Request) -> Response:
        return Response(_me(request.user))


class TokenObtainApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(request=CredentialsSerializer, responses=inline_serializer("TokenResponse", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}))
    def post(self, request: Request) -> Response:
        user = _authenticate(request)
        token = Token.objects.filter(user=user).first()
        if token is not None and token.created < timezone.now() - settings.AUTH_TOKEN_TTL:
            token.delete()
            token = None
        if token is None:
            token = Token.objects.create(user=user)
        expires_at = token.created + settings.AUTH_TOKEN_TTL
        return Response({"token": token.key, "expires_at": expires_at.isoformat().replace("+00:00", "Z")})


class CsrfApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=inline_serializer("CsrfResponse", {"csrf_token": serializers.CharField()}))
    def get(self, request: Request) -> Response:
        return Response({"csrf_token": get_token(request._request)})
