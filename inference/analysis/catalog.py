"""Which analysis models exist, what they take, and which queue runs them (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class AnalysisModel:
    key: str
    kind: str  # segmentation | classification | noop
    modalities: tuple[str, ...]
    queue: str
    description: str


CATALOG: dict[str, AnalysisModel] = {
    "liver_ct_seg": AnalysisModel("liver_ct_seg", "segmentation", ("CT",), "gpu", "Liver and liver lesion segmentation (CT)"),
    "cxr_pneumonia": AnalysisModel("cxr_pneumonia", "classification", ("CR", "DX", "OT", "SC"), "gpu", "Pneumonia on chest X-ray"),
}
# A real Celery task that does no model work: used by the reliability tests and the dispatch
# benchmark. It is only offered where settings enable it.
NOOP = AnalysisModel("noop", "noop", (), "gpu", "No-op model for tests and benchmarks")


def analysis_models() -> dict[str, AnalysisModel]:
    models = dict(CATALOG)
    if getattr(settings, "ANALYSIS_NOOP_MODEL_ENABLED", False):
        models[NOOP.key] = NOOP
    return models
