"""The email-style notification hook for new consultation requests.

``settings.CONSULTATION_NOTIFY`` names a function ``(consultation_id: int, user_ids: list[int])``
called after the request commits (e.g. one that sends an email saying "a consultation awaits
you" with a link, never the question or patient data). The default only logs the ids.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

DEFAULT_NOTIFY = "consultations.notify.notify_log"


def notify_log(consultation_id: int, user_ids: list[int]) -> None:
    logger.info("consultation %s requested from users %s", consultation_id, user_ids)


def notifier() -> Callable[[int, list[int]], None]:
    path = getattr(settings, "CONSULTATION_NOTIFY", "") or DEFAULT_NOTIFY
    function: Callable[[int, list[int]], None] = import_string(path)
    return function


def consultation_notify(consultation_id: int, user_ids: list[int]) -> None:
    try:
        notifier()(consultation_id, user_ids)
    except Exception:
        # A failing mail relay must not undo or hide the request: it is in the inbox anyway.
        logger.exception("consultation %s: the notification hook failed", consultation_id)
