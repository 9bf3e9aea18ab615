"""Imaging model training and evaluation (liver CT, chest X-ray)."""
