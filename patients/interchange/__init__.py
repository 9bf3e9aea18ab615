"""Moving patient records in and out: FHIR R4 (``fhir.resources`` R4B models) and CSV."""
