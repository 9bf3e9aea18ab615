"""Learned tabular risk models on the real cohorts (HCV, ILPD, Mayo PBC).

Serving side only (training lives in inference.training.risk); no Django here. Services are
thin wrappers over ``artefact.artefact_load`` and
``predictor.risk_predict`` (or ``batch.risk_predict_file`` for CSV files).
"""
