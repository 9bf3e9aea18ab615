"""Login throttling per client address and per account: fixed one-minute windows in a shared cache.

The lock-out (``LOCKOUT_THRESHOLD`` failures) protects one account from guessing; these limits
also slow a client spraying many accounts and a flood against one account from many addresses.
The counters live in the ``throttle`` cache (Redis, shared by every web process). If that cache
is unreachable the check lets the attempt through: the lock-out still applies, and a Redis
outage must not stop every clinician from logging in.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import caches

from cdss.core.errors import Throttled

logger = logging.getLogger(__name__)

WINDOW_S = 60


def _key(kind: str, value: str, window: int) -> str:
    # Hashed: the key names no username or address in Redis.
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"login:{kind}:{digest}:{window}"


def login_throttle(*, client_ip: str | None, username: str) -> None:
    """Count one login attempt; raise Throttled (429, Retry-After) once a limit is passed."""
    now = time.time()
    window = int(now // WINDOW_S)
    retry_after = int(WINDOW_S - (now % WINDOW_S)) + 1
    limits = [("account", username.strip().lower(), settings.LOGIN_THROTTLE_PER_ACCOUNT)]
    if client_ip:
        limits.append(("ip", client_ip, settings.LOGIN_THROTTLE_PER_IP))
    cache = caches["throttle"]
    for kind, value, limit in limits:
        key = _key(kind, value, window)
        try:
            cache.add(key, 0, timeout=WINDOW_S * 2)
            count = cache.incr(key)
        except Exception as exc:  # the cache backend's own errors differ by backend
            logger.warning("login throttle unavailable: %s", type(exc).__name__)
            return
        if count > limit:
            raise Throttled(
                "Too many login attempts; try again later.", retry_after=retry_after,
                detail={"scope": kind, "retry_after_s": retry_after},
            )
