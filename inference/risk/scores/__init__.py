"""Validated clinical scores: pure, typed functions of ``ScoreInputs`` (no Django).

``SCORES`` maps each score id to its function; ``scores_evaluate`` implements the request/
response contract of ``POST /api/v1/scores/evaluate``.
"""

from .registry import SCORES, scores_compute, scores_evaluate
from .types import ScoreInputs, ScoreResult

__all__ = [
    "SCORES",
    "ScoreInputs",
    "ScoreResult",
    "scores_compute",
    "scores_evaluate",
]
