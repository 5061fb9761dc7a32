"""Politeness: one request budget per registrable domain, shared by feed polls and article fetches.

`feeds.example.com` and `www.example.com` share the budget of `example.com`: at most `per_domain` requests
in flight at once, request starts at least `min_delay` seconds apart, and nothing at all while the domain
has asked us (429/503 with Retry-After) to stay away. A global limit bounds all requests in flight.

The budget lives in one worker's event loop. Several workers stay within it because a worker only polls a
domain whose Postgres advisory lock it holds (see `pipeline.domains.lease_domains`): a domain is polled by one
worker at a time, and holds and the earliest next request time are kept in the `fetch_domains` table.
"""
from __future__ import annotations

import asyncio
import email.utils
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator
from urllib.parse import urlsplit

import tld

from pipeline.fetch import HostOnHold

MAX_RETRY_AFTER = timedelta(hours=24)


def registrable_domain(url: str) -> str:
    """The registrable domain (eTLD+1) of a URL's host; an IP address or single-label host stands for itself."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return tld.get_fld(host, fix_protocol=True, fail_silently=True) or host


def retry_after_until(value: str | None, now: datetime) -> datetime | None:
    """The moment a Retry-After header (delay in seconds or an HTTP date) points at, capped at 24 h ahead."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        until = now + timedelta(seconds=int(value))
    else:
        try:
            until = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if until.tzinfo is None:
            until = until.replace(tzinfo=timezone.utc)
    return min(max(until, now), now + MAX_RETRY_AFTER)


@dataclass(frozen=True)
class BudgetSettings:
    per_domain: int = 2
    min_delay: float = 1.0
    global_limit: int = 100


class PolitenessBudget:
    """Per-domain slots and pacing, plus holds; all methods run on the event loop's thread."""

    def __init__(self, settings: BudgetSettings) -> None:
        self.settings = settings
        self.global_slots = asyncio.Semaphore(settings.global_limit)
        self.domain_slots: dict[str, asyncio.Semaphore] = {}
        self.next_start: dict[str, float] = {}  # time.monotonic() before which no request may start
        self.holds: dict[str, datetime] = {}

    def hold(self, domain: str, until: datetime) -> None:
        current = self.holds.get(domain)
        if current is None or until > current:
            self.holds[domain] = until

    def hold_until(self, domain: str) -> datetime | None:
        until = self.holds.get(domain)
        return until if until and until > datetime.now(timezone.utc) else None

    def not_before(self, domain: str, moment: datetime) -> None:
        """Start no request to `domain` before `moment` (another worker's last request plus the delay)."""
        wait = (moment - datetime.now(timezone.utc)).total_seconds()
        if wait > 0:
            self.next_start[domain] = max(self.next_start.get(domain, 0.0), time.monotonic() + wait)

    def _refuse_if_held(self, domain: str) -> None:
        until = self.hold_until(domain)
        if until:
            raise HostOnHold(domain, until)

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        """Wait for a free slot of the URL's domain and its turn; raise HostOnHold if the domain is held."""
        domain = registrable_domain(url)
        self._refuse_if_held(domain)
        slots = self.domain_slots.setdefault(domain, asyncio.Semaphore(self.settings.per_domain))
        async with slots:
            wait = self.next_start.get(domain, 0.0) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._refuse_if_held(domain)
            self.next_start[domain] = time.monotonic() + self.settings.min_delay
            async with self.global_slots:
                yield
