"""Which analysis models exist, what they take, and which queue runs them (no torch here).

The model cards are the one source: each registered model's newest ``card.json`` names its
task, the modalities it accepts (``modality``) and, optionally, the Celery queue that runs it
(``serving.queue``, ``gpu`` when absent).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

from inference.registry import model_list

DEFAULT_QUEUE = "gpu"


@dataclass(frozen=True)
class AnalysisModel:
    key: str
    kind: str  # the card's task (segmentation | classification | detection), or noop
    modalities: tuple[str, ...]
    queue: str
    description: str


# A real Celery task that does no model work: used by the reliability tests and the dispatch
# benchmark. It is only offered where settings enable it.
NOOP = AnalysisModel("noop", "noop", (), DEFAULT_QUEUE, "No-op model for tests and benchmarks")


@lru_cache(maxsize=1)
def card_models() -> dict[str, AnalysisModel]:
    """The newest card of every registered model, as the analysis pipeline sees it."""
    models: dict[str, AnalysisModel] = {}
    for card in model_list(latest_only=True):
        serving = card.data.get("serving") or {}
        models[card.key] = AnalysisModel(
            key=card.key,
            kind=card.task,
            modalities=tuple(str(m) for m in card.data.get("modality", [])),
            queue=str(serving.get("queue", DEFAULT_QUEUE)),
            description=str(card.data.get("name", card.key)),
        )
    return models


def analysis_models() -> dict[str, AnalysisModel]:
    models = dict(card_models())
    if getattr(settings, "ANALYSIS_NOOP_MODEL_ENABLED", False):
        models[NOOP.key] = NOOP
    return models
