"""The web process stays light: its entry point loads no model runtime or optional heavy library.

Torch (and the runtime built on it) belongs to the GPU worker; reportlab is loaded by the first
PDF, nibabel by the first DICOM upload to the chest X-ray intake, scikit-learn only by offline
training. A module-level import of any of them in code the web process loads fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOT_AT_START = ("torch", "monai", "sklearn", "reportlab", "nibabel", "inference.runtime.cxr", "inference.training")


def test_asgi_application_and_urls_load_no_heavy_library() -> None:
    code = (
        "import os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'cdss.settings.test';"
        "import cdss.asgi, cdss.celery, inference.tasks;"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        f"loaded = [m for m in {NOT_AT_START!r} if m in sys.modules];"
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)
