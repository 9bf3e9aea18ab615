"""Session login/logout for the browser app and token issue for API clients."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.middleware.csrf import get_token
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cdss.core.errors import CdssError


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
    user = authenticate(request._request, **credentials.validated_data)
    if user is None:
        # One message for wrong password, unknown user and locked account alike.
        raise LoginFailed("Wrong username or password, or the account is locked.")
    return user


class SessionLoginApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=CredentialsSerializer, responses=inline_serializer("Me", {"id": serializers.IntegerField()}))
    def post(self, request: Request) -> Response:
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

    @extend_schema(request=CredentialsSerializer, responses=inline_serializer("TokenResponse", {"token": serializers.CharField()}))
    def post(self, request: Request) -> Response:
        user = _authenticate(request)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class CsrfApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=inline_serializer("CsrfResponse", {"csrf_token": serializers.CharField()}))
    def get(self, request: Request) -> Response:
        return Response({"csrf_token": get_token(request._request)})
