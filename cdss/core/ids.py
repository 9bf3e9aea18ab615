"""The one reader of object ids from URLs, query strings, bodies and socket paths.

Primary keys are 64-bit signed integers (BigAutoField). A value outside that range, or one
written with anything but ASCII digits (``int()`` also reads "²" as an error but "٣" as 3),
names no object: readers answer "not found" with a stable code instead of letting the value
reach the database, where it overflows.
"""

from __future__ import annotations

from typing import Any

from cdss.core.errors import ValidationFailed

ID_MAX = 2**63 - 1
# Longer than any id: no longer text is ever turned into a number.
_MAX_DIGITS = 40


def id_parse(value: Any) -> int | None:
    """The id ``value`` names, or None when it cannot name a stored object."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > _MAX_DIGITS or not (text.isascii() and text.isdigit()):
            return None
        number = int(text)
    else:
        return None
    return number if 1 <= number <= ID_MAX else None


def id_for_audit(value: Any) -> str:
    """The requested id as text for an audit entry's ``object_id`` (bounded, never parsed)."""
    return str(value)[:128]


def query_int(params: Any, name: str, *, low: int, high: int) -> int | None:
    """A whole-number query parameter within [low, high]; None when absent; else 400."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > _MAX_DIGITS or not low <= int(text) <= high:
        raise ValidationFailed(
            f"{name}: must be a whole number from {low} to {high}.",
            detail={name: [f"A whole number from {low} to {high}."]},
        )
    return int(text)
