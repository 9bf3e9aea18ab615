"""Test profile: the development defaults, faster hashing, deterministic settings."""

import copy
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cdss.env import ENV
from cdss.settings.base import CELERY_BEAT_SCHEDULE as _BASE_BEAT
from cdss.settings.base import CHANNEL_LAYERS as _BASE_CHANNEL_LAYERS
from cdss.settings.base import DATA_DIR, dicomweb_credentials_read
from cdss.settings.base import REDIS_URL as _BASE_REDIS_URL
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
# The browser tier signs every user in through /login/ from one loopback address to one
# long-lived Daphne; the throttle tests set their own limits.
LOGIN_THROTTLE_PER_IP = 600

# The suite never shares Redis state with a demo running on the same machine: its own Redis
# database (15 when REDIS_URL names the demo's default, database 0; CDSS_TEST_REDIS_URL picks
# another), its own Celery queue names (so neither side's worker takes the other's tasks, even
# on one database) and its own channel-layer prefix (pub/sub channels span Redis databases).
_redis = urlsplit(os.environ.get("CDSS_TEST_REDIS_URL") or _BASE_REDIS_URL)
if not os.environ.get("CDSS_TEST_REDIS_URL") and _redis.path in ("", "/", "/0"):
    _redis = _redis._replace(path="/15")
REDIS_URL = urlunsplit(_redis)
CELERY_BROKER_URL = REDIS_URL
_layers: dict[str, Any] = copy.deepcopy(_BASE_CHANNEL_LAYERS)
_layers["default"]["CONFIG"]["hosts"][0]["address"] = REDIS_URL
_layers["default"]["CONFIG"]["prefix"] = "cdss-test"
CHANNEL_LAYERS = _layers
CDSS_QUEUE_SUFFIX = "-test"
CDSS_QUEUES = ("default-test", "gpu-test")
CELERY_TASK_DEFAULT_QUEUE = "default-test"
_beat: dict[str, dict[str, Any]] = copy.deepcopy(_BASE_BEAT)
for _entry in _beat.values():
    _entry.setdefault("options", {})["queue"] = CELERY_TASK_DEFAULT_QUEUE
CELERY_BEAT_SCHEDULE = _beat

# The suite uses its own Orthanc instance (scripts/orthanc.py --name test, port 8043) so that
# tests never touch the demo PACS, unless DICOMWEB_URL says otherwise. Two suites on one machine
# each name their own (CDSS_TEST_ORTHANC_NAME and _PORT), whose credentials differ.
if not ENV.dicomweb_username and "DICOMWEB_URL" not in os.environ:
    DICOMWEB_URL = f"http://127.0.0.1:{os.environ.get('CDSS_TEST_ORTHANC_PORT', '8043')}/dicom-web"
    _orthanc_name = os.environ.get("CDSS_TEST_ORTHANC_NAME", "test")
    DICOMWEB_CREDENTIALS_FILE = DATA_DIR / f"orthanc-{_orthanc_name}" / "credentials.json"
    DICOMWEB_USERNAME, DICOMWEB_PASSWORD = dicomweb_credentials_read(DICOMWEB_CREDENTIALS_FILE)

# Close connections after each use: Channels runs ORM calls in worker threads, and a kept-alive
# connection there would block dropping the test database at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # noqa: F405
