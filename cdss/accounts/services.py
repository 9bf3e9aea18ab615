"""Account operations: creation with a role, lock-out bookkeeping."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from cdss.accounts.models import CareTeam, Role, User


def user_create(
    *, username: str, password: str, role: str, email: str = "", first_name: str = "", last_name: str = ""
) -> User:
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    user = User(
        username=username,
        role=role,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=role == Role.ADMIN,
        is_superuser=role == Role.ADMIN,
    )
    user.set_password(password)
    user.save()
    return user


def care_team_create(*, name: str, members: list[User]) -> CareTeam:
    team = CareTeam.objects.create(name=name)
    team.members.set(members)
    return team


def account_is_locked(user: User) -> bool:
    return user.locked_until is not None and user.locked_until > timezone.now()


def account_register_failure(*, username: str) -> None:
    """Count a failed password; lock the account once the threshold is reached."""
    with transaction.atomic():
        updated = User.objects.filter(username=username).update(
            failed_login_count=F("failed_login_count") + 1
        )
        if not updated:
            return
        user = User.objects.select_for_update().get(username=username)
        if user.failed_login_count >= settings.LOCKOUT_THRESHOLD:
            user.locked_until = timezone.now() + timedelta(minutes=settings.LOCKOUT_MINUTES)
            user.failed_login_count = 0
            user.save(update_fields=["locked_until", "failed_login_count"])
            account_tokens_revoke(user=user)


def account_tokens_revoke(*, user: User) -> int:
    """Delete the user's API tokens (on lock-out and password change); sessions end by their own
    rules (a password change invalidates them through the session's auth hash)."""
    from rest_framework.authtoken.models import Token

    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted


def account_register_success(*, user: User) -> None:
    if user.failed_login_count or user.locked_until:
        User.objects.filter(pk=user.pk).update(failed_login_count=0, locked_until=None)
