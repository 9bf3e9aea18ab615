"""Synthetic clinical data for the browser tests, written through the real services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import connections
from django.utils import timezone

from patients.models import Patient
from patients.services import observation_record

T = TypeVar("T")


def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run database work on a plain thread.

    Playwright's sync API keeps an asyncio loop on the test's thread, where async_to_sync (the
    channel layer publishing record.changed after commit) refuses to run. A thread of its own
    has no loop; it gets its own connection to the same test database, closed afterwards.
    """

    def call() -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


# A plausible liver panel (canonical units) a few weeks apart: enough for MELD, ALBI, FIB-4, APRI.
PANEL: dict[str, tuple[str, str, list[float]]] = {
    "alt": ("1742-6", "U/L", [48, 62, 71]),
    "ast": ("1920-8", "U/L", [52, 66, 80]),
    "bilirubin": ("1975-2", "umol/L", [18, 24, 31]),
    "albumin": ("1751-7", "g/L", [38, 35, 33]),
    "platelets": ("777-3", "10*9/L", [180, 150, 131]),
    "inr": ("6301-6", "{INR}", [1.1, 1.2, 1.3]),
    "creatinine": ("2160-0", "umol/L", [80, 85, 90]),
    "sodium": ("2951-2", "mmol/L", [139, 137, 135]),
}


def panel_record(*, actor: Any, patient: Patient, days_ago: tuple[int, ...] = (60, 30, 7)) -> None:
    now = timezone.now().replace(microsecond=0)
    for code, unit, values in PANEL.values():
        for value, days in zip(values, days_ago, strict=True):
            observation_record(
                actor=actor, patient=patient,
                data={"code": code, "value": value, "unit": unit, "observed_at": (now - dt.timedelta(days=days)).isoformat()},
            )
