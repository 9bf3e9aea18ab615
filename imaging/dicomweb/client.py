"""The one place that builds a DICOMweb client for the PACS, from settings.

Everything in Django that talks to the PACS (sync, upload, import, demo loading, the analysis
pipeline) goes through ``dicomweb_client_build`` so that any DICOMweb server (Orthanc, dcm4chee,
a cloud healthcare API) can replace ours by changing DICOMWEB_URL and its credentials. The
streaming proxy uses ``dicomweb_auth`` with its own async HTTP client, for the same server.
"""

from __future__ import annotations

import requests
from dicomweb_client.api import DICOMwebClient
from django.conf import settings


def dicomweb_auth() -> tuple[str, str] | None:
    if not settings.DICOMWEB_USERNAME:
        return None
    return settings.DICOMWEB_USERNAME, settings.DICOMWEB_PASSWORD or ""


def dicomweb_base_url() -> str:
    return str(settings.DICOMWEB_URL).rstrip("/")


def dicomweb_client_build(*, timeout_s: float | None = None) -> DICOMwebClient:
    session = requests.Session()
    session.auth = dicomweb_auth()
    # Never let a proxy from the environment see the PACS credentials or patient data.
    session.trust_env = False
    client = DICOMwebClient(
        url=dicomweb_base_url(),
        session=session,
        timeout=timeout_s if timeout_s is not None else settings.DICOMWEB_TIMEOUT_S,
    )
    # dicomweb-client retries every failure 5 times with back-off (about 30 s when the PACS is
    # down); a person is usually waiting, so retry briefly and let the caller report a 503.
    client.set_http_retry_params(
        retry=settings.DICOMWEB_MAX_ATTEMPTS > 1,
        max_attempts=settings.DICOMWEB_MAX_ATTEMPTS,
        wait_exponential_multiplier=settings.DICOMWEB_RETRY_WAIT_MS,
    )
    return client
