"""The held-out split, cross-validation folds and the model-selection rule.

The held-out split is made once, from the seed, before anything else looks at the data;
it is used only for the final report. Exact duplicate rows (ILPD has some) form one group so
a patient record never sits on both sides of a split, in the hold-out or in CV.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

IndexArray = NDArray[np.intp]

CV_SPLITS = 5
CV_REPEATS = 3
HOLDOUT_FRACTION = 0.25


def duplicate_groups(
    values: Mapping[str, np.ndarray], extra: Sequence[object] | None = None
) -> NDArray[np.int64]:
    """Group id per row; rows identical in every given column (and ``extra``) share one."""
    names = sorted(values)
    n = len(values[names[0]])
    seen: dict[tuple[str, ...], int] = {}
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        key = tuple(repr(values[c][i]) for c in names) + ((repr(extra[i]),) if extra is not None else ())
        out[i] = seen.setdefault(key, len(seen))
    return out


def _merge_rare(strata: NDArray[np.str_], minimum: int) -> NDArray[np.str_]:
    """Pool strata too small to stratify on (fewer than ``minimum`` rows) so small cohorts
    still split; a pool that is itself too small joins the largest stratum."""
    labels, counts = np.unique(strata, return_counts=True)
    rare = set(labels[counts < minimum].tolist())
    if not rare:
        return strata
    merged = np.array(["__rare__" if s in rare else s for s in strata])
    if int(np.sum(merged == "__rare__")) < minimum:
        largest = str(labels[np.argmax(counts)])
        merged = np.where(merged == "__rare__", largest, merged)
    return merged


def holdout_split(
    strata: Sequence[object], groups: NDArray[np.int64], *, seed: int, fraction: float = HOLDOUT_FRACTION
) -> tuple[IndexArray, IndexArray]:
    """Stratified, grouped, seeded split into (train, held-out) row indices, each sorted."""
    strata_arr = _merge_rare(np.asarray([str(s) for s in strata]), 2)
    unique_groups, first = np.unique(groups, return_index=True)
    _, group_test = train_test_split(
        unique_groups, test_size=fraction, stratify=strata_arr[first], random_state=seed
    )
    test_mask = np.isin(groups, group_test)  # whole groups move, so none straddles the split
    return np.flatnonzero(~test_mask), np.flatnonzero(test_mask)


def cv_folds(
    strata: Sequence[object],
    groups: NDArray[np.int64],
    *,
    seed: int,
    n_splits: int = CV_SPLITS,
    n_repeats: int = CV_REPEATS,
) -> list[tuple[int, IndexArray, IndexArray]]:
    """(repeat, train positions, validation positions) for repeated stratified group k-fold."""
    strata_arr = _merge_rare(np.asarray([str(s) for s in strata]), n_splits)
    folds: list[tuple[int, IndexArray, IndexArray]] = []
    for repeat in range(n_repeats):
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed + repeat)
        for tr, va in splitter.split(np.zeros(len(strata_arr)), strata_arr, groups):
            folds.append((repeat, np.asarray(tr), np.asarray(va)))
    return folds


@dataclass
class CandidateScore:
    """Cross-validated score of one candidate; ``complexity`` orders simplest first."""

    name: str
    params: dict[str, Any]
    complexity: tuple[float, ...]
    fold_scores: list[float] = field(default_factory=list)
    exportable: bool = True
    # secondary metrics reported beside the selection metric, e.g. macro AUROC
    extra_scores: dict[str, list[float]] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return float(np.mean(self.fold_scores))

    @property
    def se(self) -> float:
        return float(np.std(self.fold_scores, ddof=1) / np.sqrt(len(self.fold_scores)))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": self.params,
            "mean": self.mean,
            "se": self.se,
            "n_folds": len(self.fold_scores),
            "exportable": self.exportable,
            "extra": {k: float(np.mean(v)) for k, v in self.extra_scores.items()},
        }


def candidate_select(
    candidates: Sequence[CandidateScore], *, higher_is_better: bool, tolerance: float
) -> CandidateScore:
    """Best mean CV score; among candidates within ``tolerance`` of it, the simplest.

    A fixed small tolerance (rather than one standard error, which across overlapping folds
    is too large to discriminate) prefers stronger regularisation or fewer inputs only when
    the data cannot tell them apart.
    """
    pool = [c for c in candidates if c.exportable]
    sign = 1.0 if higher_is_better else -1.0
    best = max(sign * c.mean for c in pool)
    near = [c for c in pool if sign * c.mean >= best - tolerance]
    return min(near, key=lambda c: c.complexity)
