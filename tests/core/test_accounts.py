from __future__ import annotations

from typing import Any

from django.contrib.auth.hashers import identify_hasher
from django.test import override_settings

from cdss.accounts.models import User
from cdss.accounts.services import user_create
from tests.conftest import World, client_for

PASSWORD = "correct-horse-battery-9"


def login(username: str, password: str) -> int:
    return client_for(None).post("/api/v1/auth/login/", {"username": username, "password": password}, format="json").status_code


def test_lockout_after_repeated_failures(world: World, settings: Any) -> None:
    settings.LOCKOUT_THRESHOLD = 3
    for _ in range(3):
        assert login(world.clinician.username, "wrong-password") == 401
    # Locked: even the right password is refused, with the same message.
    assert login(world.clinician.username, PASSWORD) == 401
    world.clinician.refresh_from_db()
    assert world.clinician.locked_until is not None


def test_success_resets_failure_count(world: World, settings: Any) -> None:
    settings.LOCKOUT_THRESHOLD = 3
    login(world.clinician.username, "wrong-password")
    assert login(world.clinician.username, PASSWORD) == 200
    world.clinician.refresh_from_db()
    assert world.clinician.failed_login_count == 0


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.Argon2PasswordHasher"])
def test_passwords_are_hashed_with_argon2(db: Any) -> None:
    user = user_create(username="argon", password=PASSWORD, role="clinician")
    assert identify_hasher(User.objects.get(pk=user.pk).password).algorithm == "argon2"


def test_token_authentication(world: World) -> None:
    client = client_for(None)
    token = client.post("/api/v1/auth/token/", {"username": world.clinician.username, "password": PASSWORD}, format="json").json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/auth/me/").json()["role"] == "clinician"


def test_session_login_needs_csrf_for_writes(world: World) -> None:
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    csrf = client.get("/api/v1/auth/csrf/").json()["csrf_token"]
    response = client.post(
        "/api/v1/auth/login/", {"username": world.clinician.username, "password": PASSWORD}, format="json",
        HTTP_X_CSRFTOKEN=csrf, HTTP_ORIGIN="http://testserver",
    )
    assert response.status_code == 200
    assert client.post("/api/v1/auth/logout/").status_code == 403  # no CSRF token
    csrf = client.get("/api/v1/auth/csrf/").json()["csrf_token"]
    assert client.post("/api/v1/auth/logout/", HTTP_X_CSRFTOKEN=csrf).status_code == 204
    assert client.get("/api/v1/auth/me/").status_code in (401, 403)


def test_patient_account_me_links_record(world: World) -> None:
    me = client_for(world.patient_user).get("/api/v1/auth/me/").json()
    assert me["patient_id"] == world.patient.pk


def test_session_expiry_is_configured(settings: Any) -> None:
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600
    assert settings.SESSION_SAVE_EVERY_REQUEST is True


def test_portal_login_page_and_redirect(world: World, client: Any) -> None:
    assert client.get("/").status_code == 302
    page = client.get("/login/")
    assert page.status_code == 200 and b"Sign in" in page.content
    response = client.post("/login/", {"username": world.clinician.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
