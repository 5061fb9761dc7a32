"""Crawler: the one place feedpipe's requests leave from.

An event loop on a background thread owns the connection pool and the politeness budget, so feed polls
(submitted in bulk, answered as futures) and article fetches (one blocking call at a time) share one budget
per domain. The calling thread keeps the database work: archive, parse and commit stay where they were.
"""
from __future__ import annotations

import asyncio
import threading
import urllib.robotparser
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Coroutine, TypeVar
from urllib.parse import urlsplit

from pipeline.archive import RawResponse
from pipeline.fetch import FEED_MAX_BYTES, PAGE_MAX_BYTES, Fetched, FetchError, Fetcher, FetchPolicy
from pipeline.politeness import BudgetSettings, PolitenessBudget, registrable_domain, retry_after_until

T = TypeVar("T")
THROTTLE_STATUSES = {429, 503}
ROBOTS_TTL = timedelta(hours=24)
ROBOTS_MAX_BYTES = 512 * 1024
ROBOTS_AGENT = "feedpipe"


@dataclass(frozen=True)
class PollRequest:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    audit: bool = False  # when the conditional answer is 304, fetch again unconditionally to check it

    def conditional_headers(self) -> list[tuple[str, str]]:
        headers = []
        if self.etag:
            headers.append(("If-None-Match", self.etag))
        if self.last_modified:
            headers.append(("If-Modified-Since", self.last_modified))
        return headers


@dataclass(frozen=True)
class PollResult:
    fetched: Fetched | None = None
    audit: Fetched | None = None  # the unconditional fetch that checked a 304
    error: FetchError | None = None


@dataclass(frozen=True)
class DomainHold:
    domain: str
    until: datetime
    reason: str


@dataclass(frozen=True)
class PageFetch:
    fetched: Fetched
    robots: RawResponse | None = None  # robots.txt, when it was fetched for this page


class RobotsRules:
    """robots.txt of one origin, read per RFC 9309: 4xx means no rules, 5xx or no answer means keep out."""

    def __init__(self, response: RawResponse | None) -> None:
        self.fetched_at = datetime.now(timezone.utc)
        self.parser: urllib.robotparser.RobotFileParser | None = None
        self.allow_all = response is not None and 400 <= response.status < 500
        if response is not None and response.status < 300:
            self.parser = urllib.robotparser.RobotFileParser()
            self.parser.parse(response.body.decode("utf-8", errors="replace").splitlines())

    def allows(self, url: str) -> bool:
        if self.parser is not None:
            return self.parser.can_fetch(ROBOTS_AGENT, url)
        return self.allow_all

    @property
    def stale(self) -> bool:
        return datetime.now(timezone.utc) - self.fetched_at > ROBOTS_TTL


class Crawler:
    def __init__(self, policy: FetchPolicy, budget: BudgetSettings, respect_robots: bool = True) -> None:
        self.respect_robots = respect_robots
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="feedpipe-crawler", daemon=True)
        self.thread.start()
        self.budget = PolitenessBudget(budget)
        self.fetcher = Fetcher(policy, budget.global_limit, slot=self.budget.slot)
        self.robots: dict[str, RobotsRules] = {}
        self._new_holds: deque[DomainHold] = deque()

    def close(self) -> None:
        self._run(self.fetcher.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()

    def __enter__(self) -> "Crawler":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _submit(self, coroutine: Coroutine[object, object, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def _run(self, coroutine: Coroutine[object, object, T]) -> T:
        return self._submit(coroutine).result()

    def hold(self, domain: str, until: datetime) -> None:
        """Respect a hold recorded earlier (by this or another worker) for the whole domain."""
        self.loop.call_soon_threadsafe(self.budget.hold, domain, until)

    def not_before(self, domain: str, moment: datetime) -> None:
        self.loop.call_soon_threadsafe(self.budget.not_before, domain, moment)

    def take_new_holds(self) -> list[DomainHold]:
        """The holds servers asked for since the last call, for the caller to keep in Postgres."""
        holds = []
        while self._new_holds:
            holds.append(self._new_holds.popleft())
        return holds

    def poll(self, request: PollRequest) -> Future[PollResult]:
        return self._submit(self._poll(request))

    def fetch_page(self, url: str) -> PageFetch:
        """GET an article page within the budget, after robots.txt allows it (when robots are respected)."""
        return self._run(self._fetch_page(url))

    async def _get(self, url: str, max_bytes: int, headers: list[tuple[str, str]] = ()) -> Fetched:
        fetched = await self.fetcher.get(url, max_bytes, headers)
        response = fetched.response
        if response.status in THROTTLE_STATUSES:
            retry_after = dict((k.lower(), v) for k, v in response.headers).get("retry-after")
            until = retry_after_until(retry_after, datetime.now(timezone.utc))
            if until:
                domain = registrable_domain(url)
                self.budget.hold(domain, until)
                self._new_holds.append(DomainHold(domain, until, f"HTTP {response.status} Retry-After {retry_after}"))
        return fetched

    async def _poll(self, request: PollRequest) -> PollResult:
        try:
            fetched = await self._get(request.url, FEED_MAX_BYTES, request.conditional_headers())
            audit = None
            if request.audit and fetched.response.status == 304:
                audit = await self._get(request.url, FEED_MAX_BYTES)
            return PollResult(fetched=fetched, audit=audit)
        except FetchError as error:
            return PollResult(error=error)

    async def _fetch_page(self, url: str) -> PageFetch:
        robots_response = None
        if self.respect_robots:
            origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
            rules = self.robots.get(origin)
            if rules is None or rules.stale:
                robots_response = await self._robots_response(origin)
                rules = self.robots[origin] = RobotsRules(robots_response)
            if not rules.allows(url):
                raise FetchError(f"robots.txt of {origin} disallows {url}", kind="robots")
        return PageFetch(await self._get(url, PAGE_MAX_BYTES), robots_response)

    async def _robots_response(self, origin: str) -> RawResponse | None:
        try:
            return (await self._get(origin + "/robots.txt", ROBOTS_MAX_BYTES)).response
        except FetchError as error:
            if error.kind == "on_hold":
                raise
            return None
