from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import check_password
from django.http import HttpRequest

from cdss.accounts.models import User
from cdss.accounts.services import (
    account_is_locked,
    account_register_failure,
    account_register_success,
)


class LockoutModelBackend(ModelBackend):
    """Password login that refuses locked accounts, even with the right password."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        locked = User.objects.filter(username=username).first()
        if locked is not None and account_is_locked(locked):
            # Hash the attempt anyway, so that a locked account answers in the time of any
            # failed login and timing does not tell a locked account from a wrong password.
            check_password(password, locked.password)
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            account_register_failure(username=username)
            return None
        account_register_success(user=user)
        return user
