"""Predict from a JSON artefact with numpy only: probabilities or risk, plus contributions.

Families (``payload["family"]``):
- ``logistic_binary``: lp = b0 + w.z; p(positive) = sigmoid(a * lp + b) (Platt calibration).
- ``logistic_multinomial``: lp_k = b0_k + W_k.z; p = softmax(lp / T) (temperature scaling).
- ``logistic_stagewise_binary``: a binary outcome whose positive class is a union of stages,
  fitted as a multinomial over the stages (stage 0 negative). lp_k = log-odds of stage k vs
  stage 0 = (b_k - b_0) + (W_k - W_0).z for k >= 1; score = log(sum_k exp(lp_k)), the log-odds
  of any positive stage; p(positive) = sigmoid(a * score + b) (Platt calibration).
- ``cox_ph``: lp = beta.z (log hazard ratio against an average training patient);
  P(death by horizon) = 1 - S0(horizon) ** exp(lp) with S0 the Breslow baseline survival.

Contribution of feature j = coefficient_j * z_j, in the uncalibrated log-odds (or log-hazard)
space; z_j is the standardised value, whose training mean is 0, so contributions are
relative to an average training patient and sum to lp - intercept exactly. Calibration maps
are monotone, so the ranking of contributions is the same on the probability scale. For the
stagewise family there is one lp per positive stage (its log-odds against stage 0); callers
explain the row's most likely positive stage, whose lp dominates the score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inference.risk.learned.artefact import LoadedArtefact
from inference.risk.learned.errors import ArtefactInvalid
from inference.risk.learned.features import FeatureSpec, features_encode

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class RiskPredictions:
    """One entry per input row, in input order."""

    model_key: str
    version: str
    sha256: str
    family: str
    outputs: tuple[str, ...]  # names of the columns in ``values``
    values: FloatArray  # (n, len(outputs)): class probabilities, or risk_score and p_event
    linear_predictor: FloatArray  # (n, m): m = 1 (binary, cox) or n_classes
    intercept: FloatArray  # (m,)
    contributions: FloatArray  # (n, m, p)
    contribution_targets: tuple[str, ...]  # (m,) what each lp row is the log-odds/hazard of
    feature_names: tuple[str, ...]
    feature_columns: tuple[str, ...]
    imputed: list[tuple[str, ...]]  # per row: input columns whose value was imputed
    out_of_range: list[tuple[str, ...]]  # per row: inputs clipped to the training range

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])


def _floats(value: Any, shape: tuple[int, ...], what: str) -> FloatArray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ArtefactInvalid(f"{what}: not numeric") from exc
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise ArtefactInvalid(f"{what}: expected finite array of shape {shape}, got {arr.shape}")
    return arr


def _softmax(x: FloatArray) -> FloatArray:
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=float)


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=float)  # overflow-free logistic


def _flag_lists(mask: NDArray[np.bool_], columns: Sequence[str]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for row in mask:
        seen: dict[str, None] = {}
        for j in np.flatnonzero(row):
            seen[columns[int(j)]] = None  # two features may share one input column
        out.append(tuple(seen))
    return out


_FamilyOutputs = tuple[FloatArray, FloatArray, FloatArray, FloatArray, tuple[str, ...], tuple[str, ...]]


def _family_outputs(
    family: str, model: Mapping[str, Any], classes: tuple[str, ...], z: FloatArray
) -> _FamilyOutputs:
    """(coef (m, p), intercept (m,), lp (n, m), outputs (n, q), output names, lp targets)."""
    p = z.shape[1]
    if family == "logistic_binary":
        coef = _floats(model["coef"], (p,), "coef")[None, :]
        intercept = _floats([model["intercept"]], (1,), "intercept")
        cal = model["calibration"]
        lp = z @ coef.T + intercept
        p_pos = _sigmoid(float(cal["a"]) * lp[:, 0] + float(cal["b"]))
        out = np.column_stack([1.0 - p_pos, p_pos])
        return coef, intercept, lp, out, tuple(f"p_{c}" for c in classes), (classes[1],)
    if family == "logistic_multinomial":
        coef = _floats(model["coef"], (len(classes), p), "coef")
        intercept = _floats(model["intercept"], (len(classes),), "intercept")
        temperature = float(model["calibration"]["temperature"])
        if temperature <= 0:
            raise ArtefactInvalid("temperature must be positive")
        lp = z @ coef.T + intercept
        out = _softmax(lp / temperature)
        return coef, intercept, lp, out, tuple(f"p_{c}" for c in classes), classes
    if family == "logistic_stagewise_binary":
        stages = tuple(str(c) for c in model["stage_classes"])
        if len(stages) < 2 or len(classes) != 2:
            raise ArtefactInvalid("stagewise model needs >= 2 stages and 2 classes")
        w = _floats(model["coef"], (len(stages), p), "coef")
        b = _floats(model["intercept"], (len(stages),), "intercept")
        coef, intercept = w[1:] - w[0], b[1:] - b[0]
        lp = z @ coef.T + intercept  # (n, stages - 1): log-odds of each positive stage vs stage 0
        top = lp.max(axis=1)
        score = top + np.log(np.exp(lp - top[:, None]).sum(axis=1))  # stable log-sum-exp
        cal = model["calibration"]
        p_pos = _sigmoid(float(cal["a"]) * score + float(cal["b"]))
        out = np.column_stack([1.0 - p_pos, p_pos])
        targets = tuple(f"{s} vs {stages[0]}" for s in stages[1:])
        return coef, intercept, lp, out, tuple(f"p_{c}" for c in classes), targets
    if family == "cox_ph":
        coef = _floats(model["coef"], (p,), "coef")[None, :]
        s0 = float(model["baseline_survival"]["value"])
        if not 0.0 < s0 <= 1.0:
            raise ArtefactInvalid("baseline survival must be in (0, 1]")
        lp = z @ coef.T
        p_event = 1.0 - np.power(s0, np.exp(lp[:, 0]))
        out = np.column_stack([lp[:, 0], p_event])
        names = ("risk_score", str(model["event_probability_name"]))
        return coef, np.zeros(1), lp, out, names, (f"log_hazard_{classes[0]}",)
    raise ArtefactInvalid(f"unknown model family {family!r}")


def risk_predict(
    artefact: LoadedArtefact, values: Mapping[str, Sequence[object] | np.ndarray]
) -> RiskPredictions:
    """Score rows given as ``{input column: values}`` in the dataset's own units and codes."""
    payload = artefact.payload
    try:
        specs = [FeatureSpec.from_json(f) for f in payload["features"]]
        family = str(payload["family"])
        model = payload["model"]
        classes = tuple(str(c) for c in payload["classes"])
    except (KeyError, TypeError) as exc:
        raise ArtefactInvalid(f"artefact {artefact.key}: missing field {exc}") from exc
    enc = features_encode(specs, values)
    columns = [s.column for s in specs]
    try:
        coef, intercept, lp, values_out, outputs, targets = _family_outputs(family, model, classes, enc.z)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtefactInvalid(f"artefact {artefact.key}: bad model section ({exc})") from exc
    contributions = enc.z[:, None, :] * coef[None, :, :]
    return RiskPredictions(
        model_key=artefact.key,
        version=artefact.version,
        sha256=artefact.sha256,
        family=family,
        outputs=outputs,
        values=values_out,
        linear_predictor=lp,
        intercept=intercept,
        contributions=contributions,
        contribution_targets=targets,
        feature_names=enc.feature_names,
        feature_columns=tuple(columns),
        imputed=_flag_lists(enc.imputed, columns),
        out_of_range=_flag_lists(enc.clipped, columns),
    )


def top_contributions(
    predictions: RiskPredictions, row: int, *, target: int = 0, k: int = 3
) -> list[tuple[str, float]]:
    """The k largest |contributions| of one row toward lp target ``target``, signed."""
    contrib = predictions.contributions[row, target]
    order = np.argsort(-np.abs(contrib), kind="stable")[:k]
    return [(predictions.feature_names[j], float(contrib[j])) for j in order]
