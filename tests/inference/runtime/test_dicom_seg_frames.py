"""The SEG's frames from internal labels: the same arrays as through ``Volume.from_internal``."""

from __future__ import annotations

import numpy as np
import pytest

from inference.runtime.dicom_seg import _segments_last, frames_from_internal
from inference.runtime.io import Volume


@pytest.mark.parametrize(
    ("axes", "signs"),
    [((0, 1, 2), (-1, -1, 1)), ((0, 1, 2), (1, 1, 1)), ((0, 2, 1), (-1, 1, -1)), ((2, 0, 1), (1, -1, 1))],
)
def test_frames_equal_from_internal_transposed(
    axes: tuple[int, int, int], signs: tuple[int, int, int]
) -> None:
    # Axial, coronal and sagittal-like grids, flipped or not: every one needs its own flips and swaps.
    affine = np.zeros((4, 4))
    for column, (axis, sign) in enumerate(zip(axes, signs, strict=True)):
        affine[axis, column] = sign * (0.7 + column)
    affine[3, 3] = 1.0
    volume = Volume(data_ijk=np.zeros((5, 6, 7), dtype=np.int16), affine_ras=affine, kind="CT")
    internal, _ = volume.internal()
    labels = np.random.default_rng(0).integers(0, 3, internal.shape, dtype=np.uint8)
    expected = np.ascontiguousarray(volume.from_internal(labels).transpose(2, 1, 0))
    got = frames_from_internal(labels, volume=volume)
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)


def test_segments_last_is_the_stack_along_the_last_axis() -> None:
    labels = np.random.default_rng(1).integers(0, 3, (3, 4, 5), dtype=np.uint8)
    masks = [labels >= 1, labels == 2]
    got = _segments_last(masks)
    assert got.dtype == np.uint8 and got.shape == (3, 4, 5, 2)
    np.testing.assert_array_equal(got, np.stack(masks, axis=-1).astype(np.uint8))
