"""WebSocket paths with impossible ids, and the Origin check on scheme, host and port."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from cdss.asgi import application
from cdss.audit.models import AuditEvent, AuditOutcome
from cdss.core.websocket import websocket_origin_allowed
from tests.conftest import world_build
from tests.core.test_websocket import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

HUGE = "99999999999999999999"


@pytest.fixture
def tworld(transactional_db: Any) -> Any:
    return world_build()


async def _connect(path: str, cookie: bytes, origin: bytes = b"http://localhost", host: bytes = b"localhost") -> tuple[bool, Any]:
    communicator = WebsocketCommunicator(application, path, headers=[(b"origin", origin), (b"host", host), (b"cookie", cookie)])
    connected, code = await communicator.connect(timeout=5)
    if connected:
        await communicator.disconnect()
    return connected, code


@pytest.mark.parametrize("path", [f"/ws/patients/{HUGE}/", f"/ws/analyses/{HUGE}/"])
async def test_huge_ids_in_socket_paths_are_refused_and_audited(tworld: Any, path: str) -> None:
    cookie = await sync_to_async(session_cookie)(tworld.clinician)
    connected, code = await _connect(path, cookie)
    assert not connected and code == 4404
    denied = await sync_to_async(
        AuditEvent.objects.filter(object_id=HUGE, outcome=AuditOutcome.DENIED, actor_id=tworld.clinician.pk).count
    )()
    assert denied == 1


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        ("http://localhost", "localhost", "ws", True),
        ("http://localhost:8000", "localhost:8000", "ws", True),
        ("https://localhost", "localhost", "wss", True),
        ("http://localhost:6666", "localhost:8000", "ws", False),  # another port on the same host
        ("http://localhost", "localhost", "wss", False),  # a plain-HTTP page on an HTTPS site
        ("https://localhost:8000", "localhost:8000", "ws", False),
        ("http://evil.example", "localhost", "ws", False),
        ("http://evil.example", "evil.example", "ws", False),  # Host not allowed
        ("null", "localhost", "ws", False),
        ("http://localhost/path", "localhost", "ws", False),
    ],
)
def test_origin_check_compares_scheme_host_and_port(origin: str, host: str, scheme: str, allowed: bool) -> None:
    scope = {"type": "websocket", "scheme": scheme, "headers": [(b"origin", origin.encode()), (b"host", host.encode())]}
    assert websocket_origin_allowed(scope) is allowed


def test_trusted_origins_are_allowed_exactly(settings: Any) -> None:
    settings.CSRF_TRUSTED_ORIGINS = ["https://portal.example.org"]
    for origin, allowed in ((b"https://portal.example.org", True), (b"https://portal.example.org:444", False)):
        scope = {"type": "websocket", "scheme": "ws", "headers": [(b"origin", origin), (b"host", b"localhost")]}
        assert websocket_origin_allowed(scope) is allowed


async def test_other_port_is_refused_end_to_end(tworld: Any) -> None:
    cookie = await sync_to_async(session_cookie)(tworld.clinician)
    connected, _ = await _connect(f"/ws/patients/{tworld.patient.pk}/", cookie, origin=b"http://localhost:6666")
    assert not connected
    connected, _ = await _connect(f"/ws/patients/{tworld.patient.pk}/", cookie)
    assert connected
    # One entry for the subscription; the refused Origin never reached the application.
    entries = await sync_to_async(
        lambda: list(AuditEvent.objects.filter(actor_id=tworld.clinician.pk, object_type="patient_events").values_list("action", "outcome"))
    )()
    assert entries == [("subscribe", "success")]
