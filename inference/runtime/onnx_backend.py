"""A segmentation network run by ONNX Runtime on the CPU, behind the torch module interface.

The card's network, exactly as its architecture defines it (``predictor.network_load``: none of
the inference rewrites, whose in-place writes into views do not trace), is exported to ONNX in
memory at model load and run by ONNX Runtime's CPU provider, which fuses the batch norms and
chooses its own convolution kernels: the same function as the torch network, faster on this
project's CPUs. The export traces the network at the card's input size (the U-Net's padding
decisions become constants of the graph), so inputs of another spatial size go to the torch
network. The exported network is checked against the original on the card's probe input; when it
differs, or ONNX Runtime is missing, there is no exported network and torch runs.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

import torch

from inference.runtime.rewrite_check import outputs_close

logger = logging.getLogger(__name__)

OPSET = 17


def ort_version() -> str | None:
    """The installed ONNX Runtime's version, None when it is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    return str(onnxruntime.__version__)


class OrtNetwork(torch.nn.Module):
    """An ONNX Runtime session as a torch module: float32 (N, C, H, W) tensor in, logits out.

    ``fallback`` (the served torch network) takes inputs of another spatial size than the
    exported one. No parameters: ``eval``, ``requires_grad_`` and ``to`` (the CPU) change nothing.
    """

    def __init__(
        self, session: Any, *, spatial: tuple[int, ...], fallback: torch.nn.Module, version: str
    ) -> None:
        super().__init__()
        self.session = session
        self.spatial = spatial
        self.fallback = fallback
        self.runtime = f"onnxruntime {version}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[2:]) != self.spatial or x.device.type != "cpu":
            return self.fallback(x)
        feed = x.detach().to(torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {"x": feed})[0])


def ort_network(
    *, original: torch.nn.Module, served: torch.nn.Module, probe: torch.Tensor, threads: int
) -> OrtNetwork | None:
    """``original`` exported and run by ONNX Runtime with ``threads`` threads, checked against
    ``original`` on ``probe``; None (logged) when ONNX Runtime or onnx is missing, the export
    fails or the outputs differ."""
    version = ort_version()
    if version is None:
        logger.warning("onnxruntime is not installed; the network runs in torch")
        return None
    import onnxruntime

    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter warns that it is deprecated and that the trace turns
            # shape checks into constants: the export is for the probe's spatial size only.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                original.eval(),
                (probe,),
                buffer,  # type: ignore[arg-type]  # a file object works; the stubs name paths only
                input_names=["x"],
                output_names=["y"],
                dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # any failure of the export or the session keeps torch
        logger.warning(
            "exporting %s to ONNX failed (%s); the network runs in torch",
            type(original).__name__,
            type(exc).__name__,
        )
        return None
    net = OrtNetwork(session, spatial=tuple(probe.shape[2:]), fallback=served, version=version)
    with torch.inference_mode():
        expected, got = original(probe), net(probe)
    if not outputs_close(got, expected):
        logger.warning("ONNX Runtime changed %s's output; the network runs in torch", type(original).__name__)
        return None
    return net
