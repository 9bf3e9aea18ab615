"""The score registry and the request-level entry point ``scores_evaluate``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inference.risk.modifiers import modifier_inputs_parse, modifiers_evaluate

from .hcc import amap, bclc, galad
from .inputs import score_request_parse
from .liver import albi, apri, child_pugh, fib4
from .lung import brock, fleischner, lung_rads
from .meld import meld, meld_3, meld_na
from .types import ScoreInputs, ScoreResult

SCORES: dict[str, Callable[[ScoreInputs], ScoreResult]] = {
    "meld": meld,
    "meld_na": meld_na,
    "meld_3": meld_3,
    "child_pugh": child_pugh,
    "albi": albi,
    "fib4": fib4,
    "apri": apri,
    "amap": amap,
    "galad": galad,
    "bclc": bclc,
    "lung_rads": lung_rads,
    "brock": brock,
    "fleischner": fleischner,
}


def scores_compute(*, inputs: ScoreInputs, score_ids: list[str] | None = None) -> dict[str, ScoreResult]:
    """Run the named scores (all, in registry order, when ``score_ids`` is None)."""
    return {score_id: SCORES[score_id](inputs) for score_id in (score_ids or list(SCORES))}


def scores_evaluate(request_body: Any) -> dict[str, Any]:
    """Validate a request body, compute the requested scores, return the response body.

    Raises the ``patients.errors`` vocabulary (``missing_field``, ``unknown_field``,
    ``invalid_field``, ``invalid_choice``, ``not_a_number``, ``implausible_value``,
    ``inconsistent_values``, ``unknown_analyte``, ``unknown_unit``, ``unit_suspect``,
    ``invalid_date``, ``future_date``) or ``unknown_score`` / ``duplicate_observation``, with the
    offending field path in ``detail["field"]``.
    The optional ``modifiers`` object adds a ``modifiers`` list to the response: documented
    genetic and lifestyle effects shown beside the scores, never folded into them.
    """
    request = score_request_parse(request_body, known_scores=SCORES)
    score_ids = request.score_ids if request.score_ids is not None else list(SCORES)
    results = {score_id: SCORES[score_id](request.inputs) for score_id in score_ids}
    response: dict[str, Any] = {"scores": {score_id: r.as_dict() for score_id, r in results.items()}}
    if request.modifiers is not None:
        response["modifiers"] = modifiers_evaluate(inputs=modifier_inputs_parse(request.modifiers))
    return response
