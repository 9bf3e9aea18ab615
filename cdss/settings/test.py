"""Test profile: the development defaults, faster hashing, deterministic settings."""

import os

from cdss.env import ENV
from cdss.settings.base import DATA_DIR, _dicomweb_credentials
from cdss.settings.dev import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; tests only
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
ANALYSIS_NOOP_MODEL_ENABLED = True
# Per-process login counters, emptied before each test (tests/conftest.py).
CACHES = {
    **CACHES,  # noqa: F405
    "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cdss-test-throttle"},
}

# The suite uses its own Orthanc instance (scripts/orthanc.py --name test, port 8043) so that
# tests never touch the demo PACS, unless DICOMWEB_URL says otherwise.
if not ENV.dicomweb_username and "DICOMWEB_URL" not in os.environ:
    DICOMWEB_URL = f"http://127.0.0.1:{os.environ.get('CDSS_TEST_ORTHANC_PORT', '8043')}/dicom-web"
    DICOMWEB_CREDENTIALS_FILE = DATA_DIR / "orthanc-test" / "credentials.json"
    DICOMWEB_USERNAME, DICOMWEB_PASSWORD = _dicomweb_credentials(DICOMWEB_CREDENTIALS_FILE)

# Close connections after each use: Channels runs ORM calls in worker threads, and a kept-alive
# connection there would block dropping the test database at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # noqa: F405
