"""The proxy streams: memory stays flat while a ~100 MB series passes through it."""

from __future__ import annotations

import tracemalloc

import pytest

from tests.conftest import World
from tests.imaging.conftest import Orthanc, proxy_fetch, study_store

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

MB = 1024 * 1024


def test_large_series_streams_with_flat_memory(world: World, orthanc: Orthanc) -> None:
    # 4 multi-frame instances of 50 frames x 512 x 512 x 16 bit: 100 MiB of pixels.
    stored = study_store(orthanc, world.patient, instances=4, rows=512, columns=512, frames=50)
    pixels = sum(len(ds.PixelData) for ds in stored.datasets)
    assert pixels == 100 * MB
    stored.datasets.clear()  # the test's own copy is not what is measured
    received = 0
    chunks = 0
    largest = 0

    def count(chunk: bytes) -> None:
        nonlocal received, chunks, largest
        received += len(chunk)
        chunks += 1
        largest = max(largest, len(chunk))

    # Warm up (imports, the PACS connection pool) so that only the streaming is measured.
    assert proxy_fetch(world.clinician, f"/dicomweb/studies/{stored.study_uid}/series/{stored.series_uid}/metadata").status == 200
    tracemalloc.start()
    try:
        answer = proxy_fetch(
            world.clinician, f"/dicomweb/studies/{stored.study_uid}/series/{stored.series_uid}",
            headers={"Accept": 'multipart/related; type="application/dicom"'}, on_chunk=count,
        )
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status == 200
    assert received > pixels
    assert chunks > 100  # delivered piece by piece, not as one body
    # Everything the proxy and Django allocated at once stays below 8 MiB, under 8 % of what
    # passed through: the series never sits in memory.
    print(f"streamed {received / MB:.0f} MiB in {chunks} chunks; peak traced memory {peak / MB:.2f} MiB")
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MiB for {received / MB:.0f} MiB streamed (largest chunk {largest})"
