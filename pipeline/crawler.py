"""Crawler: the one place feedpipe's requests leave from.

The requests run in a process of their own, on an event loop that owns the connection pools and the
politeness budget, so feed polls (submitted in bulk, answered as futures) and article fetches (one blocking
call at a time) share one budget per domain. The calling process keeps the database work (archive, parse,
commit): in one process, the event loop and the parsing thread took turns on one GIL and one core.
Requests and answers cross a pipe; a thread of the calling process resolves the futures.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Coroutine
from urllib.parse import urlsplit

from protego import Protego

from pipeline.archive import RawResponse
from pipeline.children import crawler_process_context
from pipeline.fetch import FEED_MAX_BYTES, PAGE_MAX_BYTES, Fetched, FetchError, Fetcher, FetchPolicy
from pipeline.politeness import BudgetSettings, PolitenessBudget, registrable_domain, retry_after_until

THROTTLE_STATUSES = {429, 503}
ROBOTS_TTL = timedelta(hours=24)
ROBOTS_MAX_BYTES = 512 * 1024


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


def product_token(user_agent: str) -> str:
    """The name robots.txt groups are matched against (RFC 9309 2.2.1): the User-Agent's first product,
    without its version ("feedpipe/0.1 (+https://...)" -> "feedpipe")."""
    return user_agent.strip().split("/", 1)[0].split()[0] if user_agent.strip() else ""


class RobotsRules:
    """robots.txt of one origin, read per RFC 9309 (longest match wins, `*` and `$` patterns) by protego:
    4xx means no rules, 5xx or no answer means keep out."""

    def __init__(self, response: RawResponse | None, agent: str) -> None:
        self.fetched_at = datetime.now(timezone.utc)
        self.agent = agent
        self.parser: Protego | None = None
        self.allow_all = response is not None and 400 <= response.status < 500
        if response is not None and response.status < 300:
            self.parser = Protego.parse(response.body.decode("utf-8", errors="replace"))

    def allows(self, url: str) -> bool:
        if self.parser is not None:
            return self.parser.can_fetch(url, self.agent)
        return self.allow_all

    @property
    def stale(self) -> bool:
        return datetime.now(timezone.utc) - self.fetched_at > ROBOTS_TTL


class Crawler:
    """The calling process's side: sends requests to the crawler process and hands back its answers."""

    def __init__(self, policy: FetchPolicy, budget: BudgetSettings, respect_robots: bool = True) -> None:
        context = crawler_process_context()
        self._conn, child_conn = context.Pipe()
        self.process = context.Process(target=serve_requests, args=(child_conn, policy, budget, respect_robots),
                                       name="feedpipe-crawler", daemon=True)
        self.process.start()
        child_conn.close()
        self._ids = itertools.count()
        self._futures: dict[int, Future] = {}
        self._send_lock = threading.Lock()
        self._new_holds: deque[DomainHold] = deque()
        self._reader = threading.Thread(target=self._read_answers, name="feedpipe-crawler-answers", daemon=True)
        self._reader.start()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # a crawler process that already ended has nothing to close
            self._send(None, "close")
        self.process.join()
        self._reader.join()
        self._conn.close()

    def __enter__(self) -> "Crawler":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, request_id: int | None, kind: str, *args: object) -> None:
        with self._send_lock:
            self._conn.send((request_id, kind, args))

    def _call(self, kind: str, *args: object) -> Future:
        request_id = next(self._ids)
        future = self._futures[request_id] = Future()
        self._send(request_id, kind, *args)
        return future

    def _read_answers(self) -> None:
        while True:
            try:
                request_id, ok, value, holds = self._conn.recv()
            except (EOFError, OSError):
                break
            self._new_holds.extend(holds)
            future = self._futures.pop(request_id)
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        for future in self._futures.values():
            future.set_exception(FetchError("the crawler process ended", kind="protocol"))

    def hold(self, domain: str, until: datetime) -> None:
        """Respect a hold recorded earlier (by this or another worker) for the whole domain."""
        self._send(None, "hold", domain, until)

    def not_before(self, domain: str, moment: datetime) -> None:
        self._send(None, "not_before", domain, moment)

    def take_new_holds(self) -> list[DomainHold]:
        """The holds servers asked for since the last call, for the caller to keep in Postgres."""
        holds = []
        while self._new_holds:
            holds.append(self._new_holds.popleft())
        return holds

    def poll(self, request: PollRequest) -> Future[PollResult]:
        return self._call("poll", request)

    def fetch_page(self, url: str) -> Future[PageFetch]:
        """GET an article page within the budget, after robots.txt allows it (when robots are respected)."""
        return self._call("fetch_page", url)


