"""Built front-end assets are named after their content and may be cached for good; anything
else under /static/ is asked for again."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from whitenoise.middleware import WhiteNoiseMiddleware


@pytest.mark.parametrize(
    ("url", "immutable"),
    [
        ("/static/assets/viewer-BfQIsZrp.js", True),
        ("/static/assets/index-DQS7YleG.js", True),
        ("/static/assets/chart-Saz_VHki.css", True),
        ("/static/assets/charlswasm_decode-CEN7ucFR.wasm", True),
        ("/static/index.html", False),
        ("/static/assets/logo.svg", False),
        ("/static/favicon.ico", False),
    ],
)
def test_only_content_named_assets_are_immutable(url: str, immutable: bool) -> None:
    assert bool(re.match(settings.WHITENOISE_IMMUTABLE_FILE_TEST, url)) is immutable


def test_whitenoise_takes_the_rule() -> None:
    middleware = WhiteNoiseMiddleware(get_response=lambda request: None)
    assert middleware.immutable_file_test("", "/static/assets/viewer-BfQIsZrp.js")
    assert not middleware.immutable_file_test("", "/static/index.html")
