"""Benchmark profile: the development defaults with production's request path.

DEBUG off (no query log), persistent database connections as in production (``base``: 60 s,
with health checks), and the no-op model so that dispatch can be timed without a network.
The test profile closes every connection after use, which measures connecting, not dispatch.
With DEBUG off a SECRET_KEY must be set (cdss.E001); the benchmarks set a throwaway one.
"""

from cdss.settings.dev import *  # noqa: F403

DEBUG = False
ANALYSIS_NOOP_MODEL_ENABLED = True
