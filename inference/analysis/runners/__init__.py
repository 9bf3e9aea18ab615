"""One runner module per served model, named after the model key.

A runner turns a fetched series into the step result's model-specific part
(``model``, ``findings``, optional ``seg`` and ``explanations``). It runs in the GPU worker
only, so it imports the torch runtime inside its ``run`` function.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from inference.analysis.catalog import AnalysisModel
    from inference.analysis.series_fetch import FetchedSeries


class Runner(Protocol):
    def __call__(self, *, model: AnalysisModel, series: FetchedSeries) -> dict[str, Any]: ...


class RunnerMissing(LookupError):
    code = "model_runner_missing"


def runner_for(model_key: str) -> Runner:
    """The ``run`` function of ``inference.analysis.runners.<model_key>``."""
    if not model_key.isidentifier():
        raise RunnerMissing(f"no runner for {model_key!r}")
    try:
        module = importlib.import_module(f"{__name__}.{model_key}")
    except ModuleNotFoundError as exc:
        raise RunnerMissing(f"no runner for {model_key!r}") from exc
    run: Callable[..., dict[str, Any]] = module.run
    return run
