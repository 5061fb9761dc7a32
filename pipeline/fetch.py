"""Fetch: HTTP GET of feeds and article pages with the limits and guards a public crawler needs.

Every connection goes through `GuardedNetworkBackend`, which resolves the host once, refuses non-public
addresses and connects to exactly the address it vetted: there is no window between the check and the
connect for DNS rebinding, and every redirect hop opens its connection through the same check.
Bodies are read as a stream and decompressed here (gzip, deflate, brotli) in bounded steps, so a size
limit holds on the bytes after decompression too and a gzip bomb costs at most the limit in memory.
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import zlib
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterable
from urllib.parse import urljoin, urlsplit

import brotli
import httpcore

from pipeline.archive import RawResponse

MIB = 1 << 20
FEED_MAX_BYTES = 10 * MIB
PAGE_MAX_BYTES = 5 * MIB
MAX_REDIRECTS = 5
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
PERMANENT_REDIRECT_STATUSES = {301, 308}
ACCEPT_ENCODING = "gzip, deflate, br"


class FetchError(Exception):
    """A fetch that produced no HTTP response worth keeping; the message says why.

    `kind` names the failure class ('dns', 'connect', 'timeout', 'protocol', 'refused', 'too_large',
    'redirects', 'robots', 'on_hold'); schedulers weigh failures by it."""

    def __init__(self, message: str, kind: str = "connect") -> None:
        super().__init__(message)
        self.kind = kind


class HostOnHold(FetchError):
    """The host group asked us (Retry-After) to stay away until `until`; nothing was sent."""

    def __init__(self, domain: str, until: datetime) -> None:
        super().__init__(f"{domain} asked us to wait until {until:%Y-%m-%d %H:%M:%S} UTC", kind="on_hold")
        self.domain = domain
        self.until = until

    def __reduce__(self):  # crosses the pipe from the crawler process
        return HostOnHold, (self.domain, self.until)


@dataclass(frozen=True)
class FetchPolicy:
    user_agent: str
    allow_private_addresses: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_redirects: int = MAX_REDIRECTS


@dataclass(frozen=True)
class RedirectHop:
    status: int
    url: str
    location: str


@dataclass(frozen=True)
class Fetched:
    """The final response of a GET and the redirects followed to reach it (a 304 has an empty body)."""

    response: RawResponse
    redirects: tuple[RedirectHop, ...] = field(default=())

    @property
    def permanent_target(self) -> str | None:
        """Where the leading run of 301/308 hops leads: the URL the requested one has permanently moved to."""
        target = None
        for hop in self.redirects:
            if hop.status not in PERMANENT_REDIRECT_STATUSES:
                break
            target = hop.location
        return target


def forbidden_address_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a public crawler must not connect to this address, or None when it may."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        return forbidden_address_reason(mapped)
    for name in ("loopback", "link_local", "multicast", "private", "reserved", "unspecified"):
        if getattr(address, f"is_{name}"):
            return name.replace("_", "-")
    if not address.is_global:
        return "non-global"
    return None


def require_http_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise FetchError(f"refused {url!r}: only http and https URLs are fetched", kind="refused")
    if not parts.hostname:
        raise FetchError(f"refused {url!r}: no host", kind="refused")


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves each host itself, refuses non-public addresses, and connects to the vetted address."""

    def __init__(self, allow_private_addresses: bool, resolve_timeout: float) -> None:
        self.allow_private_addresses = allow_private_addresses
        self.resolve_timeout = resolve_timeout

    async def vetted_address(self, host: str, port: int) -> str:
        try:
            return str(self._check(ipaddress.ip_address(host), host))
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), self.resolve_timeout
            )
        except (socket.gaierror, UnicodeError) as error:
            raise FetchError(f"cannot resolve {host}: {error}", kind="dns") from error
        except asyncio.TimeoutError as error:
            raise FetchError(f"resolving {host} timed out", kind="dns") from error
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        for address in addresses:  # refuse the name if any of its addresses is forbidden
            self._check(address, host)
        return str(addresses[0])

    def _check(self, address, host: str):
        reason = None if self.allow_private_addresses else forbidden_address_reason(address)
        if reason:
            raise FetchError(
                f"refused {host}: resolves to non-public address {address} ({reason}) "
                "(use --allow-private-addresses for local servers)",
                kind="refused",
            )
        return address

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        address = await self.vetted_address(host, port)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    address, port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"connecting to {address}:{port} timed out") from error
        except OSError as error:
            raise httpcore.ConnectError(str(error)) from error
        for option in socket_options or ():
            writer.get_extra_info("socket").setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise FetchError("refused: unix sockets are never fetched", kind="refused")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection on asyncio's own streams. httpcore's anyio stream spends a cancel scope per read and write
    and builds an attribute table on every pool check, which was most of the CPU time of a 304 poll."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.read(max_bytes)
        except TimeoutError as error:
            raise httpcore.ReadTimeout("read timed out") from error
        except OSError as error:
            raise httpcore.ReadError(str(error)) from error

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self.writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self.writer.drain()
        except TimeoutError as error:
            raise httpcore.WriteTimeout("write timed out") from error
        except OSError as error:
            raise httpcore.WriteError(str(error)) from error

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> "AsyncioStream":
        try:
            async with asyncio.timeout(timeout):
                await self.writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as error:
            raise httpcore.ConnectTimeout("TLS handshake timed out") from error
        except OSError as error:  # ssl.SSLError included
            raise httpcore.ConnectError(str(error)) from error
        return self

    def get_extra_info(self, info: str) -> object:
        if info == "is_readable":  # asked of idle connections: readable means the server closed or reset it
            return self.reader.at_eof() or self.writer.is_closing()
        names = {"ssl_object": "ssl_object", "socket": "socket", "server_addr": "peername", "client_addr": "sockname"}
        return self.writer.get_extra_info(names[info]) if info in names else None


