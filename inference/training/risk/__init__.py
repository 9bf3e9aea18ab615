"""Learned tabular risk model training, evaluation and cards."""
