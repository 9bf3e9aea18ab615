"""A small HTTP/1.1 client on asyncio streams, for the proxy's GETs to the PACS.

Why not httpx: on the relay benchmark it moved about a third of the frames this client moves
(figures in docs/ARCHITECTURE.md): its pure-Python parser copies the body several times and
awaits through anyio per 64 KiB read. Here the body is read straight from the socket (``StreamReader.read``) by Content-Length or
chunked framing, and connections are kept alive in a small per-event-loop pool. A small answer
with a Content-Length (a frame, metadata) can be read whole in one step (``read_body``), which
the proxy passes on as one message instead of many chunks: on a 2-core machine the per-chunk
work in the ASGI server costs more than the bytes. Timeouts use ``asyncio.timeout`` rather
than ``asyncio.wait_for``, which wraps every read in a task of its own.

Scope, on purpose: GET and HEAD only, no redirects, no proxies, no content decoding (the proxy
asks for ``identity``), HTTP/1.1 (``http`` or ``https``). The server is our own PACS, but its
answers are still parsed defensively: bounded status line and headers, bounded chunk sizes,
timeouts on connect and on every read.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_HEAD_LIMIT = 64 * 1024
# The stream's buffer: large reads mean fewer, larger chunks on to the client (the status line
# and headers are still held to _HEAD_LIMIT).
_BUFFER = 1024 * 1024
_MAX_HEADERS = 100
_MAX_CHUNK_LINE = 1024


class UpstreamError(Exception):
    """The PACS could not be reached, or answered something that is not HTTP/1.1."""


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def close(self) -> None:
        self.writer.close()


@dataclass
class UpstreamResponse:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    _connection: _Connection | None
    _pool: UpstreamPool
    _read_timeout: float
    _remaining: int | None = None  # bytes left by Content-Length; None: chunked or until close
    _chunked: bool = False
    _reusable: bool = False
    _keep_alive: bool = True
    _done: bool = False
    _chunk_left: int = 0
    closed: bool = field(default=False)
    length: int | None = None  # the Content-Length the PACS sent, if any

    @property
    def content_length(self) -> int | None:
        """The body's length by Content-Length before anything was read; None if not known."""
        return None if self._chunked else self.length

    async def read_body(self) -> bytes:
        """The whole body of an answer with a Content-Length, in one piece (the caller bounds
        the length); then the connection is released."""
        try:
            if self._chunked or self._remaining is None:
                raise UpstreamError("the answer has no Content-Length")
            connection = self._connection
            data = b""
            if self._remaining and connection is not None:
                data = await self._timed(connection.reader.readexactly(self._remaining))
            self._remaining = 0
            self._done = True
            self._reusable = True
            return data
        finally:
            await self.aclose()

    async def iter_raw(self, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        """The body as it arrives, at most ``chunk_size`` bytes at a time; then the connection is released."""
        try:
            while not self._done:
                chunk = await self._read(chunk_size)
                if chunk:
                    yield chunk
        finally:
            await self.aclose()

    async def _read(self, size: int) -> bytes:
        connection = self._connection
        if connection is None:
            self._done = True
            return b""
        reader = connection.reader
        if self._chunked:
            if self._chunk_left == 0:
                line = await self._line(reader)
                try:
                    self._chunk_left = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError as exc:
                    raise UpstreamError("bad chunk size from the PACS") from exc
                if self._chunk_left < 0:
                    raise UpstreamError("bad chunk size from the PACS")
                if self._chunk_left == 0:
                    while await self._line(reader):  # trailers, then the empty line
                        pass
                    self._done = True
                    self._reusable = True
                    return b""
            data = await self._timed(reader.read(min(size, self._chunk_left)))
            if not data:
                raise UpstreamError("the PACS closed the connection inside a chunk")
            self._chunk_left -= len(data)
            if self._chunk_left == 0 and await self._timed(reader.readexactly(2)) != b"\r\n":
                raise UpstreamError("bad chunk framing from the PACS")
            return data
        if self._remaining is None:  # no length: the body ends when the connection does
            data = await self._timed(reader.read(size))
            if not data:
                self._done = True
            return data
        if self._remaining == 0:
            self._done = True
            self._reusable = True
            return b""
        data = await self._timed(reader.read(min(size, self._remaining)))
        if not data:
            raise UpstreamError("the PACS closed the connection before the end of the body")
        self._remaining -= len(data)
        if self._remaining == 0:
            self._done = True
            self._reusable = True
        return data

    async def _line(self, reader: asyncio.StreamReader) -> bytes:
        line = await self._timed(reader.readline())
        if not line.endswith(b"\n") or len(line) > _MAX_CHUNK_LINE:
            raise UpstreamError("bad chunk framing from the PACS")
        return line.strip()

    async def _timed(self, awaitable: Awaitable[bytes]) -> bytes:
        try:
            async with asyncio.timeout(self._read_timeout):
                return await awaitable
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise UpstreamError(f"reading from the PACS failed ({type(exc).__name__})") from exc

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._done and self._reusable and self._keep_alive:
            self._pool.release(connection)
        else:
            connection.close()


@functools.lru_cache(maxsize=8)
def _basic_authorization(username: str, password: str) -> str:
    return "Authorization: Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class UpstreamPool:
    """Keep-alive connections to one PACS origin, for one event loop."""

    def __init__(self, base_url: str, *, max_idle: int, idle_s: float, connect_timeout: float, read_timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UpstreamError("the PACS URL must be http(s)://host[:port]/path")
        self.base_url = base_url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.netloc = parts.netloc.rsplit("@", 1)[-1]
        self.path_prefix = parts.path.rstrip("/")
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.max_idle = max_idle
        self.idle_s = idle_s
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.idle: list[_Connection] = []

    def release(self, connection: _Connection) -> None:
        if len(self.idle) >= self.max_idle or connection.writer.is_closing():
            connection.close()
            return
        connection.idle_since = time.monotonic()
        self.idle.append(connection)

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self.ssl, limit=_BUFFER), self.connect_timeout
            )
        except (TimeoutError, OSError) as exc:
            raise UpstreamError(f"cannot connect to the PACS ({type(exc).__name__})") from exc
        return _Connection(reader, writer)

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self.idle:
            connection = self.idle.pop()
            if now - connection.idle_since < self.idle_s and not connection.writer.is_closing() and not connection.reader.at_eof():
                return connection
            connection.close()
        return None

    async def get(self, path_and_query: str, *, headers: dict[str, str], auth: tuple[str, str] | None, method: str = "GET") -> UpstreamResponse:
        """Send one request; an idle connection the server closed meanwhile is retried once, fresh."""
        lines = [f"{method} {self.path_prefix}/{path_and_query.lstrip('/')} HTTP/1.1", f"Host: {self.netloc}"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise UpstreamError("header values may not contain line breaks")
            lines.append(f"{name}: {value}")
        if auth is not None:
            lines.append(_basic_authorization(*auth))
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        for attempt in (0, 1):
            reused = self._take_idle() if attempt == 0 else None
            connection = reused or await self._connect()
            try:
                connection.writer.write(request)
                await connection.writer.drain()
                async with asyncio.timeout(self.read_timeout):
                    head = await connection.reader.readuntil(b"\r\n\r\n")
                if len(head) > _HEAD_LIMIT:
                    raise asyncio.LimitOverrunError("status line and headers too long", len(head))
            except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                connection.close()
                if reused is not None and isinstance(exc, (OSError, asyncio.IncompleteReadError)):
                    continue  # a kept-alive connection the PACS had closed: try once on a new one
                raise UpstreamError(f"no answer from the PACS ({type(exc).__name__})") from exc
            return self._response(head, connection, method)
        raise UpstreamError("no answer from the PACS")

    def _response(self, head: bytes, connection: _Connection, method: str) -> UpstreamResponse:
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/1.") or not status_line[1].isdigit():
            connection.close()
            raise UpstreamError("the PACS did not answer HTTP/1.1")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or len(headers) >= _MAX_HEADERS:
                connection.close()
                raise UpstreamError("malformed headers from the PACS")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        status = int(status_line[1])
        response = UpstreamResponse(status=status, headers=headers, _connection=connection, _pool=self, _read_timeout=self.read_timeout)
        keep_alive = status_line[0] == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            response._remaining = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            response._chunked = True
        elif "content-length" in headers:
            try:
                response._remaining = int(headers["content-length"])
            except ValueError:
                connection.close()
                raise UpstreamError("bad Content-Length from the PACS") from None
            if response._remaining < 0:
                connection.close()
                raise UpstreamError("bad Content-Length from the PACS")
            response.length = response._remaining
        else:
            keep_alive = False  # the body runs until the PACS closes the connection
        response._keep_alive = keep_alive
        if response._remaining == 0:
            response._done = True
            response._reusable = True
        return response

    async def aclose(self) -> None:
        while self.idle:
            self.idle.pop().close()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, UpstreamPool]] = weakref.WeakKeyDictionary()


def upstream_pool(base_url: str, **options: float | int) -> UpstreamPool:
    """This event loop's pool for ``base_url`` (settings may point elsewhere in tests)."""
    loop = asyncio.get_running_loop()
    pools = _pools.setdefault(loop, {})
    pool = pools.get(base_url)
    if pool is None:
        pool = pools[base_url] = UpstreamPool(base_url, **options)  # type: ignore[arg-type]
    return pool


async def upstream_pools_close() -> None:
    for pool in _pools.pop(asyncio.get_running_loop(), {}).values():
        await pool.aclose()
