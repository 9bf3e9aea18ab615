"""Canonical serialisation and hashing of report content: tampering changes the hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def content_sha256(content: dict[str, Any]) -> str:
    return hashlib.sha256(content_canonical(content)).hexdigest()
