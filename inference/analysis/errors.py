from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerError

from cdss.core.errors import CdssError, ValidationFailed


class UnknownModel(ValidationFailed):
    code = "unknown_model"


class SeriesNotFound(ValidationFailed):
    code = "series_not_found"


class NothingToAnalyse(ValidationFailed):
    code = "nothing_to_analyse"


class StepFailed(CdssError):
    """A step failed permanently; ``code`` says why (never retried)."""

    code = "step_failed"
    status_code = 500


class TransientStepError(Exception):
    """A step hit a passing fault (PACS, database, broker); retry with backoff."""


# Passing faults: the database, Redis or the PACS is briefly away. Retried with backoff.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, BrokerError, TransientStepError, ConnectionError, TimeoutError,
)
