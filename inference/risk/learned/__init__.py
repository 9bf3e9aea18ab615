"""Learned tabular risk models on the real cohorts (HCV, ILPD, Mayo PBC).

No Django here: management commands and services are thin wrappers over
``training.risk_model_train_and_save``, ``artefact.artefact_load`` and
``predictor.risk_predict`` (or ``batch.risk_predict_file`` for CSV files).
"""
