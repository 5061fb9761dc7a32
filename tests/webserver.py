"""A programmable HTTP/1.1 server on loopback addresses, for testing how feedpipe behaves against the real web.

Each path is given a behaviour: a plain response (optionally delayed, gzipped, with validators that earn a 304),
a redirect, a throttle with Retry-After, a truncated body, a huge streamed body, a gzip bomb, a slow drip, or a
handler callable. Every request is recorded, and requests in flight are counted overall and per `Host`, so tests
can assert that a client never had more than N requests open against one host.

The same port is bound on several loopback addresses (127.0.0.1, 127.0.0.2, ...: Linux routes all of 127.0.0.0/8
to the loopback interface), so a test can reach "different hosts" for real. Nothing is bound on a public interface.
"""
from __future__ import annotations

import email.utils
import errno
import functools
import gzip
import ipaddress
import mimetypes
import struct
import threading
import time
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator, Protocol

MIB = 1 << 20
DEFAULT_ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
BUILT_IN_MIME_TYPES = mimetypes.MimeTypes()  # Python's own table, not the machine's /etc/mime.types


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: Message
    host: str
    address: str
    received_at: float
    body: bytes

    @property
    def path_without_query(self) -> str:
        return self.path.split("?", 1)[0]


@dataclass
class Response:
    """What a handler callable returns; Content-Length is added for it."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class _Behaviour(Protocol):
    def serve(self, exchange: "_Exchange") -> None: ...


class _Exchange:
    """One request being answered: the recorded request plus ways to write the answer."""

    def __init__(self, handler: "_RequestHandler", request: RecordedRequest, stopping: threading.Event):
        self.handler = handler
        self.request = request
        self.stopping = stopping

    def send_head(self, status: int, headers: dict[str, str]) -> None:
        self.handler.send_response(status)
        for name, value in headers.items():
            self.handler.send_header(name, value)
        self.handler.end_headers()

    def write(self, data: bytes) -> None:
        if self.request.method != "HEAD":
            self.handler.wfile.write(data)
            self.handler.wfile.flush()

    def send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        """A complete response with its exact Content-Length (none on 304, which has no body)."""
        if status != 304:
            headers = {**headers, "Content-Length": str(len(body))}
        self.send_head(status, headers)
        if status != 304:
            self.write(body)

    def pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the server stops."""
        self.stopping.wait(seconds)

    def close_after_response(self) -> None:
        self.handler.close_connection = True


@dataclass
class _Static:
    body: bytes
    status: int
    headers: dict[str, str]
    delay: float
    gzip: bool
    etag: str | None
    last_modified: str | None

    def serve(self, exchange: _Exchange) -> None:
        exchange.pause(self.delay)
        validators = {}
        if self.etag is not None:
            validators["ETag"] = self.etag
        if self.last_modified is not None:
            validators["Last-Modified"] = self.last_modified
        if self._not_modified(exchange.request.headers):
            exchange.send(304, {**self.headers, **validators}, b"")
            return
        headers = {**self.headers, **validators}
        body = self.body
        if self.gzip:
            headers["Vary"] = "Accept-Encoding"
            if _accepts_gzip(exchange.request.headers):
                headers["Content-Encoding"] = "gzip"
                body = gzip.compress(body)
        exchange.send(self.status, headers, body)

    def _not_modified(self, request_headers: Message) -> bool:
        """RFC 9110 13.2.2: If-None-Match decides when both are sent; If-Modified-Since only without it."""
        if_none_match = request_headers.get("If-None-Match")
        if if_none_match is not None:
            return self.etag is not None and _etag_matches(if_none_match, self.etag)
        if_modified_since = request_headers.get("If-Modified-Since")
        if if_modified_since is None or self.last_modified is None:
            return False
        if if_modified_since.strip() == self.last_modified:
            return True
        since, modified = _parse_http_date(if_modified_since), _parse_http_date(self.last_modified)
        return since is not None and modified is not None and modified <= since


@dataclass
class _Truncated:
    body: bytes
    declared_length: int
    headers: dict[str, str]

    def serve(self, exchange: _Exchange) -> None:
        exchange.send_head(200, {**self.headers, "Content-Length": str(self.declared_length)})
        exchange.write(self.body)
        exchange.close_after_response()


@dataclass
class _Huge:
    size: int
    chunk_size: int
    declare_length: bool
    headers: dict[str, str]

    def serve(self, exchange: _Exchange) -> None:
        headers = dict(self.headers)
        if self.declare_length:
            headers["Content-Length"] = str(self.size)
        else:
            headers["Transfer-Encoding"] = "chunked"
        exchange.send_head(200, headers)
        chunk = b"x" * self.chunk_size
        remaining = self.size
        while remaining > 0 and not exchange.stopping.is_set():
            piece = chunk[: min(remaining, self.chunk_size)]
            exchange.write(piece if self.declare_length else _chunk(piece))
            remaining -= len(piece)
        if not self.declare_length:
            exchange.write(_chunk(b""))


