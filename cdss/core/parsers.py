"""The JSON request parser every API view uses.

Python's ``json`` reads ``1e400`` as infinity, which no field means and which PostgreSQL's
``jsonb`` refuses, and it recurses once per nesting level, so a body of 50,000 ``[`` raises
RecursionError. Both are malformed requests here (400), never a server error.
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from cdss.core.errors import RequestTooLarge


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_loads_strict(text: str) -> Any:
    """``json.loads`` without NaN, Infinity, numbers beyond float range or unbounded nesting."""
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


class JSONParser(parsers.JSONParser):
    """DRF reads the body stream itself, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE never applied
    to JSON: a body over ``max_bytes`` (that setting unless a view's parser says more) is 413."""

    max_bytes: int | None = None

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = self.max_bytes or settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit else stream.read()
        if limit and len(raw) > limit:
            raise RequestTooLarge("The request body is too large.", detail={"max_bytes": limit})
        try:
            return json_loads_strict(codecs.decode(raw, encoding))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError("JSON parse error: " + str(exc)[:200]) from exc
