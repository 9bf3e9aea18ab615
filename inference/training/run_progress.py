"""The time left in a long training run, for its progress lines (Django-free: the GPU scripts
import it on machines without the project's services)."""

from __future__ import annotations

import math
import time


def time_left(done: int, total: int, started: float, now: float | None = None) -> str:
    """``"about 12 min left"`` at the average pace since ``started`` (``time.time()``); empty
    before the first unit of work and after the last."""
    elapsed = (time.time() if now is None else now) - started
    if done <= 0 or done >= total or elapsed <= 0:
        return ""
    seconds = elapsed / done * (total - done)
    if seconds < 90:
        return f"about {max(1, math.ceil(seconds))} s left"
    if seconds < 90 * 60:
        return f"about {math.ceil(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"
