"""Errors of the learned risk models, each with a stable code.

The package stays free of Django (and of ``cdss``, whose package import starts Celery), so it
mirrors the ``{"code", "message", "detail"}`` shape of ``cdss.core.errors.CdssError``; the
service layer that calls it re-raises these as ``ValidationFailed``/``ServiceUnavailable``.
Codes are part of the public API: never rename one.
"""

from __future__ import annotations

from typing import Any


class LearnedRiskError(Exception):
    """Base class: a stable ``code``, a human message and optional structured detail."""

    code: str = "risk_model_error"

    def __init__(self, message: str, *, code: str | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "detail": self.detail}


class UnknownModel(LearnedRiskError):
    """The model key (or version) is not one this package knows."""

    code = "risk_model_unknown"


class ArtefactMissing(LearnedRiskError):
    """No artefact (manifest or model.json) where one was expected."""

    code = "risk_artefact_missing"


class ArtefactIntegrityError(LearnedRiskError):
    """The model.json bytes do not match the SHA-256 recorded in the manifest."""

    code = "risk_artefact_hash_mismatch"


class ArtefactInvalid(LearnedRiskError):
    """The artefact parses but does not follow the schema this predictor reads."""

    code = "risk_artefact_invalid"


class InputInvalid(LearnedRiskError):
    """A cohort file or input frame cannot be read as the dataset's format."""

    code = "risk_input_invalid"


class TrainingDataInvalid(LearnedRiskError):
    """Training data lack labels or classes the model needs."""

    code = "risk_training_data_invalid"
