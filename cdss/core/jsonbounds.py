"""Bounds for free-form JSON that clients may store (analysis options and the like)."""

from __future__ import annotations

import json
from typing import Any

from cdss.core.errors import ValidationFailed


def json_depth(value: Any, *, limit: int) -> int:
    """Nesting depth of ``value`` (a scalar is 0), counted without recursion, up to ``limit + 1``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def json_check_bounds(value: Any, *, field: str, max_depth: int, max_bytes: int) -> None:
    """Refuse (400) JSON nested deeper than ``max_depth`` or longer than ``max_bytes`` encoded."""
    if json_depth(value, limit=max_depth) > max_depth:
        raise ValidationFailed(
            f"{field}: nested deeper than {max_depth} levels.", code="json_too_deep",
            detail={field: [f"At most {max_depth} levels of nesting."]},
        )
    try:
        size = len(json.dumps(value, allow_nan=False, separators=(",", ":")))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"{field}: not plain JSON.", detail={field: ["Plain JSON only."]}) from exc
    if size > max_bytes:
        raise ValidationFailed(
            f"{field}: larger than {max_bytes} bytes.", code="json_too_large",
            detail={field: [f"At most {max_bytes} bytes as JSON."]},
        )
