"""Validated clinical scores: pure, typed functions of ``ScoreInputs`` (no Django).

``SCORES`` maps each score id to its function; ``scores_evaluate`` implements the request/
response contract of ``POST /api/v1/scores/evaluate``; ``scores_evaluate_batch`` is the
vectorised cohort path, identical in results to the per-patient functions.
"""

from .batch import BatchColumns, BatchScoreResult, batch_columns_from_inputs, scores_evaluate_batch
from .registry import SCORES, scores_compute, scores_evaluate
from .types import ScoreInputs, ScoreResult

__all__ = [
    "SCORES",
    "BatchColumns",
    "BatchScoreResult",
    "ScoreInputs",
    "ScoreResult",
    "batch_columns_from_inputs",
    "scores_compute",
    "scores_evaluate",
    "scores_evaluate_batch",
]