def serve_requests(conn, policy: FetchPolicy, budget: BudgetSettings, respect_robots: bool) -> None:
    """The crawler process: answer requests from `conn` until told to close. Ctrl-C reaches it too, but the
    caller decides when it stops (it closes the crawler, or its end closes the pipe)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(RequestLoop(policy, budget, respect_robots).serve(conn))


class RequestLoop:
    """Runs in the crawler process: the budget, the connection pools and cached robots.txt rules."""

    def __init__(self, policy: FetchPolicy, budget: BudgetSettings, respect_robots: bool) -> None:
        self.respect_robots = respect_robots
        self.robots_agent = product_token(policy.user_agent)
        self.budget = PolitenessBudget(budget)
        self.fetcher = Fetcher(policy, budget.global_limit, slot=self.budget.slot)
        self.robots: dict[str, RobotsRules] = {}
        self.new_holds: list[DomainHold] = []
        self.tasks: set[asyncio.Task] = set()

    async def serve(self, conn) -> None:
        closing = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_reader(conn.fileno(), self._receive, conn, closing)
        await closing.wait()
        loop.remove_reader(conn.fileno())
        for task in self.tasks:  # requests still in flight when the caller stops (interrupted): nobody awaits them
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.fetcher.aclose()
        conn.close()

    def _receive(self, conn, closing: asyncio.Event) -> None:
        try:
            while conn.poll():
                self._dispatch(conn, closing, *conn.recv())
        except EOFError:  # the calling process is gone
            closing.set()

    def _dispatch(self, conn, closing: asyncio.Event, request_id: int | None, kind: str, args: tuple) -> None:
        if kind == "close":
            closing.set()
        elif kind == "hold":
            self.budget.hold(*args)
        elif kind == "not_before":
            self.budget.not_before(*args)
        else:
            work = self._poll(*args) if kind == "poll" else self._fetch_page(*args)
            task = asyncio.create_task(self._answer(conn, request_id, work))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _answer(self, conn, request_id: int, work: Coroutine[object, object, object]) -> None:
        try:
            answer = (request_id, True, await work)
        except FetchError as error:
            answer = (request_id, False, error)
        except Exception as error:  # a bug here must still answer, with an error that crosses the pipe
            answer = (request_id, False, RuntimeError(f"{type(error).__name__}: {error}"))
        holds, self.new_holds = self.new_holds, []
        with contextlib.suppress(OSError):  # the caller has gone (closed or died): nobody is left to answer
            conn.send((*answer, holds))

    async def _get(self, url: str, max_bytes: int, headers: list[tuple[str, str]] = ()) -> Fetched:
        fetched = await self.fetcher.get(url, max_bytes, headers)
        response = fetched.response
        if response.status in THROTTLE_STATUSES:
            retry_after = dict((k.lower(), v) for k, v in response.headers).get("retry-after")
            until = retry_after_until(retry_after, datetime.now(timezone.utc))
            if until:
                domain = registrable_domain(url)
                self.budget.hold(domain, until)
                self.new_holds.append(DomainHold(domain, until, f"HTTP {response.status} Retry-After {retry_after}"))
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
                rules = self.robots[origin] = RobotsRules(robots_response, self.robots_agent)
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
