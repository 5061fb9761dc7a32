"""Polling: one round over the due feeds, concurrent on the wire and recorded as the answers arrive.

Requests go out through the crawler (politeness budget, guards, limits) and answers are handled here in
the calling thread: archive the body (every status but 304), decide what the answer means for the feed
(new entries, unchanged, not modified, deferred, failed, gone), and commit that with the feed's new
schedule. Answers that arrive together are committed together, one savepoint per feed.
"""
from __future__ import annotations

import hashlib
import logging
import queue
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from pipeline import db, store
from pipeline.archive import Archive, ArchiveError, RawResponse, archive_response
from pipeline.crawler import THROTTLE_STATUSES, Crawler, PollRequest, PollResult
from pipeline.domains import apply_stored_domain_state, lease_domains, record_new_holds, record_next_requests
from pipeline.feeds import Feed, links_already_seen, reappearing_link, update_feed_statement
from pipeline.fetch import Fetched, FetchError
from pipeline.parse import FeedParseError, ParsedFeed, canonical_link, parse_feed, with_link_identity
from pipeline.politeness import registrable_domain, retry_after_until
from pipeline.schedule import (ScheduleSettings, backoff_delay, clamp, failure_weight, max_age, next_poll_interval,
                               publishing_interval)

log = logging.getLogger(__name__)

AUDIT_INTERVAL = timedelta(hours=24)  # how often a trusted 304 is checked against an unconditional GET
REDIRECT_CONFIRMATIONS = 3  # polls in a row that must see the same 301/308 before the stored URL changes
DEFAULT_INTERVAL = timedelta(minutes=30)  # for a feed whose entries carry no dates
BATCH_WINDOW = 0.05  # seconds to gather answers into one transaction: commits (fsync) are the costly part


@dataclass
class PollCounts:
    polled: int = 0
    failed: int = 0
    new_entries: int = 0
    bytes_archived: int = 0


ProgressCallback = Callable[[str, int, "int | None"], None]  # (stage, done, total or None when not known)


@dataclass
class PollContext:
    conn: object
    archive: Archive
    crawler: Crawler
    schedule: ScheduleSettings
    per_domain_delay: float
    run_id: int | None
    counts: PollCounts = field(default_factory=PollCounts)
    on_progress: ProgressCallback | None = None  # called with ("poll", feeds recorded, feeds sent)


def poll_request(feed: Feed, now: datetime) -> PollRequest:
    """Conditional when the feed's validators are trusted; an audit when the last check is a day old."""
    if not feed.conditional_get or not (feed.etag or feed.last_modified):
        return PollRequest(feed.url)
    audit = feed.last_audit_at is None or now - feed.last_audit_at >= AUDIT_INTERVAL
    return PollRequest(feed.url, feed.etag, feed.last_modified, audit=audit)


def poll_feeds(ctx: PollContext, feeds: list[Feed]) -> PollCounts:
    """Poll the feeds of every domain this worker can lease; feeds of domains another worker holds are left to it."""
    by_domain: dict[str, list[Feed]] = {}
    for feed in feeds:
        by_domain.setdefault(registrable_domain(feed.url), []).append(feed)
    with lease_domains(ctx.conn, by_domain) as leased:
        apply_stored_domain_state(ctx.crawler, leased)
        now = datetime.now(timezone.utc)
        pending: dict[Future, tuple[Feed, PollRequest, datetime]] = {}
        for state in leased:
            for feed in by_domain[state.domain]:
                request = poll_request(feed, now)
                pending[ctx.crawler.poll(request)] = (feed, request, datetime.now(timezone.utc))
        recorded = 0
        for done in as_completed_batches(pending):
            _record_batch(ctx, [(*pending[future], future.result()) for future in done])
            recorded += len(done)
            if ctx.on_progress:
                ctx.on_progress("poll", recorded, len(pending))
        with db.transaction(ctx.conn) as cur:
            record_next_requests(cur, [state.domain for state in leased], ctx.per_domain_delay)
    return ctx.counts


