"""The DICOMweb proxy's memory cache of pixel answers (frames, bulk data, rendered images).

A viewer scrolls back and forth through a series, and colleagues open the same study: the same
frame is asked for again and again. DICOM makes this safe to keep: a SOP instance is immutable
(new content gets a new SOPInstanceUID), so the answer for one URL does not change while the
instance exists. Orthanc keeps its own storage cache for the same reason; this one also spares
the proxy the relay from the PACS, which costs it more than the PACS's own work per frame.

Rules, all enforced by the caller (``asgi.DicomwebFastLane``) or here:
- an entry is served only after the request's own access check passed, and every hit is
  audited like any other read: the cache saves the PACS round trip, never a check or an entry;
- keys are the whole request as the PACS answer depends on it (path with every UID, Accept,
  query string, and the scheme and host the answer's URLs were rewritten to);
- only whole answers of at most ``entry_max_bytes`` are kept, only from a 200 of the PACS;
- entries expire after DICOMWEB_PROXY_FRAME_CACHE_S seconds (bounding how long an instance
  deleted from the PACS behind our back is still shown), and the least recently used go
  first once DICOMWEB_PROXY_FRAME_CACHE_MB is reached; 0 for either turns the cache off;
- memory only, per process: nothing is written to disk.

Only the event loop's thread touches it (as ``proxy.ACCESS_CACHE``), so it needs no lock.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings

CacheKey = tuple[str, str, bytes, str, str]  # path, Accept, query string, scheme, host


@dataclass(frozen=True)
class CachedAnswer:
    content_type: str
    body: bytes


class FrameCache:
    def __init__(self) -> None:
        self._entries: OrderedDict[CacheKey, tuple[float, CachedAnswer]] = OrderedDict()
        self.size_bytes = 0

    @staticmethod
    def _limits() -> tuple[float, int]:
        """(time to live in seconds, capacity in bytes), read from settings on each use so that a
        change (or a test's override) takes effect at once."""
        return float(settings.DICOMWEB_PROXY_FRAME_CACHE_S), int(settings.DICOMWEB_PROXY_FRAME_CACHE_MB * 1024**2)

    @property
    def enabled(self) -> bool:
        ttl, capacity = self._limits()
        return ttl > 0 and capacity > 0

    def get(self, key: CacheKey) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, answer = entry
        if expires < time.monotonic() or not self.enabled:
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return answer

    def put(self, key: CacheKey, answer: CachedAnswer, *, entry_max_bytes: int) -> bool:
        """Keep an answer; False (and nothing kept) when the cache is off or the answer too big."""
        ttl, capacity = self._limits()
        size = len(answer.body)
        if ttl <= 0 or capacity <= 0 or size > min(entry_max_bytes, capacity):
            return False
        self._remove(key)
        self._entries[key] = (time.monotonic() + ttl, answer)
        self.size_bytes += size
        while self.size_bytes > capacity:
            self._remove(next(iter(self._entries)))
        return True

    def _remove(self, key: CacheKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size_bytes -= len(entry[1].body)

    def clear(self) -> None:
        self._entries.clear()
        self.size_bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


FRAME_CACHE = FrameCache()

# Routes whose answer is pixel data (or an image made from it) of one immutable instance.
CACHED_ROUTES = frozenset({"frames", "frames-rendered", "bulk", "instance-rendered"})
