"""Socket options Daphne leaves unset, and threads Django's ASGI handler need not start.

Daphne (Twisted) never sets TCP_NODELAY. A response it writes in pieces (headers, then body)
then meets Nagle's algorithm on the server and delayed acknowledgements on the client: the
second piece waits for an ACK that the client holds back for up to 40 ms. That added about
40 ms to most API answers and WebSocket events. Installed when ``cdss.asgi`` is imported,
which Daphne does before it accepts connections; other ASGI servers (uvicorn) set the option
themselves and are unaffected.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext

logger = logging.getLogger(__name__)
_INSTALLED_FLAG = "_cdss_tcp_nodelay"


def daphne_tcp_nodelay_install() -> bool:
    """Make every connection Daphne accepts send small writes at once. Idempotent."""
    try:  # imported here: cdss.asgi loads this module under any ASGI server
        from daphne.http_protocol import HTTPFactory
    except ImportError:  # not running under Daphne's code base at all
        return False
    if getattr(HTTPFactory, _INSTALLED_FLAG, False):
        return True
    build = HTTPFactory.buildProtocol

    def build_protocol(self: Any, addr: Any) -> Any:
        protocol = build(self, addr)
        # Wrap makeConnection, the call that hands over the transport: Twisted's HTTP channel
        # is itself wrapped in a protocol that forwards to it, so connectionMade of the
        # object returned here is never the one called.
        make = protocol.makeConnection

        def make_connection(transport: Any) -> None:
            if hasattr(transport, "setTcpNoDelay"):
                transport.setTcpNoDelay(True)
            make(transport)

        protocol.makeConnection = make_connection
        return protocol

    HTTPFactory.buildProtocol = build_protocol
    setattr(HTTPFactory, _INSTALLED_FLAG, True)
    return True


def daphne_form_parsing_disable() -> bool:
    """Twisted parses a multipart/form-data POST body itself (into ``request.args``, which
    Daphne never reads) before handing the request on: an upload was read into memory whole
    once more, and a body it could not parse was answered with a bare 400 (no body, no
    Content-Type, no request id) that Django never saw. Django parses the body itself."""
    try:  # imported here: cdss.asgi loads this module under any ASGI server
        from daphne.http_protocol import WebRequest
    except ImportError:  # another ASGI server
        return False
    if getattr(WebRequest, "_cdss_no_form_parsing", False):
        return True
    original = WebRequest.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        # Twisted's Request sets this per instance (its parsePOSTFormSubmission argument).
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__
    WebRequest._cdss_no_form_parsing = True
    return True


class _RequestThread(ThreadPoolExecutor):
    """One thread for one request's synchronous code at a time, reused by later requests;
    knows whether work it was given is still running."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="cdss-request")
        self._lock = threading.Lock()
        self._pending = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future: Future[Any]) -> None:
        with self._lock:
            self._pending -= 1

    def idle(self) -> bool:
        with self._lock:
            return self._pending == 0


class RequestThreadReuse:
    """For Django's ASGIHandler: each HTTP request's synchronous code (middleware, view, the
    request signals) runs on one thread of its own, as Django's handler arranges, but on a
    thread kept from an earlier request instead of a new one.

    Django enters a fresh ``ThreadSensitiveContext`` per request; asgiref then starts a new
    thread for it and, when the request ends, another thread to join that one: two thread
    starts per API call. A kept thread serves one request at a time (concurrent requests get
    their own), and a thread still busy when its request ends (a client gone while the view
    runs) is let go, not reused. Up to ``request_threads_idle_max`` idle threads are kept.
    """

    request_threads_idle_max = 32

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)  # type: ignore[misc]  # Django refuses it
            return
        idle: list[_RequestThread] = self.__dict__.setdefault("_request_threads_idle", [])
        executor = idle.pop() if idle else _RequestThread()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)  # type: ignore[attr-defined]
        finally:
            if executor.idle() and len(idle) < self.request_threads_idle_max:
                idle.append(executor)
            else:
                executor.shutdown(wait=False)
