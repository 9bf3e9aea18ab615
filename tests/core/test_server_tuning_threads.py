"""Requests' synchronous code runs on kept threads (``cdss.core.server_tuning.RequestThreadReuse``):
one request at a time per thread, concurrent requests on their own threads, a thread still busy
when its request ends never handed to the next one."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from cdss.core.server_tuning import RequestThreadReuse, _RequestThread

SCOPE = {"type": "http"}


class _Recorder(RequestThreadReuse):
    """Stands for Django's handler: ``handle`` runs its sync part as Django's does (thread-sensitive)."""

    def __init__(self, work: Any) -> None:
        self.work = work

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        await self.work()


def _thread_recorder(seen: list[int]) -> Any:
    def record() -> None:
        seen.append(threading.get_ident())

    return sync_to_async(record)


def test_sequential_requests_reuse_one_thread_other_than_the_loop_s() -> None:
    seen: list[int] = []
    handler = _Recorder(_thread_recorder(seen))

    async def three() -> None:
        for _ in range(3):
            await handler(SCOPE, None, None)

    asyncio.run(three())
    assert len(set(seen)) == 1 and seen[0] != threading.get_ident()


def test_concurrent_requests_get_threads_of_their_own() -> None:
    """Both requests wait for each other: on one shared thread the barrier would break."""
    barrier = threading.Barrier(2, timeout=5)
    seen: list[int] = []

    def meet() -> None:
        seen.append(threading.get_ident())
        barrier.wait()

    handler = _Recorder(sync_to_async(meet))

    async def two() -> None:
        await asyncio.gather(handler(SCOPE, None, None), handler(SCOPE, None, None))

    asyncio.run(two())
    assert len(set(seen)) == 2


def test_a_thread_busy_after_its_request_is_not_reused() -> None:
    release = threading.Event()
    seen: list[int] = []
    left: list[asyncio.Future[None]] = []

    def block() -> None:
        seen.append(threading.get_ident())
        release.wait(5)

    async def leave_work_running() -> None:
        # A view still running after its request ended (the client went away).
        left.append(asyncio.ensure_future(sync_to_async(block)()))
        await asyncio.sleep(0.2)

    handler = _Recorder(leave_work_running)

    async def run() -> None:
        await handler(SCOPE, None, None)
        assert handler.__dict__["_request_threads_idle"] == []
        handler.work = _thread_recorder(seen)
        await handler(SCOPE, None, None)
        release.set()
        await left[0]

    asyncio.run(run())
    assert len(seen) == 2 and seen[0] != seen[1]


def test_request_thread_knows_when_its_work_is_done() -> None:
    executor = _RequestThread()
    gate = threading.Event()
    try:
        assert executor.idle()
        future = executor.submit(gate.wait, 5)
        assert not executor.idle()
        gate.set()
        future.result(timeout=5)
        assert executor.idle()
    finally:
        executor.shutdown()


def test_the_project_s_handler_serves_requests_on_a_kept_thread(db: Any) -> None:
    from django.core.signals import request_started

    from cdss.core.asgi_handler import CdssASGIHandler

    seen: list[int] = []

    def record(**_: Any) -> None:
        seen.append(threading.get_ident())

    handler = CdssASGIHandler()
    request_started.connect(record)
    try:
        async def get(path: str) -> int:
            sent: list[dict[str, Any]] = []
            body_sent = asyncio.Event()

            async def receive() -> dict[str, Any]:
                if not body_sent.is_set():
                    body_sent.set()
                    return {"type": "http.request", "body": b"", "more_body": False}
                await asyncio.sleep(3600)  # no disconnect
                return {"type": "http.disconnect"}

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"",
                     "headers": [], "client": ("127.0.0.1", 1), "server": ("testserver", 80), "scheme": "http",
                     "root_path": ""}
            await handler(scope, receive, send)
            return int(sent[0]["status"])

        async def twice() -> list[int]:
            return [await get("/healthz"), await get("/healthz")]

        assert asyncio.run(twice()) == [200, 200]
    finally:
        request_started.disconnect(record)
    assert len(seen) == 2 and seen[0] == seen[1] != threading.get_ident()


def test_other_scopes_are_refused_as_django_refuses_them() -> None:
    from cdss.core.asgi_handler import CdssASGIHandler

    with pytest.raises(ValueError):
        asyncio.run(CdssASGIHandler()({"type": "websocket"}, None, None))
