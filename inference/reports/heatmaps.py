"""Model heatmaps (Grad-CAM of the chest X-ray model) as a reader sees them: in colour.

The imaging step keeps each heatmap in the report as a small grey PNG data URL (0 cold, 255 hot).
The report page shows it in colour; the PDF lays it over the radiograph (``key_images``).
"""

from __future__ import annotations

import base64
import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image


def heatmap_grey(data_url: str) -> NDArray[np.float32] | None:
    if not data_url.startswith("data:image/png;base64,"):
        return None
    try:
        raw = base64.b64decode(data_url.split(",", 1)[1], validate=True)
        grey = np.asarray(Image.open(io.BytesIO(raw)).convert("L"), dtype=np.float32) / 255.0
    except (ValueError, OSError, IndexError):
        return None
    return grey


def jet(values: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Blue (cold) to red (hot), the colours radiologists read heatmaps in."""
    x = np.clip(values, 0.0, 1.0)
    rgb = np.stack([np.clip(1.5 - np.abs(4 * x - 3), 0, 1), np.clip(1.5 - np.abs(4 * x - 2), 0, 1),
                    np.clip(1.5 - np.abs(4 * x - 1), 0, 1)], axis=-1)
    return (rgb * 255).astype(np.uint8)


def png(array: NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def heatmap_colour_data_url(data_url: str) -> str:
    """The stored grey heatmap (0 cold .. 255 hot) in colour, as a PNG data URL ("" if unreadable)."""
    grey = heatmap_grey(data_url)
    if grey is None:
        return ""
    return "data:image/png;base64," + base64.b64encode(png(jet(grey))).decode()
