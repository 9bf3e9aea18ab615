"""A synthetic chest slab for the lung nodule tests (generated, not a patient).

Body ellipse of soft tissue in air, two lungs at -850 HU, a solid spherical nodule in the right
lung, vessel-like cylinders (one in-plane, one crossing every slice) in the left lung, noise.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

SPACING = (2.0, 1.0, 1.0)  # dz, dy, dx mm
SHAPE = (20, 128, 128)
NODULE_CENTRE_ZYX = (10, 64, 40)  # voxels; low x is the patient's right
NODULE_RADIUS_MM = 5.0


def chest_hu(*, seed: int = 0, nodule_hu: float = 40.0, ground_glass: bool = False) -> NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    nz, ny, nx = SHAPE
    dz, dy, dx = SPACING
    z, y, x = np.meshgrid(np.arange(nz) * dz, np.arange(ny) * dy, np.arange(nx) * dx, indexing="ij")
    hu = np.full(SHAPE, -1000.0)
    body = ((y - 64) / 50) ** 2 + ((x - 64) / 60) ** 2 <= 1
    hu[body] = 30.0
    right = ((y - 62) / 38) ** 2 + ((x - 38) / 22) ** 2 <= 1
    left = ((y - 62) / 38) ** 2 + ((x - 90) / 22) ** 2 <= 1
    hu[right | left] = -850.0
    cz, cy, cx = (c * s for c, s in zip(NODULE_CENTRE_ZYX, SPACING, strict=True))
    nodule = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= NODULE_RADIUS_MM**2
    hu[nodule] = -550.0 if ground_glass else nodule_hu
    # an in-plane vessel running obliquely through the left lung on slices 6-8
    d = np.abs((y - 40) - 0.8 * (x - 80)) / np.sqrt(1 + 0.8**2)
    hu[(d <= 1.2) & (np.abs(z - 14.0) <= 1.5) & left] = 40.0
    # a vessel crossing every slice
    hu[((y - 80) ** 2 + (x - 95) ** 2 <= 1.5**2) & left] = 40.0
    hu += rng.normal(0, 12, SHAPE)
    return np.rint(hu).astype(np.int16)
