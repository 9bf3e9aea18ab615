"""The project's ASGI application with ``bench/load_urls.py`` as its URLconf (``bench_load.py``)."""

from __future__ import annotations

from django.conf import settings

from cdss.asgi import application

settings.ROOT_URLCONF = "load_urls"

__all__ = ["application"]
