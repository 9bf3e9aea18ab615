"""The two request errors only a score request can make, each a ``ValidationFailed`` with a stable code.

Every other mistake in a score request or its modifiers (a missing or unknown field, a value
that is not a number or outside its limits, an unknown unit or choice, a bad or future date) is
one of the ``patients.errors`` classes, raised by the same parsers as the record API and the
imports. Codes are part of the public API: never rename one.
"""

from __future__ import annotations

from cdss.core.errors import ValidationFailed


class UnknownScore(ValidationFailed):
    """A requested score id is not in the registry."""

    code = "unknown_score"


class DuplicateObservation(ValidationFailed):
    """Two observations of one analyte that cannot be ordered by date."""

    code = "duplicate_observation"
