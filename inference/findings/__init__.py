"""Reviewable findings: every model-made finding is a proposal until a clinician decides."""
