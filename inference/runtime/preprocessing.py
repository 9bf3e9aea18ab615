"""Preprocessing, driven by the ``preprocessing`` block of a model card. Numpy only.

Chest X-ray: any 2D image (grey, RGB, RGBA; 8 or 16 bit) -> grey uint8 -> resized square ->
either one grey channel or a three-channel pseudo-colour image (original, global histogram
equalisation, CLAHE), as proposed for grey-scale radiographs fed to CNNs (e.g. Pizer 1987 for
CLAHE; multi-channel enhancement stacks in Rahman et al. 2020, Ahmed et al. 2023).

CT: HU windowing to [0, 1] and in-plane resampling of each axial slice to a fixed spacing,
then centre cropping/padding to a fixed field of view (E-U-Net++ test-time recipe).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from inference.registry import ModelInputInvalid

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]


# --- chest X-ray -------------------------------------------------------------------------


def cxr_to_gray_u8(image: NDArray[Any]) -> U8:
    """Grey uint8 from a 2D (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array of any integer/float type."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
        arr = arr[..., 0] if arr.shape[-1] == 1 else arr[..., :3].astype(np.float32).mean(axis=-1)
    if arr.ndim != 2 or min(arr.shape) < 16:
        raise ModelInputInvalid(
            "expected a 2D image of at least 16x16 pixels", detail={"shape": list(arr.shape)}
        )
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ModelInputInvalid("image holds non-finite values")
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return np.clip(np.rint((arr - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)


def resize_u8(image: U8, *, size: int) -> U8:
    """Square resize (aspect ratio not kept, as in the training data), antialiased bilinear."""
    if image.shape == (size, size):
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def histogram_equalise(image: U8) -> U8:
    hist = np.bincount(image.ravel(), minlength=256).astype(np.float64)
    cdf = np.cumsum(hist)
    nonzero = cdf[cdf > 0]
    cdf_min = nonzero[0] if nonzero.size else 0.0
    denom = max(cdf[-1] - cdf_min, 1.0)
    lut = np.clip(np.rint((cdf - cdf_min) / denom * 255.0), 0, 255).astype(np.uint8)
    return lut[image]


@functools.lru_cache(maxsize=16)
def _clahe_geometry(h: int, w: int, tiles: int) -> tuple[int, int, tuple[NDArray[Any], ...]]:
    """Per image shape: tile size, each pixel's four neighbouring tile LUT offsets and the
    bilinear weights between them. Computed once per shape: they made up half of ``clahe``."""
    th, tw = -(-h // tiles), -(-w // tiles)
    fy = np.clip((np.arange(h) + 0.5) / th - 0.5, 0, tiles - 1)
    fx = np.clip((np.arange(w) + 0.5) / tw - 0.5, 0, tiles - 1)
    y0 = np.floor(fy).astype(np.intp)
    x0 = np.floor(fx).astype(np.intp)
    y1 = np.minimum(y0 + 1, tiles - 1)
    x1 = np.minimum(x0 + 1, tiles - 1)
    wy = (fy - y0)[:, None]
    wx = (fx - x0)[None, :]

    def lut_offset(ty: NDArray[np.intp], tx: NDArray[np.intp]) -> NDArray[np.intp]:
        return np.asarray((ty[:, None] * tiles + tx[None, :]) * 256, dtype=np.intp)

    tile_offsets = (np.arange(tiles * tiles, dtype=np.intp) * 256)[:, None]
    arrays = (
        lut_offset(y0, x0), lut_offset(y0, x1), lut_offset(y1, x0), lut_offset(y1, x1),
        1 - wx, wx, 1 - wy, wy, tile_offsets,
    )
    for array in arrays:
        array.setflags(write=False)  # shared between calls
    return th, tw, arrays


def clahe(image: U8, *, clip_limit: float = 2.0, tiles: int = 8) -> U8:
    """Contrast-limited adaptive histogram equalisation (Zuiderveld 1994), bilinear between tiles.

    ``clip_limit`` is relative to a flat histogram (as in OpenCV): each bin of a tile's
    histogram is clipped at ``clip_limit * tile_pixels / 256`` and the excess spread evenly.
    Each pixel blends the mappings of the four nearest tile centres. The arithmetic (float64,
    in this order) is the one the models were trained with; a test holds it bit for bit.
    """
    h, w = image.shape
    th, tw, (i00, i01, i10, i11, wx0, wx1, wy0, wy1, tile_offsets) = _clahe_geometry(h, w, tiles)
    padded = image
    if (th * tiles, tw * tiles) != (h, w):
        padded = np.pad(image, ((0, th * tiles - h), (0, tw * tiles - w)), mode="reflect")
    blocks = padded.reshape(tiles, th, tiles, tw).transpose(0, 2, 1, 3).reshape(tiles * tiles, th * tw)
    counts = np.bincount((blocks + tile_offsets).ravel(), minlength=tiles * tiles * 256)
    hist: NDArray[np.float64] = counts.reshape(tiles * tiles, 256).astype(np.float64)
    limit = max(clip_limit * th * tw / 256.0, 1.0)
    excess = np.maximum(hist - limit, 0.0).sum(axis=1, keepdims=True)
    np.minimum(hist, limit, out=hist)
    hist += excess / 256.0
    cdf: NDArray[np.float64] = np.cumsum(hist, axis=1)
    cdf /= cdf[:, -1:]
    cdf *= 255.0
    luts = np.rint(cdf, out=cdf).ravel()  # in [0, 255]: a normalised cumulative sum
    v = image.astype(np.intp)
    top = luts.take(i00 + v)
    top *= wx0
    top += luts.take(i01 + v) * wx1
    bottom = luts.take(i10 + v)
    bottom *= wx0
    bottom += luts.take(i11 + v) * wx1
    top *= wy0
    bottom *= wy1
    top += bottom
    return np.rint(top, out=top).astype(np.uint8)  # a blend of values in [0, 255]


def cxr_channels(gray: U8, *, settings: dict[str, Any]) -> U8:
    """(C, H, W) uint8: one grey channel, or the pseudo-colour stack (grey, HE, CLAHE)."""
    colour = settings.get("colour", "grayscale")
    if colour == "grayscale":
        return gray[None]
    if colour == "pseudocolour":
        cl = settings.get("clahe", {})
        return np.stack(
            [
                gray,
                histogram_equalise(gray),
                clahe(gray, clip_limit=float(cl.get("clip_limit", 2.0)), tiles=int(cl.get("tiles", 8))),
            ]
        )
    raise ModelInputInvalid("unknown colour mode", detail={"colour": colour})


def cxr_preprocess(image: NDArray[Any], *, settings: dict[str, Any]) -> F32:
    """One image -> (C, S, S) float32 network input, per the card's preprocessing block."""
    gray = resize_u8(cxr_to_gray_u8(image), size=int(settings["size"]))
    lut = _normalise_lut(float(settings["mean"]), float(settings["std"]))
    return lut.take(cxr_channels(gray, settings=settings))


@functools.lru_cache(maxsize=8)
def _normalise_lut(mean: float, std: float) -> F32:
    """uint8 -> network input, as a 256-entry table: (v / 255 - mean) / std, in float32 as the
    models were trained (the same values, one lookup per pixel instead of three passes)."""
    lut = ((np.arange(256, dtype=np.float32) / 255.0 - mean) / std).astype(np.float32)
    lut.setflags(write=False)
    return lut


# --- CT ----------------------------------------------------------------------------------


def ct_window(volume_hu: NDArray[Any], *, lo: float, hi: float) -> F32:
    """Clip HU to [lo, hi] and scale to [0, 1]."""
    return ((np.clip(volume_hu.astype(np.float32), lo, hi) - lo) / (hi - lo)).astype(np.float32)


def ct_inplane_shape(
    *, shape_yx: tuple[int, int], spacing_yx: tuple[float, float], target: float
) -> tuple[int, int]:
    """Slice shape after resampling rows/columns from ``spacing_yx`` mm to ``target`` mm."""
    return (
        max(1, round(shape_yx[0] * spacing_yx[0] / target)),
        max(1, round(shape_yx[1] * spacing_yx[1] / target)),
    )


def centre_crop_or_pad(
    array: NDArray[Any], *, size: int, value: float = 0.0
) -> tuple[NDArray[Any], tuple[int, int]]:
    """Centre-crop or pad the last two axes to ``size`` x ``size``.

    Returns the result and the offsets (oy, ox) such that ``out[..., y, x] == array[..., y + oy, x + ox]``
    (negative offsets mean padding).
    """
    h, w = array.shape[-2:]
    oy, ox = (h - size) // 2, (w - size) // 2
    out = np.full((*array.shape[:-2], size, size), value, dtype=array.dtype)
    sy0, sx0 = max(oy, 0), max(ox, 0)
    dy0, dx0 = max(-oy, 0), max(-ox, 0)
    ny, nx = min(h - sy0, size - dy0), min(w - sx0, size - dx0)
    out[..., dy0 : dy0 + ny, dx0 : dx0 + nx] = array[..., sy0 : sy0 + ny, sx0 : sx0 + nx]
    return out, (oy, ox)


def uncrop(
    array: NDArray[Any], *, shape_yx: tuple[int, int], offsets: tuple[int, int], value: float = 0.0
) -> NDArray[Any]:
    """Inverse of :func:`centre_crop_or_pad` onto a canvas of ``shape_yx`` (cropped-away parts get ``value``)."""
    size = array.shape[-1]
    oy, ox = offsets
    h, w = shape_yx
    out = np.full((*array.shape[:-2], h, w), value, dtype=array.dtype)
    sy0, sx0 = max(oy, 0), max(ox, 0)
    dy0, dx0 = max(-oy, 0), max(-ox, 0)
    ny, nx = min(h - sy0, size - dy0), min(w - sx0, size - dx0)
    out[..., sy0 : sy0 + ny, sx0 : sx0 + nx] = array[..., dy0 : dy0 + ny, dx0 : dx0 + nx]
    return out
