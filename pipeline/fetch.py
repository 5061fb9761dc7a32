"""Fetch: HTTP GET of feeds and article pages, refusing addresses a public crawler must not reach."""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlparse

import httpx

from pipeline.archive import RawResponse

TIMEOUT = httpx.Timeout(20.0, connect=10.0)
MAX_REDIRECTS = 5


class FetchError(Exception):
    """A fetch that produced no HTTP response worth keeping; the message says why."""


@dataclass(frozen=True)
class FetchPolicy:
    user_agent: str
    allow_private_addresses: bool = False


def refuse_private_address(url: str) -> None:
    """Raise FetchError for non-HTTP(S) URLs and hosts resolving to loopback, private or reserved addresses."""
    parsed = urlparse(url)
    if parsed.scheme not in {"http", "https"}:
        raise FetchError(f"refused {url!r}: only http and https URLs are fetched")
    if not parsed.hostname:
        raise FetchError(f"refused {url!r}: no host")
    try:
        infos = socket.getaddrinfo(parsed.hostname, parsed.port or 80, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise FetchError(f"cannot resolve {parsed.hostname}: {error}") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise FetchError(
                f"refused {url!r}: {parsed.hostname} resolves to non-public address {address} "
                "(use --allow-private-addresses for local servers)"
            )


def fetch(url: str, policy: FetchPolicy) -> RawResponse:
    """GET one URL, following up to MAX_REDIRECTS redirects; any status is returned, transport errors raise."""
    if not policy.allow_private_addresses:
        refuse_private_address(url)
    fetched_at = datetime.now(timezone.utc)
    try:
        with httpx.Client(
            timeout=TIMEOUT,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": policy.user_agent},
        ) as client:
            response = client.get(url)
    except httpx.HTTPError as error:
        raise FetchError(f"{type(error).__name__}: {error}") from error
    return RawResponse(
        url=str(response.url),
        status=response.status_code,
        reason=response.reason_phrase,
        headers=list(response.headers.multi_items()),
        body=response.content,
        fetched_at=fetched_at,
    )
