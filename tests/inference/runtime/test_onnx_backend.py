"""The segmentation networks in ONNX Runtime: the same labels as torch, torch whenever ONNX
Runtime is not asked for, not installed or not equal, and every result names its runtime."""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.registry import model_card_get
from inference.runtime import onnx_backend, predictor
from inference.runtime.brain import brain_segment_with_model
from inference.runtime.io import volume_read
from inference.runtime.liver import class_argmax, liver_segment_with_model
from inference.runtime.onnx_backend import OrtNetwork, ort_network
from inference.runtime.predictor import model_load, probe_input, runtime_configured, runtime_of
from tests.inference.brain_fixture import nifti_case_write
from tests.inference.data.synthetic import phantom_hu


class _Tiny(torch.nn.Module):
    """A small convolutional network, counting its forwards."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Sequential(
            torch.nn.Conv2d(2, 8, 3, padding=1),
            torch.nn.InstanceNorm2d(8),
            torch.nn.ReLU(),
            torch.nn.Conv2d(8, 3, 1),
        )
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.conv(x)


class _Drifting(_Tiny):
    """Each forward scales its output by the number of forwards so far: the export (one call)
    cannot reproduce the check's call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * self.calls


_PROBE = torch.randn((2, 2, 32, 32), generator=torch.Generator().manual_seed(0))


def test_liver_network_in_onnx_runtime_gives_torchs_labels() -> None:
    model = model_load(key="liver_ct_seg")
    assert isinstance(model.exported, OrtNetwork)
    assert runtime_of(model.exported).startswith("onnxruntime ")
    x = probe_input(model.card) + torch.randn((1, 1, 1, 1), generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        expected, got = model.net(x), model.exported(x)
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert float((got - expected).abs().max()) < 1e-3
    assert torch.equal(class_argmax(got), class_argmax(expected))
    # The module interface the segmentation loops use changes nothing.
    assert model.exported.eval().requires_grad_(False).to("cpu") is model.exported


def test_float32_forwards_go_to_the_exported_network_and_bfloat16_to_torch() -> None:
    model = model_load(key="liver_ct_seg")
    assert model.network() is model.exported
    assert model.network(precision="float32") is model.exported
    assert model.network(precision="bfloat16") is model.net
    assert model.network(precision="mixed") is model.net
    torch_only = dataclasses.replace(model, exported=None)
    assert torch_only.network() is model.net
    assert runtime_of(model.net) == f"torch {torch.__version__}"


def test_exported_network_runs_other_spatial_sizes_in_torch() -> None:
    served = _Tiny().eval()
    net = ort_network(original=_Tiny().eval(), served=served, probe=_PROBE, threads=1)
    assert net is not None
    with torch.inference_mode():
        net(_PROBE[:1])
        assert served.calls == 0
        net(torch.zeros((1, 2, 48, 48)))  # the trace is for 32 x 32 only
        assert served.calls == 1


def test_exported_network_that_differs_from_torch_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=onnx_backend.__name__):
        assert ort_network(original=_Drifting().eval(), served=_Tiny(), probe=_PROBE, threads=1) is None
    assert "runs in torch" in caplog.text


def test_torch_runs_without_onnx_runtime(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # an import of it fails
    with caplog.at_level(logging.WARNING, logger=onnx_backend.__name__):
        assert ort_network(original=_Tiny().eval(), served=_Tiny(), probe=_PROBE, threads=1) is None
    assert "not installed" in caplog.text


@pytest.mark.parametrize(
    ("setting", "device", "exported"),
    [("torch", "cpu", False), ("auto", "cuda", False), ("onnxruntime", "cuda", False), ("auto", "cpu", True)],
)
def test_export_only_where_the_setting_and_the_device_allow(
    monkeypatch: pytest.MonkeyPatch, setting: str, device: str, exported: bool
) -> None:
    calls: list[dict[str, object]] = []

    def fake(**kwargs: object) -> torch.nn.Module:
        calls.append(kwargs)
        return _Tiny()

    monkeypatch.setattr(predictor, "ort_network", fake)
    monkeypatch.setenv("CDSS_INFERENCE_RUNTIME", setting)
    card = model_card_get(key="liver_ct_seg")
    got = predictor._exported(card=card, original=_Tiny(), served=_Tiny(), device=torch.device(device))
    assert (got is not None) is exported and len(calls) == int(exported)


def test_classification_cards_are_not_exported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(predictor, "ort_network", lambda **kwargs: pytest.fail("exported"))
    monkeypatch.setenv("CDSS_INFERENCE_RUNTIME", "onnxruntime")
    card = model_card_get(key="cxr_pneumonia")
    assert card.task == "classification"
    assert (
        predictor._exported(card=card, original=_Tiny(), served=_Tiny(), device=torch.device("cpu")) is None
    )


def test_runtime_setting_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDSS_INFERENCE_RUNTIME", raising=False)
    assert runtime_configured() == "auto"
    for value, expected in [
        ("", "auto"),
        ("torch", "torch"),
        (" OnnxRuntime ", "onnxruntime"),
        ("auto", "auto"),
    ]:
        monkeypatch.setenv("CDSS_INFERENCE_RUNTIME", value)
        assert runtime_configured() == expected
    monkeypatch.setenv("CDSS_INFERENCE_RUNTIME", "tensorrt")
    with pytest.raises(ValueError, match="CDSS_INFERENCE_RUNTIME"):
        runtime_configured()


def test_liver_findings_name_the_runtime_and_agree() -> None:
    model = model_load(key="liver_ct_seg")
    hu = phantom_hu(nz=5, ny=48, nx=56).astype(np.float32)
    spacing = (5.0, 3.0, 3.0)
    ort_labels, ort_findings = liver_segment_with_model(model=model, volume_hu=hu, spacing_mm=spacing)
    torch_model = dataclasses.replace(model, exported=None)
    torch_labels, torch_findings = liver_segment_with_model(
        model=torch_model, volume_hu=hu, spacing_mm=spacing
    )
    assert model.exported is not None
    assert ort_findings["uncertainty"]["runtime"] == runtime_of(model.exported)
    assert ort_findings["uncertainty"]["runtime"].startswith("onnxruntime ")
    assert torch_findings["uncertainty"]["runtime"] == f"torch {torch.__version__}"
    assert ort_findings["uncertainty"]["precision"] == "float32 throughout"
    np.testing.assert_array_equal(ort_labels, torch_labels)


def test_brain_findings_name_the_runtime_and_agree(tmp_path: Path) -> None:
    nifti_case_write(tmp_path)
    flair = volume_read(next(tmp_path.glob("Flair_*")))
    t1c = volume_read(next(tmp_path.glob("T1c_*")))
    model = model_load(key="brain_mri_seg")
    assert model.exported is not None
    ort_labels, ort_findings = brain_segment_with_model(model=model, flair=flair, t1c=t1c)
    torch_model = dataclasses.replace(model, exported=None)
    torch_labels, torch_findings = brain_segment_with_model(model=torch_model, flair=flair, t1c=t1c)
    assert ort_findings["uncertainty"]["runtime"].startswith("onnxruntime ")
    assert torch_findings["uncertainty"]["runtime"] == f"torch {torch.__version__}"
    assert (torch_labels > 0).any()
    np.testing.assert_array_equal(ort_labels, torch_labels)
