"""DICOM UID syntax (PS3.5 section 9.1): digits and dots, no leading zeros, at most 64 characters.

The proxy matches UIDs in URL paths with these patterns, so nothing else (``..``, ``%2F``,
letters) can ever reach the PACS in a path segment.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

UID_MAX_LENGTH = 64
# One component is 0 or a number without leading zeros; a UID has at least two components.
UID_PATTERN = r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))+"
_UID_RE = re.compile(rf"^{UID_PATTERN}$")
# Frame numbers start at 1; a request names at most this many.
FRAME_LIST_MAX = 512
FRAME_LIST_PATTERN = r"[1-9][0-9]{0,5}(?:,[1-9][0-9]{0,5})*"
# Bulk data paths as Orthanc writes them: tag[/item/tag]..., e.g. 7fe00010 or 00540016/1/00091011.
BULK_PATH_PATTERN = r"[0-9A-Fa-f]{8}(?:/[0-9]{1,6}/[0-9A-Fa-f]{8}){0,8}"


def uid_is_valid(value: object) -> bool:
    return isinstance(value, str) and len(value) <= UID_MAX_LENGTH and bool(_UID_RE.match(value))


def uid_validator(value: str) -> None:
    """Model field validator."""
    if not uid_is_valid(value):
        raise ValidationError("Not a valid DICOM UID.", code="invalid_uid")


class UidConverter:
    """URL path converter: a syntactically valid DICOM UID, or no match (404)."""

    regex = UID_PATTERN

    def to_python(self, value: str) -> str:
        if len(value) > UID_MAX_LENGTH:
            raise ValueError("UID too long")
        return value

    def to_url(self, value: str) -> str:
        return value


class FrameListConverter:
    """``1`` or ``1,2,5``: frame numbers from 1, at most FRAME_LIST_MAX of them."""

    regex = FRAME_LIST_PATTERN

    def to_python(self, value: str) -> str:
        if value.count(",") >= FRAME_LIST_MAX:
            raise ValueError("too many frames")
        return value

    def to_url(self, value: str) -> str:
        return value


class BulkPathConverter:
    regex = BULK_PATH_PATTERN

    def to_python(self, value: str) -> str:
        return value.lower()

    def to_url(self, value: str) -> str:
        return value
