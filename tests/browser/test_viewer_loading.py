"""How the study page loads its first image, in real Chromium against the proxy and test Orthanc:
the series list and the series metadata are each read once (started by the page before the
viewer's code, which takes the answers), thumbnails are read once, after the first image, and
a link to a series opens that series."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.phantom import PhantomStudy
from tests.browser.test_viewer import _wait_rendered, ct_world  # noqa: F401 (the fixture)
from tests.conftest import World

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _dicomweb_reads(page: Any) -> Counter[str]:
    """Requests to the proxy, by path (query left off)."""
    reads: Counter[str] = Counter()
    page.on("request", lambda r: reads.update([r.url.split("?")[0].split("/dicomweb", 1)[1]]) if "/dicomweb/" in r.url else None)
    return reads


def test_first_reads_are_made_once_and_thumbnails_follow_the_image(open_session: Any, ct_world: tuple[World, PhantomStudy]) -> None:  # noqa: F811
    world, phantom = ct_world
    session = open_session(world.clinician)
    page = session.page
    reads = _dicomweb_reads(page)
    # Opened from its address, as from a link or a reload: main.ts starts the reads.
    session.goto(f"/studies/{phantom.study_uid}?patient={world.patient.id}")
    expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
    _wait_rendered(page)
    assert page.evaluate("() => performance.getEntriesByName('cdss:first-image', 'mark').length") == 1
    tile = page.locator(f".series-button[data-series='{phantom.series_uid}'] .thumb")
    expect(tile).to_have_attribute("data-thumb", "loaded")
    # The thumbnail was asked for after the first image was drawn.
    first_image = page.evaluate("() => performance.getEntriesByName('cdss:first-image', 'mark')[0].startTime")
    thumb_start = page.evaluate("() => performance.getEntriesByType('resource').find((r) => r.name.includes('/thumbnail'))?.startTime ?? null")
    assert thumb_start is not None and thumb_start >= first_image, (thumb_start, first_image)

    study = f"/studies/{phantom.study_uid}"
    series = f"{study}/series/{phantom.series_uid}"
    assert reads[f"{study}/series"] == 1, reads
    assert reads[f"{series}/metadata"] == 1, reads
    assert reads[f"{series}/thumbnail"] == 1, reads
    frames = sum(n for path, n in reads.items() if re.search(r"/frames/\d+$", path))
    assert frames == len(phantom.datasets), reads

    # Inside the app (no page load): the study page starts the reads itself, once each.
    reads.clear()
    page.locator("a", has_text="←").first.click()
    page.wait_for_url(re.compile(rf"/patients/{world.patient.id}"))
    page.locator(f".series-tile[data-series='{phantom.series_uid}']").click()
    page.wait_for_url(re.compile(re.escape(study)))
    expect(page.locator(".viewer")).to_have_attribute("data-state", "ready", timeout=60_000)
    _wait_rendered(page)
    assert reads[f"{study}/series"] == 1, reads
    assert reads[f"{series}/metadata"] == 1, reads