def as_completed_batches(futures: dict[Future, object]) -> Iterator[list[Future]]:
    """Futures as they finish, gathered for up to BATCH_WINDOW seconds so one commit covers many answers."""
    finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
    for future in futures:
        future.add_done_callback(finished.put)
    remaining = len(futures)
    while remaining:
        batch = [finished.get()]
        deadline = time.monotonic() + BATCH_WINDOW
        while len(batch) < remaining and (wait := deadline - time.monotonic()) > 0:
            try:
                batch.append(finished.get(timeout=wait))
            except queue.Empty:
                break
        remaining -= len(batch)
        yield batch


def _record_batch(ctx: PollContext, answers: list[tuple[Feed, PollRequest, datetime, PollResult]]) -> None:
    """Record answers in one transaction. Each feed's final writes (its state and its feed_fetches row) are
    sent together for the whole batch in one round trip; a feed that reads or writes entries does so inside
    savepoint `poll`, so its failure is recorded without losing the others."""
    with db.transaction(ctx.conn) as cur:
        record_new_holds(cur, ctx.crawler)
        writes: list[bytes] = []
        for feed, request, started_at, result in answers:
            ctx.counts.polled += 1
            poll = FeedPoll(ctx, cur, feed, request, started_at, writes)
            try:
                poll.record(result)
            except (ArchiveError, *db.DATABASE_FAULTS):  # the run's failure, not the feed's: nothing is recorded
                raise
            except Exception as error:  # one feed's bad answer must not lose the others' records
                log.exception("recording the poll of %s failed", feed.url)
                if poll.in_savepoint:
                    cur.execute("ROLLBACK TO SAVEPOINT poll")
                FeedPoll(ctx, cur, feed, request, started_at, writes).fail(f"{type(error).__name__}: {error}", 1.0)
        if writes:
            cur.execute(b"; ".join(writes))


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _header(response: RawResponse, name: str) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value
    return None


