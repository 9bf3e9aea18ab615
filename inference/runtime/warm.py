"""Loading imaging models before the first analysis needs them."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from inference.runtime.predictor import model_load

logger = logging.getLogger(__name__)


def models_warm(keys: Iterable[str]) -> list[str]:
    """Load (verify, rewrite, export) each model into this process's cache; returns the keys that
    loaded. A model that fails is logged and left for the analysis that needs it to report."""
    loaded = []
    for key in keys:
        try:
            model_load(key=key)
        except Exception:  # a warm-up must never stop the worker: the step reports the error
            logger.warning("warm-up: model %s did not load", key, exc_info=True)
        else:
            loaded.append(key)
    logger.info("warm-up: %d of the configured models loaded", len(loaded))
    return loaded
