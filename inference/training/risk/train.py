"""Train, select, calibrate and evaluate the learned risk models; write the artefacts.

Order of work, for every model (fixed seed throughout):
1. split off a stratified, grouped 25 % hold-out that nothing below sees except step 6;
2. cross-validate the candidates on the remaining 75 % (5 folds x 10 repeats for the
   classifiers, 5 x 3 for the Cox model), with every preprocessing constant learned inside
   each training fold;
3. pick a candidate by the rule in ``selection.candidate_select``;
4. calibrate on out-of-fold predictions (classifiers) of the chosen candidate;
5. refit on the whole training part and write the parameters as JSON;
6. score the hold-out through the same numpy predictor that serves predictions;
7. classifiers only: refit the chosen settings (calibration included) on every development
   row with a usable label and ship that fit; step 5's fit is kept in the artefact beside it.
The family-specific steps live in ``training_classifier`` and ``training_survival``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

from inference.risk.learned.artefact import LoadedArtefact, artefact_save, model_json_bytes
from inference.risk.learned.datasets import task_get
from inference.training.risk.cards import model_card_render
from inference.training.risk.classifier_train import classifier_train
from inference.training.risk.survival_train import survival_train

DEFAULT_SEED = 42


@dataclass(frozen=True)
class TrainingOutcome:
    key: str
    payload: dict[str, Any]


def risk_model_train(
    *, key: str, data_path: Path, seed: int = DEFAULT_SEED, version: str | None = None, created_with: str
) -> TrainingOutcome:
    """Train one model and return its payload (nothing is written); ``version`` defaults to
    the task's current artefact version."""
    task = task_get(key)
    version = task.version if version is None else version
    # one BLAS/OpenMP thread: the machine is shared, and results must not depend on threading
    with threadpool_limits(limits=1):
        trainer = survival_train if task.kind == "survival" else classifier_train
        payload = trainer(task, data_path, seed=seed, version=version, created_with=created_with)
    return TrainingOutcome(key=key, payload=payload)


def risk_model_train_and_save(
    *,
    key: str,
    data_path: Path,
    out_root: Path,
    seed: int = DEFAULT_SEED,
    version: str | None = None,
    created_with: str,
) -> LoadedArtefact:
    """Train, then write model.json, MODEL_CARD.md and manifest.json under ``out_root``."""
    outcome = risk_model_train(
        key=key, data_path=data_path, seed=seed, version=version, created_with=created_with
    )
    # the card is rendered from the stored (rounded) numbers, so both say exactly the same
    card = model_card_render(json.loads(model_json_bytes(outcome.payload)))
    return artefact_save(out_root, outcome.payload, card_markdown=card, created_with=created_with)
