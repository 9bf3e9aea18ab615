"""Development and demo profile: the embedded defaults (SQLite, local Redis and Orthanc)."""

from cdss.env import ENV
from cdss.settings.base import *  # noqa: F403

DEBUG = ENV.debug if ENV.secret_key else True
# A fixed development key only when none is given; production has no default (cdss.E001).
SECRET_KEY = ENV.secret_key or "dev-only-insecure-key-never-used-in-production-7c1f0e"
ALLOWED_HOSTS = ENV.allowed_hosts or ["localhost", "127.0.0.1", "[::1]", "testserver"]
