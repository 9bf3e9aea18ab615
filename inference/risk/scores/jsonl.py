"""Evaluate a JSON Lines file of score requests: one response (or error) line per request."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from cdss.core.errors import CdssError

from .registry import scores_evaluate


class Writer(Protocol):
    """Anything with ``write(str)``: a file, ``sys.stdout``, Django's ``OutputWrapper``."""

    def write(self, text: str, /) -> Any: ...


def scores_evaluate_lines(lines: Iterable[str], out: Writer) -> tuple[int, int]:
    """Write one JSON line per non-blank input line, in order; return (evaluated, failed).

    A line that is not JSON, or that the engine rejects, yields
    ``{"error": {"code", "message", "detail"}}`` (``detail.line`` is its 1-based number) and
    the run continues. Blank lines are skipped.
    """
    evaluated = failed = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        evaluated += 1
        try:
            body = json.loads(line)
            response = scores_evaluate(body)
        except json.JSONDecodeError as exc:
            failed += 1
            response = {
                "error": {
                    # The code the API gives a body that is not JSON (cdss.core.api).
                    "code": "malformed_request",
                    "message": f"line {number} is not valid JSON: {exc.msg}",
                    "detail": {"line": number, "column": exc.colno},
                }
            }
        except CdssError as exc:
            failed += 1
            error = exc.as_dict()
            detail = error["detail"] if isinstance(error["detail"], dict) else {"detail": error["detail"]}
            response = {"error": {**error, "detail": {**detail, "line": number}}}
        out.write(json.dumps(response, allow_nan=False) + "\n")
    return evaluated, failed
