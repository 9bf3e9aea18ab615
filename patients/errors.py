"""The input-validation vocabulary: one class and one stable code per kind of mistake.

The REST API, the CSV and FHIR imports, the score requests and the risk modifiers all raise
these (through the parsers in ``patients.validation``), so the same mistake gets the same class
and code wherever it is made: a missing field is ``missing_field``, a value that is not a number
``not_a_number``, a number outside its limits ``implausible_value``, an unknown unit
``unknown_unit``, a date in the future ``future_date``, and so on. Every error raised while
reading one field carries ``detail["field"]``; a batch or an import collects them per row
instead of stopping at the first (see ``BatchInvalid``, ``ImportInvalid``).
"""

from __future__ import annotations

from cdss.core.errors import ValidationFailed


class InvalidField(ValidationFailed):
    """The value has the wrong type or shape (a list where a string was expected, a bad rsID)."""

    code = "invalid_field"


class MissingField(ValidationFailed):
    code = "missing_field"


class UnknownField(ValidationFailed):
    """A field name we do not know: a misspelling must fail loudly, not be dropped."""

    code = "unknown_field"


class InvalidChoice(ValidationFailed):
    code = "invalid_choice"


class InvalidDate(ValidationFailed):
    code = "invalid_date"


class FutureDate(ValidationFailed):
    code = "future_date"


class NotANumber(ValidationFailed):
    """The value is NaN, infinite, or not a number at all."""

    code = "not_a_number"


class ImplausibleValue(ValidationFailed):
    """A number outside its hard limits: an analyte's plausibility range or a field's bounds."""

    code = "implausible_value"


class UnknownAnalyte(ValidationFailed):
    """The LOINC code (or key) is not in the analyte catalogue."""

    code = "unknown_analyte"


class UnknownUnit(ValidationFailed):
    """The unit is not one the catalogue accepts for this analyte; we never guess."""

    code = "unknown_unit"


class UnitSuspect(ValidationFailed):
    """The value is typical of the analyte only in another accepted unit: likely a unit mix-up."""

    code = "unit_suspect"


class InconsistentValues(ValidationFailed):
    """Fields that contradict each other (never smoked with pack-years, low above high)."""

    code = "inconsistent_values"


class EmptyRecord(ValidationFailed):
    """A lifestyle record or clinical assessment that states nothing."""

    code = "empty_record"


class BatchEmpty(ValidationFailed):
    code = "batch_empty"


class BatchTooLarge(ValidationFailed):
    code = "batch_too_large"


class BatchInvalid(ValidationFailed):
    """At least one row of a batch is invalid; ``detail["errors"]`` lists every row's error."""

    code = "batch_invalid"


class ImportInvalid(ValidationFailed):
    """An import with at least one bad row: nothing was saved; ``detail`` is the full report."""

    code = "import_invalid"


class ImportTooLarge(ValidationFailed):
    code = "import_too_large"


class InvalidFhir(ValidationFailed):
    """The document is not a valid FHIR R4 Bundle (structure, types)."""

    code = "invalid_fhir"


class InvalidCsv(ValidationFailed):
    code = "invalid_csv"


class UnsupportedImportFormat(ValidationFailed):
    code = "unsupported_import_format"


class PatientMismatch(ValidationFailed):
    """The Bundle's Patient carries a different MRN from the patient it is imported into."""

    code = "patient_mismatch"