@dataclass
class _Drip:
    body: bytes
    interval: float
    chunk_size: int
    headers: dict[str, str]

    def serve(self, exchange: _Exchange) -> None:
        exchange.send_head(200, {**self.headers, "Content-Length": str(len(self.body))})
        for start in range(0, len(self.body), self.chunk_size):
            if start:
                exchange.pause(self.interval)
            if exchange.stopping.is_set():
                exchange.close_after_response()
                return
            exchange.write(self.body[start : start + self.chunk_size])


@dataclass
class _Custom:
    handler: Callable[[RecordedRequest], Response]

    def serve(self, exchange: _Exchange) -> None:
        response = self.handler(exchange.request)
        exchange.send(response.status, response.headers, response.body)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_LoopbackServer"

    def do_GET(self) -> None:
        web = self.server.web
        request = self._record()
        with web._in_flight(request.host):
            behaviour = web._behaviour_for(request.path_without_query)
            exchange = _Exchange(self, request, web._stopping)
            try:
                if behaviour is None:
                    exchange.send(404, {"Content-Type": "text/plain"}, b"not found\n")
                else:
                    behaviour.serve(exchange)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _record(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        address = self.connection.getsockname()[0]
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers=self.headers,
            host=_host_name(self.headers.get("Host"), default=address),
            address=address,
            received_at=time.monotonic(),
            body=body,
        )
        self.server.web._record(request)
        return request

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the recorded requests are the log."""


class _LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], web: "WebServer"):
        self.web = web
        super().__init__(address, _RequestHandler)


class WebServer:
    """A real HTTP/1.1 server on loopback addresses, one port shared by all of them, programmable per path.

    Routes are matched on the exact path, query string ignored; an unknown path answers 404.
    Registering a path again replaces its behaviour, so a test can change what a URL answers between polls.
    """

    def __init__(self, addresses: tuple[str, ...] = DEFAULT_ADDRESSES):
        for address in addresses:
            if not ipaddress.ip_address(address).is_loopback:
                raise ValueError(f"the test server binds loopback addresses only, not {address}")
        self.addresses = addresses
        self._routes: dict[str, _Behaviour] = {}
        self._requests: list[RecordedRequest] = []
        self._current: Counter[str | None] = Counter()
        self._maximum: Counter[str | None] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._servers = self._bind_all(addresses)
        self.port = self._servers[0].server_address[1]
        self._threads = [
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"webserver-{server.server_address[0]}",
                daemon=True,
            )
            for server in self._servers
        ]
        for thread in self._threads:
            thread.start()

    def _bind_all(self, addresses: tuple[str, ...], attempts: int = 10) -> list[_LoopbackServer]:
        """Bind an ephemeral port on the first address and the same port on the others, retrying on a clash."""
        for _ in range(attempts):
            first = _LoopbackServer((addresses[0], 0), self)
            servers = [first]
            try:
                for address in addresses[1:]:
                    servers.append(_LoopbackServer((address, first.server_address[1]), self))
                return servers
            except OSError as error:
                for server in servers:
                    server.server_close()
                if error.errno != errno.EADDRINUSE:
                    raise
        raise OSError(f"no port free on all of {addresses} after {attempts} attempts")

    def stop(self) -> None:
        self._stopping.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> "WebServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def url(self, path: str, host: str | None = None) -> str:
        """The full URL of a path, on the first address unless another bound address is named."""
        host = host or self.addresses[0]
        if host not in self.addresses:
            raise ValueError(f"{host} is not one of the bound addresses {self.addresses}")
        return f"http://{host}:{self.port}{path}"

    def route(
        self,
        path: str,
        body: bytes = b"",
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        gzip: bool = False,
        etag: str | None = None,
        last_modified: datetime | str | None = None,
    ) -> None:
        """Answer `path` with this response after `delay` seconds.

        `etag` and `last_modified` are sent as validators and earn a 304 when the request's If-None-Match or
        If-Modified-Since matches them (a string is sent exactly as given, a datetime as an HTTP date).
        With `gzip`, the body is gzip-encoded for clients that send `Accept-Encoding: gzip`.
        Content-Type defaults to a guess from the path.
        """
        self._routes[path] = _Static(
            body=body,
            status=status,
            headers=_with_content_type(path, headers),
            delay=delay,
            gzip=gzip,
            etag=etag,
            last_modified=_http_date(last_modified) if isinstance(last_modified, datetime) else last_modified,
        )

    def redirect(self, path: str, to: str, status: int = 301) -> None:
        """Redirect `path` to `to`, sent as the Location header exactly as given (absolute URL or path)."""
        self._routes[path] = _bare(status, {"Location": to})

    def throttle(self, path: str, retry_after: int | datetime, status: int = 429) -> None:
        """Answer 429 (or 503) with Retry-After, in seconds for an int and as an HTTP date for a datetime."""
        value = _http_date(retry_after) if isinstance(retry_after, datetime) else str(retry_after)
        self._routes[path] = _bare(status, {"Retry-After": value})

    def truncated(self, path: str, body: bytes, declared_length: int | None = None) -> None:
        """Promise `declared_length` bytes (default twice the body) in Content-Length, send `body`, then close."""
        declared = 2 * len(body) + 1 if declared_length is None else declared_length
        if declared <= len(body):
            raise ValueError("a truncated response declares more bytes than it sends")
        self._routes[path] = _Truncated(body, declared, _with_content_type(path, None))

    def huge(self, path: str, size: int, chunk_size: int = 64 * 1024, declare_length: bool = True) -> None:
        """Stream `size` bytes in chunks, with Content-Length, or chunked transfer encoding without it."""
        self._routes[path] = _Huge(size, chunk_size, declare_length, _with_content_type(path, None))

    def gzip_bomb(self, path: str, mebibytes: int = 1024) -> None:
        """A gzip-encoded body of about 1 KiB per decompressed MiB, sent whatever the client accepts."""
        body = gzip_bomb_bytes(mebibytes)
        headers = {**_with_content_type(path, None), "Content-Encoding": "gzip"}
        self._routes[path] = _bare(200, headers, body)

    def drip(self, path: str, body: bytes, interval: float = 0.5, chunk_size: int = 1) -> None:
        """Send the headers at once, then `chunk_size` bytes of the body every `interval` seconds."""
        self._routes[path] = _Drip(body, interval, chunk_size, _with_content_type(path, None))

    def handler(self, path: str, handle: Callable[[RecordedRequest], Response]) -> None:
        """Answer `path` with whatever `handle` returns for each request."""
        self._routes[path] = _Custom(handle)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """The requests for one path, query string ignored."""
        return [r for r in self.requests if r.path_without_query == path]

    def max_concurrent(self, host: str | None = None) -> int:
        """The most requests in flight at once, overall or for one Host name (lowercase, without port).

        A request is in flight from the moment its headers have been read until its response is written.
        """
        with self._lock:
            return self._maximum[host.lower() if host else None]

    def _behaviour_for(self, path: str) -> _Behaviour | None:
        return self._routes.get(path)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @contextmanager
    def _in_flight(self, host: str) -> Iterator[None]:
        with self._lock:
            for key in (None, host):
                self._current[key] += 1
                self._maximum[key] = max(self._maximum[key], self._current[key])
        try:
            yield
        finally:
            with self._lock:
                for key in (None, host):
                    self._current[key] -= 1


@functools.lru_cache(maxsize=4)
def gzip_bomb_bytes(mebibytes: int) -> bytes:
    """A valid gzip stream of `mebibytes` MiB of zeros, built in a fraction of a second.

    One MiB of zeros is deflated once and ended with a full flush, which resets the compressor, so the same
    block bytes can be repeated: the stream decodes to the block's data once per repetition.
    """
    if mebibytes < 1:
        raise ValueError("a gzip bomb is at least 1 MiB")
    zeros = bytes(MIB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (mebibytes * MIB) & 0xFFFFFFFF)
    return header + block * mebibytes + compressor.flush(zlib.Z_FINISH) + trailer


def _bare(status: int, headers: dict[str, str], body: bytes = b"") -> _Static:
    """A response with no delay, no validators and no content negotiation."""
    return _Static(body, status, headers, delay=0.0, gzip=False, etag=None, last_modified=None)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _with_content_type(path: str, headers: dict[str, str] | None) -> dict[str, str]:
    headers = dict(headers or {})
    if not any(name.lower() == "content-type" for name in headers):
        guessed, _ = BUILT_IN_MIME_TYPES.guess_type(path)
        headers["Content-Type"] = guessed or "application/octet-stream"
    return headers


def _accepts_gzip(headers: Message) -> bool:
    codings = [part.split(";")[0].strip().lower() for part in (headers.get("Accept-Encoding") or "").split(",")]
    return "gzip" in codings


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison, as If-None-Match requires."""
    def opaque(tag: str) -> str:
        tag = tag.strip()
        return tag[2:] if tag.startswith("W/") else tag

    candidates = [opaque(tag) for tag in if_none_match.split(",")]
    return "*" in candidates or opaque(etag) in candidates


def _http_date(moment: datetime) -> str:
    return email.utils.format_datetime(moment, usegmt=True)


def _parse_http_date(value: str) -> datetime | None:
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _host_name(host_header: str | None, default: str) -> str:
    """The Host header's name, lowercase and without port ([::1]:80 -> ::1)."""
    if not host_header:
        return default
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.index("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
