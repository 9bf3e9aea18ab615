"""Request errors of the score engine and its modifiers, each a ``ValidationFailed`` with a stable code.

Unit and plausibility errors come from ``patients.units`` (``unknown_analyte``,
``unknown_unit``, ``implausible_value``, ``not_a_number``); these cover the rest of the body.
Codes are part of the public API: never rename one.
"""

from __future__ import annotations

from cdss.core.errors import ValidationFailed


class UnknownScore(ValidationFailed):
    """A requested score id is not in the registry."""

    code = "unknown_score"


class InvalidRequest(ValidationFailed):
    """Malformed body, wrong field type or unknown enum value; ``detail["field"]`` is the path."""

    code = "invalid_request"


class DuplicateObservation(ValidationFailed):
    """Two observations of one analyte that cannot be ordered by date."""

    code = "duplicate_observation"


class ImplausibleFinding(ValidationFailed):
    """A clinician-entered number outside its possible range (same code as implausible labs)."""

    code = "implausible_value"
