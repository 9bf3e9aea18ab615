"""Offline work: training, evaluation and model-card writing. Nothing that serves imports this."""
