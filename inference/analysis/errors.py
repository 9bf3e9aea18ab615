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
