"""Imaging inference runtime: the only code that imports torch and MONAI.

Public entry points (imported lazily: ``import inference.runtime`` alone imports no torch):

- ``run_cxr(model_key, images, *, version=None, heatmaps=True) -> list[dict]``
- ``run_liver_seg(volume_hu, spacing_mm, *, model_key="liver_ct_seg", version=None, tta=True) -> (labels, findings)``
- ``run_brain_seg(flair, t1c, *, model_key="brain_mri_seg", version=None, tta=True) -> (labels, findings)``
  (two ``Volume``s; labels 0-4 on the FLAIR's grid)
- ``seg_dicom_create(*, labels_frames, source_datasets, model) -> pydicom.Dataset``
- ``seg_dicom_from_volume(*, labels_zyx, volume, model) -> pydicom.Dataset``
- ``dicom_series_from_datasets(datasets) -> Volume`` (then ``volume.internal()`` -> (volume_hu, spacing_mm))
- ``model_load(*, key, version=None) -> LoadedModel`` (hash-checked, cached per process)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "run_cxr": "inference.runtime.cxr",
    "run_liver_seg": "inference.runtime.liver",
    "run_brain_seg": "inference.runtime.brain",
    "seg_dicom_create": "inference.runtime.dicom_seg",
    "seg_dicom_from_volume": "inference.runtime.dicom_seg",
    "dicom_series_from_datasets": "inference.runtime.io",
    "model_load": "inference.runtime.predictor",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(module), name)