class BodyTooLarge(FetchError):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"response larger than {max_bytes:,} bytes (after decompression): cut off", "too_large")
        self.max_bytes = max_bytes

    def __reduce__(self):  # crosses the pipe from the crawler process
        return BodyTooLarge, (self.max_bytes,)


class LimitedBody:
    """Collects a body, decoding its Content-Encoding in steps that never produce more than the limit."""

    def __init__(self, content_encoding: str, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.parts: list[bytes] = []
        self.size = 0
        self.raw_size = 0
        coding = content_encoding.strip().lower()
        if coding in {"", "identity"}:
            self.decode: Callable[[bytes], None] = self._keep
        elif coding in {"gzip", "x-gzip"}:
            self.inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            self.decode = self._inflate
        elif coding == "deflate":
            self.inflater = None  # zlib-wrapped or raw deflate: decided by the first bytes
            self.decode = self._inflate
        elif coding == "br":
            self.brotli = brotli.Decompressor()
            self.decode = self._unbrotli
        else:
            raise FetchError(f"unsupported Content-Encoding {content_encoding!r}", kind="protocol")

    def feed(self, chunk: bytes) -> None:
        self.raw_size += len(chunk)
        if self.raw_size > self.max_bytes:
            raise BodyTooLarge(self.max_bytes)
        self.decode(chunk)

    def _keep(self, data: bytes) -> None:
        if data:
            self.size += len(data)
            if self.size > self.max_bytes:
                raise BodyTooLarge(self.max_bytes)
            self.parts.append(data)

    def _room(self) -> int:
        return self.max_bytes - self.size + 1

    def _inflate(self, data: bytes) -> None:
        if self.inflater is None:
            raw = bool(data) and (data[0] & 0x0F) != 8  # a zlib header starts with compression method 8
            self.inflater = zlib.decompressobj(wbits=-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        try:
            self._keep(self.inflater.decompress(data, self._room()))
            while self.inflater.unconsumed_tail:
                self._keep(self.inflater.decompress(self.inflater.unconsumed_tail, self._room()))
        except zlib.error as error:
            raise FetchError(f"corrupt compressed body: {error}", kind="protocol") from error

    def _unbrotli(self, data: bytes) -> None:
        try:
            self._keep(self.brotli.process(data, output_buffer_limit=self._room()))
            while not self.brotli.can_accept_more_data():
                self._keep(self.brotli.process(b"", output_buffer_limit=self._room()))
        except brotli.error as error:
            raise FetchError(f"corrupt brotli body: {error}", kind="protocol") from error

    def body(self) -> bytes:
        return b"".join(self.parts)


SlotFactory = Callable[[str], AbstractAsyncContextManager]


class Fetcher:
    """An HTTP/1.1 connection pool whose every connection is guarded; redirects are followed here, hop by hop,
    each hop inside the politeness slot that `slot(url)` gives (a shared budget, or no limit at all)."""

    def __init__(self, policy: FetchPolicy, max_connections: int = 100, slot: SlotFactory | None = None) -> None:
        self.policy = policy
        self.slot = slot or _no_limit
        self.max_connections = max_connections
        self.backend = GuardedNetworkBackend(policy.allow_private_addresses, policy.connect_timeout)
        self.pools: dict[str, httpcore.AsyncConnectionPool] = {}

    def _pool(self, url: str) -> httpcore.AsyncConnectionPool:
        """One small pool per origin: httpcore's pool scans all its connections for every request, which
        costs quadratic time when one pool holds hundreds of hosts' connections."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        pool = self.pools.get(origin)
        if pool is None:
            pool = self.pools[origin] = httpcore.AsyncConnectionPool(
                max_connections=self.max_connections,
                keepalive_expiry=5.0,
                network_backend=self.backend,
            )
        return pool

    async def aclose(self) -> None:
        for pool in self.pools.values():
            await pool.aclose()

    async def get(self, url: str, max_bytes: int, headers: Iterable[tuple[str, str]] = ()) -> Fetched:
        """GET `url`, following up to policy.max_redirects redirects; any final status is returned.

        Transport failures, refused addresses, oversize bodies and redirect loops raise FetchError.
        The total timeout bounds each hop from the moment its politeness slot is granted."""
        extra_headers = list(headers)
        hops: list[RedirectHop] = []
        current = url
        seen = {url}
        while True:
            require_http_url(current)
            async with self.slot(current):
                status, location, response = await self._get_within_total_timeout(current, max_bytes, extra_headers)
            if response is not None:
                return Fetched(response, tuple(hops))
            target = urljoin(current, location)
            hops.append(RedirectHop(status, current, target))
            if target in seen:
                raise FetchError(f"redirect loop: {current} -> {target}", kind="redirects")
            if len(hops) > self.policy.max_redirects:
                raise FetchError(f"more than {self.policy.max_redirects} redirects from {url}", kind="redirects")
            seen.add(target)
            current = target

    async def _get_within_total_timeout(self, url: str, max_bytes: int, extra: list[tuple[str, str]]):
        try:
            async with asyncio.timeout(self.policy.total_timeout):
                return await self._get_once(url, max_bytes, extra)
        except TimeoutError as error:
            raise FetchError(f"gave up on {url} after {self.policy.total_timeout:g} s", kind="timeout") from error

    def _request_headers(self, url: str, extra: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
        host = urlsplit(url).netloc.rsplit("@", 1)[-1]  # as written: brackets and port kept, no userinfo
        headers = [("Host", host), ("User-Agent", self.policy.user_agent), ("Accept-Encoding", ACCEPT_ENCODING),
                   ("Accept", "*/*"), *extra]
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]

    async def _get_once(self, url: str, max_bytes: int, extra: list[tuple[str, str]]):
        """One request: (status, Location, None) for a redirect, else (status, None, RawResponse)."""
        fetched_at = datetime.now(timezone.utc)
        timeouts = {"connect": self.policy.connect_timeout, "read": self.policy.read_timeout,
                    "write": self.policy.read_timeout, "pool": self.policy.total_timeout}
        try:
            async with self._pool(url).stream(
                "GET", url, headers=self._request_headers(url, extra), extensions={"timeout": timeouts}
            ) as response:
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers]
                declared = _header(headers, "content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise BodyTooLarge(max_bytes)
                body = LimitedBody(_header(headers, "content-encoding") or "", max_bytes)
                async for chunk in response.aiter_stream():  # to the end, even when empty: the connection is reused
                    body.feed(chunk)
                location = _header(headers, "location")
                if response.status in REDIRECT_STATUSES and location:
                    return response.status, location, None
                reason = response.extensions.get("reason_phrase", b"").decode("latin-1")
        except httpcore.TimeoutException as error:
            raise FetchError(f"{type(error).__name__} fetching {url}", kind="timeout") from error
        except httpcore.ConnectError as error:
            raise FetchError(f"{type(error).__name__}: cannot connect to {url}: {error}", kind="connect") from error
        except (httpcore.ProtocolError, httpcore.NetworkError, httpcore.UnsupportedProtocol) as error:
            raise FetchError(f"{type(error).__name__} fetching {url}: {error}", kind="protocol") from error
        return response.status, None, RawResponse(
            url=url, status=response.status, reason=reason, headers=headers, body=body.body(), fetched_at=fetched_at
        )


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


class _NoLimit:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        return None


def _no_limit(url: str) -> _NoLimit:
    return _NoLimit()
