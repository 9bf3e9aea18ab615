"""A changed password revokes the account's API tokens."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from cdss.accounts.models import User
from cdss.accounts.services import account_tokens_revoke


@receiver(post_save, sender=User)
def _tokens_revoke_on_password_change(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    if not created and getattr(instance, "password_changed_on_save", False):
        instance.password_changed_on_save = False
        account_tokens_revoke(user=instance)
