"""Tokens expire and are revoked on lock-out and password change; login is throttled and, for
a session, needs the site's Origin and CSRF token; a locked account answers like a failed login."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cdss.accounts.models import User
from tests.conftest import World, client_for

PASSWORD = "correct-horse-battery-9"


def _token(world: World) -> str:
    response = client_for(None).post("/api/v1/auth/token/", {"username": world.clinician.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["expires_at"]
    return str(response.json()["token"])


def _me(token: str) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/v1/auth/me/")


def test_a_token_expires(world: World) -> None:
    token = _token(world)
    assert _me(token).status_code == 200
    Token.objects.filter(key=token).update(created=timezone.now() - timedelta(hours=13))
    response = _me(token)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    # The next login issues a fresh token.
    fresh = _token(world)
    assert fresh != token and _me(fresh).status_code == 200


def test_lockout_revokes_tokens_and_sessions(world: World, settings: Any) -> None:
    settings.LOCKOUT_THRESHOLD = 3
    token = _token(world)
    session = client_for(None)
    session.login(username=world.clinician.username, password=PASSWORD)
    assert session.get("/api/v1/auth/me/").status_code == 200
    for _ in range(3):
        client_for(None).post("/api/v1/auth/login/", {"username": world.clinician.username, "password": "wrong"}, format="json")
    assert _me(token).status_code == 401
    assert not Token.objects.filter(key=token).exists()
    assert session.get("/api/v1/auth/me/").status_code in (401, 403)


def test_password_change_revokes_tokens(world: World) -> None:
    token = _token(world)
    user = User.objects.get(pk=world.clinician.pk)
    user.set_password("another-long-passphrase-7")
    user.save()
    assert _me(token).status_code == 401


def test_locked_account_answers_like_a_wrong_password_and_hashes_anyway(world: World, settings: Any, monkeypatch: Any) -> None:
    User.objects.filter(pk=world.clinician.pk).update(locked_until=timezone.now() + timedelta(minutes=10))
    calls: list[str] = []
    import cdss.accounts.backends as backends

    real = backends.check_password

    def counting(password: str, encoded: str, *args: Any, **kwargs: Any) -> bool:
        calls.append(password)
        return bool(real(password, encoded, *args, **kwargs))

    monkeypatch.setattr(backends, "check_password", counting)
    locked = client_for(None).post("/api/v1/auth/login/", {"username": world.clinician.username, "password": PASSWORD}, format="json")
    wrong = client_for(None).post("/api/v1/auth/login/", {"username": world.other_clinician.username, "password": "nope"}, format="json")
    assert locked.status_code == wrong.status_code == 401
    assert locked.json()["message"] == wrong.json()["message"] and locked.json()["code"] == wrong.json()["code"]
    assert calls == [PASSWORD]  # the locked attempt still paid for a hash


def test_per_account_throttle(world: World, settings: Any) -> None:
    settings.LOGIN_THROTTLE_PER_ACCOUNT = 3
    settings.LOCKOUT_THRESHOLD = 100
    statuses = [
        client_for(None).post("/api/v1/auth/login/", {"username": world.clinician.username, "password": "x"}, format="json")
        for _ in range(4)
    ]
    assert [r.status_code for r in statuses] == [401, 401, 401, 429]
    assert statuses[-1].json()["code"] == "throttled"
    assert 1 <= int(statuses[-1]["Retry-After"]) <= 61


def test_per_ip_throttle_across_accounts(world: World, settings: Any) -> None:
    settings.LOGIN_THROTTLE_PER_IP = 4
    codes = [
        client_for(None).post("/api/v1/auth/token/", {"username": f"nobody{i}", "password": "x"}, format="json").status_code
        for i in range(5)
    ]
    assert codes == [401, 401, 401, 401, 429]


def _csrf_client() -> tuple[APIClient, str]:
    client = APIClient(enforce_csrf_checks=True)
    return client, str(client.get("/api/v1/auth/csrf/").json()["csrf_token"])


def test_session_login_needs_csrf_and_the_sites_origin(world: World) -> None:
    body = {"username": world.clinician.username, "password": PASSWORD}
    client, csrf = _csrf_client()
    no_token = client.post("/api/v1/auth/login/", body, format="json", HTTP_ORIGIN="http://testserver")
    assert no_token.status_code == 403 and no_token.json()["code"] == "csrf_failed"
    for origin in ("http://evil.example", "http://testserver:8080", "https://testserver", "null"):
        response = client.post("/api/v1/auth/login/", body, format="json", HTTP_X_CSRFTOKEN=csrf, HTTP_ORIGIN=origin)
        assert response.status_code == 403, origin
    assert client.post("/api/v1/auth/login/", body, format="json", HTTP_X_CSRFTOKEN=csrf).status_code == 403  # no Origin
    ok = client.post("/api/v1/auth/login/", body, format="json", HTTP_X_CSRFTOKEN=csrf, HTTP_ORIGIN="http://testserver")
    assert ok.status_code == 200
    by_referer = APIClient(enforce_csrf_checks=True)
    csrf = by_referer.get("/api/v1/auth/csrf/").json()["csrf_token"]
    response = by_referer.post("/api/v1/auth/login/", body, format="json", HTTP_X_CSRFTOKEN=csrf, HTTP_REFERER="http://testserver/login/")
    assert response.status_code == 200


def test_token_issue_needs_no_csrf(world: World) -> None:
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/api/v1/auth/token/", {"username": world.clinician.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200


def test_portal_sign_in_page_is_throttled_too(world: World, settings: Any) -> None:
    settings.LOGIN_THROTTLE_PER_IP = 4
    responses = [Client().post("/login/", {"username": f"portal{i}", "password": "x"}) for i in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 429]
    assert 1 <= int(responses[-1]["Retry-After"]) <= 61
    assert b"Too many sign-in attempts" in responses[-1].content