class FeedPoll:
    """What one answer means for one feed, written as a feed_fetches row and the feed's new state."""

    def __init__(self, ctx: PollContext, cur, feed: Feed, request: PollRequest, started_at: datetime,
                 writes: list[bytes]) -> None:
        self.ctx, self._cur, self.feed, self.request, self.started_at = ctx, cur, feed, request, started_at
        self.writes = writes
        self.in_savepoint = False
        self.now = datetime.now(timezone.utc)
        self.changes: dict[str, object] = {"last_polled_at": started_at}
        self.log = dict(http_status=None, bytes=0, archive_key=None, problem=None)

    def record(self, result: PollResult) -> None:
        if result.error is not None:
            self._fetch_failed(result.error)
            return
        fetched = result.fetched
        self._follow_permanent_redirect(fetched)
        response = fetched.response
        if response.status == 304:
            self._not_modified(response, result.audit)
            return
        self._archive(response)
        retry_at = retry_after_until(_header(response, "retry-after"), self.now)
        if response.status in THROTTLE_STATUSES and retry_at:
            self._finish("deferred", error=f"HTTP {response.status}: asked to wait until {retry_at:%Y-%m-%d %H:%M:%S}",
                         next_poll_at=retry_at)
        elif response.status == 410:
            self._gone(response)
        elif not 200 <= response.status < 300:
            self.fail(f"HTTP {response.status} {response.reason}".strip(), weight=failure_weight(status=response.status))
        else:
            self._body(response)

    # -- outcomes ----------------------------------------------------------------------------------

    def _fetch_failed(self, error: FetchError) -> None:
        if error.kind == "on_hold":
            self._finish("deferred", error=str(error), next_poll_at=error.until)
        else:
            self.fail(str(error), weight=failure_weight(kind=error.kind))

    def fail(self, error: str, weight: float) -> None:
        score = self.feed.failure_score + weight
        log.warning("feed %s failed: %s", self.feed.url, error)
        self.ctx.counts.failed += 1
        self.changes.update(failure_score=score, consecutive_failures=self.feed.consecutive_failures + 1,
                            last_error=error, last_error_at=self.now)
        self._finish("failed", error=error, next_poll_at=self.now + backoff_delay(score))

    def _gone(self, response: RawResponse) -> None:
        reason = f"HTTP 410 {response.reason or 'Gone'}".strip()
        self.changes.update(enabled=False, disabled_reason=reason, disabled_at=self.now,
                            last_error=reason, last_error_at=self.now)
        self.ctx.counts.failed += 1
        self._finish("gone", error=reason)

    def _not_modified(self, response: RawResponse, audit: Fetched | None) -> None:
        self._keep_validators(response, replace_missing=False)
        if audit is not None:
            audited = audit.response
            self._archive(audited)
            self.changes["last_audit_at"] = self.now
            if audited.status == 200 and self.feed.body_sha256 and body_sha256(audited.body) != self.feed.body_sha256:
                self._distrust_validators("answered 304 Not Modified while the feed had changed "
                                          f"(audit {self.now:%Y-%m-%d %H:%M} UTC)")
                self._body(audited)
                return
        self._succeed("not_modified", response)

    def _body(self, response: RawResponse) -> None:
        digest = body_sha256(response.body)
        if not self.request.etag and not self.request.last_modified:
            self.changes["last_audit_at"] = self.now
        etag = _header(response, "etag")
        repeated_etag = etag and etag == self.feed.etag and digest != self.feed.body_sha256
        if repeated_etag and self.feed.body_sha256 and "conditional_get" not in self.changes:
            self._distrust_validators(f"repeated ETag {etag} for a changed body ({self.now:%Y-%m-%d %H:%M} UTC)")
        self._keep_validators(response, replace_missing=True)
        if digest == self.feed.body_sha256:
            self._succeed("unchanged", response)
            return
        try:
            parsed = parse_feed(response.body, response.url)
        except FeedParseError as error:
            self.fail(str(error), weight=failure_weight(kind="parse"))
            return
        self.changes["body_sha256"] = digest
        self.log["problem"] = self.log["problem"] or parsed.problem
        seen, new = self._record_entries(parsed)
        store.set_feed_title(self.cur, self.feed.id, parsed.title)
        self.ctx.counts.new_entries += new
        rate = publishing_interval([e.published_at for e in parsed.entries], self.ctx.schedule)
        if rate is not None:
            self.changes["poll_interval_seconds"] = int(rate.total_seconds())
        declared = parsed.min_interval
        self.changes["declared_interval_seconds"] = int(declared.total_seconds()) if declared else None
        self._succeed("new" if new else "unchanged", response, seen=seen, new=new)

    def _succeed(self, outcome: str, response: RawResponse, *, seen: int = 0, new: int = 0) -> None:
        """Reset the failure history and schedule by publishing rate, raised to what feed and server declare."""
        stored = self.changes.get("poll_interval_seconds", self.feed.poll_interval_seconds)
        interval = clamp(timedelta(seconds=stored) if stored else DEFAULT_INTERVAL,
                         self.ctx.schedule.min_interval, self.ctx.schedule.max_interval)
        declared = self.changes.get("declared_interval_seconds", self.feed.declared_interval_seconds)
        floors = [max_age(response.headers), timedelta(seconds=declared) if declared else None]
        self.changes.update(failure_score=0.0, consecutive_failures=0, last_success_at=self.now)
        self._finish(outcome, seen=seen, new=new, next_poll_at=self.now + next_poll_interval(interval, floors))

    def _finish(self, outcome: str, *, seen: int = 0, new: int = 0, error: str | None = None,
                next_poll_at: datetime | None = None) -> None:
        if next_poll_at is not None:
            self.changes["next_poll_at"] = next_poll_at
        log.info("feed %s: %s%s", self.feed.url, outcome, f", {new} new of {seen} entries" if seen else "")
        fetch = store.FeedFetch(
            feed_id=self.feed.id, run_id=self.ctx.run_id, url=self.feed.url, started_at=self.started_at,
            finished_at=self.now, http_status=self.log["http_status"], bytes=self.log["bytes"], entries_seen=seen,
            entries_new=new, error=error, raw_archive_key=self.log["archive_key"], outcome=outcome,
            conditional=bool(self.request.etag or self.request.last_modified), problem=self.log["problem"],
        )
        self.writes.append(update_feed_statement(self._cur, self.feed.id, self.changes))
        self.writes.append(store.feed_fetch_statement(self._cur, fetch))
        if self.in_savepoint:
            self._cur.execute("RELEASE SAVEPOINT poll")

    @property
    def cur(self):
        """The cursor, inside savepoint `poll` from the first statement this feed sends on."""
        if not self.in_savepoint:
            self._cur.execute("SAVEPOINT poll")
            self.in_savepoint = True
        return self._cur

    # -- pieces --------------------------------------------------------------------------------------

    def _archive(self, response: RawResponse) -> None:
        """Archive before the transaction that names the key commits; identical payloads are written once."""
        record = archive_response(self.ctx.archive, "feeds", response)
        self.ctx.counts.bytes_archived += record.bytes_written
        self.log.update(http_status=response.status, bytes=len(response.body), archive_key=record.key)

    def _keep_validators(self, response: RawResponse, *, replace_missing: bool) -> None:
        self.log["http_status"] = self.log["http_status"] or response.status
        for column, header in (("etag", "etag"), ("last_modified", "last-modified")):
            value = _header(response, header)
            if value or replace_missing:
                self.changes[column] = value

    def _distrust_validators(self, why: str) -> None:
        note = f"conditional GET off: server {why}"
        log.warning("feed %s: %s", self.feed.url, note)
        self.changes.update(conditional_get=False, conditional_get_note=note)
        self.log["problem"] = note

    def _follow_permanent_redirect(self, fetched: Fetched) -> None:
        """Move the feed to where 301/308 point once REDIRECT_CONFIRMATIONS polls in a row agree."""
        target = fetched.permanent_target
        if target is None:
            if self.feed.redirect_target:
                self.changes.update(redirect_target=None, redirect_confirmations=0)
            return
        confirmations = self.feed.redirect_confirmations + 1 if target == self.feed.redirect_target else 1
        if confirmations < REDIRECT_CONFIRMATIONS:
            self.changes.update(redirect_target=target, redirect_confirmations=confirmations)
            return
        self.cur.execute("SELECT id FROM feeds WHERE url = %s", (target,))
        duplicate = self.cur.fetchone()
        if duplicate:
            self.log["problem"] = f"moved permanently to {target}, already registered as feed {duplicate[0]}"
            self.changes.update(redirect_target=target, redirect_confirmations=confirmations)
            return
        log.info("feed %s moved permanently to %s", self.feed.url, target)
        self.changes.update(url=target, redirect_target=None, redirect_confirmations=0)

    def _record_entries(self, parsed: ParsedFeed) -> tuple[int, int]:
        entries = parsed.entries
        if self.feed.entry_identity == "guid":
            by_link = {e.link: e.guid for e in entries if e.link and e.guid != canonical_link(e.link)}
            clash = reappearing_link(self.cur, self.feed.id, by_link)
            if clash:
                link, old, new = clash
                self.changes.update(entry_identity="link",
                                    entry_identity_note=f"unstable GUIDs: {link} came back as {new!r} (was {old!r})")
        if self.changes.get("entry_identity", self.feed.entry_identity) == "link":
            seen_links = links_already_seen(self.cur, self.feed.id, [e.link for e in entries if e.link])
            entries = [with_link_identity(e) for e in entries if e.link not in seen_links]
        return len(parsed.entries), store.record_entries(self.cur, self.feed.id, entries)
