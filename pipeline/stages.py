"""Stages: poll, fetch, process and replay, each callable on its own by a CLI command or an Airflow task.

The archive is the hand-off between the network and the CPU: `fetch` archives every page's response and
records its key on the entry (state 'fetched'); `process` reads the response back from the archive, so a page
fetched by one process or machine is processed by another, and `reprocess` replays the same records after
the rules changed. Every stage opens what it needs from a picklable `Settings`, adds its counters and
seconds to its batch's `ingest_runs` row (so mapped tasks of one Airflow run add up), and returns its own
counters. Work is claimed with `FOR UPDATE SKIP LOCKED` by the worker's Postgres session, so any number of
workers can run a stage at once, and a dead worker's claims lapse with its session.
"""
from __future__ import annotations

import gc
import logging
import multiprocessing
import signal
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterator
from urllib.parse import urlsplit

import psycopg2

from pipeline import db, dedupe, store
from pipeline.archive import (Archive, RawResponse, S3Credentials, archive_response, open_archive,
                              read_response)
from pipeline.article import NoArticleText, PageUnavailable, article_from_response
from pipeline.children import worker_process_context
from pipeline.clean import PUBLISHER_RULES_FILE, RuleSet, load_rules, publisher_domain
from pipeline.config import Settings
from pipeline.crawler import Crawler
from pipeline.domains import apply_stored_domain_state, lease_domains, record_new_holds, record_next_requests
from pipeline.feeds import due_feeds
from pipeline.fetch import FetchError, FetchPolicy
from pipeline.learned import known_templates, learned_lines, record_article_lines, record_template_blocks
from pipeline.parse import FeedParseError
from pipeline.polling import PollContext, ProgressCallback, as_completed_batches, poll_feeds
from pipeline.politeness import BudgetSettings, registrable_domain
from pipeline.schedule import ScheduleSettings
from pipeline.timing import StageClock

log = logging.getLogger(__name__)

FETCH_BATCH_SIZE = 50  # entries claimed, and their pages fetched at once, per round
PROCESS_CHUNK_SIZE = 10  # entries a process worker claims at a time: small, so workers share the tail evenly
FOLLOW_INTERVAL = 0.2  # seconds a process worker waits for more pages while its batch is still fetching
STOP_INTERVAL = 0.2  # seconds between rounds of stopping the process workers of an interrupted batch
FETCH_LOCK_SPACE = 0x66657463  # "fetc": advisory lock (space, run id) held while a batch is fetching


@dataclass
class Pipeline:
    """The resources a stage works with; `crawler` only for stages that fetch."""

    conn: object
    archive: Archive
    settings: Settings
    crawler: Crawler | None = None


def archive_for(settings: Settings) -> Archive:
    credentials = None
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        credentials = S3Credentials(settings.s3_access_key_id, settings.s3_secret_access_key, settings.s3_region)
    return open_archive(settings.effective_archive_url, settings.s3_endpoint_url, credentials)


@contextmanager
def open_pipeline(settings: Settings, crawl: bool = False) -> Iterator[Pipeline]:
    """Connect (starting the embedded Postgres when no URL is set), migrate, open the archive, and start the
    crawler process when the stage will fetch."""
    database_url = db.resolve_database_url(settings)
    db.migrate(database_url)
    conn = db.connect(database_url)
    crawler = None
    try:
        archive = archive_for(settings)
        if crawl:
            crawler = Crawler(
                FetchPolicy(settings.user_agent, settings.allow_private_addresses),
                BudgetSettings(settings.per_domain_limit, settings.per_domain_delay, settings.fetch_concurrency),
                respect_robots=settings.respect_robots,
            )
        yield Pipeline(conn=conn, archive=archive, settings=settings.model_copy(update={"database_url": database_url}),
                       crawler=crawler)
    finally:
        if crawler:
            crawler.close()
        conn.close()


def describe_error(error: Exception) -> str:
    """Our own errors say what went wrong in their message; anything else is named by its type too."""
    if isinstance(error, (FetchError, FeedParseError, NoArticleText, PageUnavailable)):
        return str(error)
    return f"{type(error).__name__}: {error}"


# -- batches ------------------------------------------------------------------------------------------------

def start_run(settings: Settings, airflow_run_id: str | None = None) -> int:
    """Open a batch (an `ingest_runs` row) for an orchestrator such as Airflow, whose tasks add their counters
    to it and close it with `finish_run`; returns its id. (A command-line batch is opened by pipeline.run.)"""
    with open_pipeline(settings) as pipe, db.transaction(pipe.conn) as cur:
        return store.start_run(cur, airflow_run_id, owned_by_session=False)


def finish_run(settings: Settings, run_id: int, error: str | None = None, status: str | None = None) -> dict:
    """Close the batch: 'finished', or 'failed' with `error` (or the given status); returns its counters."""
    with open_pipeline(settings) as pipe, db.transaction(pipe.conn) as cur:
        return store.finish_run(cur, run_id, status or ("failed" if error else "finished"), error)


def _add_to_run(conn, run_id: int, counts: Counter, clock: StageClock) -> None:
    with db.transaction(conn) as cur:
        store.add_run_counters(cur, run_id, {k: v for k, v in counts.items() if k in store.RUN_COUNTERS}, clock.take())


# -- poll ---------------------------------------------------------------------------------------------------

def shard_by_domain(feeds: list[tuple[int, str]], max_shards: int) -> list[list[int]]:
    """Split (feed id, url) pairs into at most `max_shards` shards of similar size, never splitting a registrable
    domain, so each shard's worker leases its domains alone. Largest domains are placed first."""
    by_domain: dict[str, list[int]] = {}
    for feed_id, url in feeds:
        by_domain.setdefault(registrable_domain(url), []).append(feed_id)
    shards: list[list[int]] = [[] for _ in range(min(max_shards, len(by_domain)))]
    for domain in sorted(by_domain, key=lambda d: (-len(by_domain[d]), d)):
        min(shards, key=len).extend(by_domain[domain])
    return [sorted(shard) for shard in shards]


def plan_poll(settings: Settings, max_shards: int, include_not_due: bool = False) -> list[list[int]]:
    """The ids of the feeds due now (every enabled feed with `include_not_due`), in shards by domain."""
    with open_pipeline(settings) as pipe, db.transaction(pipe.conn) as cur:
        feeds = due_feeds(cur, include_not_due)
    return shard_by_domain([(feed.id, feed.url) for feed in feeds], max_shards)


def poll(settings: Settings, run_id: int, feed_ids: list[int] | None = None, include_not_due: bool = False,
         on_progress: ProgressCallback | None = None) -> dict:
    """Poll the given feeds that are still due (all due feeds when None) and record their new entries."""
    with open_pipeline(settings, crawl=True) as pipe:
        return _poll(pipe, run_id, feed_ids, include_not_due, on_progress)


def _poll(pipe: Pipeline, run_id: int, feed_ids: list[int] | None, include_not_due: bool,
          on_progress: ProgressCallback | None) -> dict:
    clock = StageClock()
    settings = pipe.settings
    with db.transaction(pipe.conn) as cur:
        feeds = due_feeds(cur, include_not_due)
    if feed_ids is not None:
        wanted = set(feed_ids)
        feeds = [feed for feed in feeds if feed.id in wanted]
    with clock.measure("poll"):
        polled = poll_feeds(PollContext(
            conn=pipe.conn, archive=pipe.archive, crawler=pipe.crawler, run_id=run_id,
            schedule=ScheduleSettings(timedelta(seconds=settings.poll_min_interval),
                                      timedelta(seconds=settings.poll_max_interval)),
            per_domain_delay=settings.per_domain_delay, on_progress=on_progress,
            max_new_entries=settings.max_new_entries_per_poll,
        ), feeds)
    counts = Counter(feeds_polled=polled.polled, feeds_failed=polled.failed, new_entries=polled.new_entries,
                     bytes_archived=polled.bytes_archived)
    _add_to_run(pipe.conn, run_id, counts, clock)
    return dict(counts)


# -- fetch --------------------------------------------------------------------------------------------------

def fetch(settings: Settings, run_id: int, on_progress: ProgressCallback | None = None) -> dict:
    """Fetch the pages of pending entries until none is left, archiving every response.

    Entries are claimed a batch at a time; a batch's pages are fetched at once within the per-domain budget,
    archived, and recorded on their entries (state 'fetched') in one transaction. Entries this batch already
    tried are left for the next. A page that could not be fetched counts an attempt against its entry."""
    with open_pipeline(settings, crawl=True) as pipe:
        return _fetch(pipe, run_id, on_progress)


def _fetch(pipe: Pipeline, run_id: int, on_progress: ProgressCallback | None) -> dict:
    since = _run_started_at(pipe.conn, run_id)
    totals: Counter = Counter()
    try:
        while True:
            with db.transaction(pipe.conn) as cur:
                entries = store.claim_entries_to_fetch(cur, since, FETCH_BATCH_SIZE)
            if not entries:
                return dict(totals)
            totals.update(_fetch_batch(pipe, run_id, entries))
            if on_progress:
                on_progress("fetch", totals["pages_fetched"] + totals["articles_failed"], None)
    finally:
        _release_claims(pipe.conn)


def _run_started_at(conn, run_id: int) -> datetime:
    with db.transaction(conn) as cur:
        cur.execute("SELECT started_at FROM ingest_runs WHERE id = %s", (run_id,))
        row = cur.fetchone()
    if row is None:
        raise LookupError(f"no batch {run_id} in ingest_runs")
    return row[0]


def _release_claims(conn) -> None:
    """Hand back whatever this session still claims. A connection already lost has released them with its
    session, so its error is not raised over the one that ended the stage."""
    if conn.closed:
        return
    try:
        conn.rollback()
        with db.transaction(conn) as cur:
            store.release_claims(cur)
    except psycopg2.Error as error:
        if not db.lost_connection(error):
            raise


def _fetch_batch(pipe: Pipeline, run_id: int, entries: list[store.ClaimedEntry]) -> Counter:
    """Fetch a batch's pages at once, holding their domains' leases against other workers meanwhile, and record
    each page as soon as it is archived, a few at a time, so processing can start on it while the rest arrive.
    A domain that asked us to stay away (429/503 with Retry-After) is held in Postgres for every worker."""
    refused = [(entry.id, reason) for entry in entries if (reason := unfetchable_link(entry.link))]
    totals = _record_unfetchable(pipe, run_id, refused)
    linked = [entry for entry in entries if not unfetchable_link(entry.link)]
    domains = {registrable_domain(entry.link) for entry in linked}
    with lease_domains(pipe.conn, domains, wait=True) as leased:
        apply_stored_domain_state(pipe.crawler, leased)
        started, recording = time.perf_counter(), 0.0
        pages = {pipe.crawler.fetch_page(entry.link): entry for entry in linked}
        for done in as_completed_batches(pages):
            recording_started = time.perf_counter()
            totals.update(_record_fetches(pipe, run_id, [(pages[page], page) for page in done]))
            recording += time.perf_counter() - recording_started
        with db.transaction(pipe.conn) as cur:
            record_new_holds(cur, pipe.crawler)
            record_next_requests(cur, sorted(domains), pipe.settings.per_domain_delay)
            waiting = time.perf_counter() - started - recording  # the time the batch waited for the network
            store.add_run_counters(cur, run_id, {}, {"fetch": waiting})
    return totals


def _record_fetches(pipe: Pipeline, run_id: int, answers: list[tuple[store.ClaimedEntry, Future]]) -> Counter:
    """Archive the answered pages and record them on their entries (state 'fetched'), or count a failed attempt,
    in one transaction."""
    clock, counts = StageClock(), Counter()
    fetched, failures = [], []
    for entry, page in answers:
        try:
            result = page.result()
        except FetchError as error:
            failures.append((entry.id, describe_error(error)))
            continue
        with clock.measure("archive"):
            if result.robots is not None:
                counts["bytes_archived"] += archive_response(pipe.archive, "robots", result.robots).bytes_written
            response = result.fetched.response
            record = archive_response(pipe.archive, "pages", response)
        counts["bytes_archived"] += record.bytes_written
        counts["pages_fetched"] += 1
        fetched.append((entry.id, record.key, response.status, response.fetched_at))
    counts["articles_failed"] += len(failures)
    with db.transaction(pipe.conn) as cur:
        store.mark_entries_fetched(cur, fetched)
        for entry_id, error in failures:
            store.record_entry_failure(cur, entry_id, error)
        store.add_run_counters(cur, run_id, dict(counts), clock.take())
    return counts


def unfetchable_link(link: str | None) -> str | None:
    """Why an entry's link can never be fetched (no link; not http(s): javascript:, file:, data:, mailto:...),
    or None. Such an entry fails at once: retrying cannot help."""
    if not link:
        return "the entry has no link to fetch"
    scheme = urlsplit(link).scheme.lower()
    if scheme not in {"http", "https"} or not urlsplit(link).hostname:
        return f"not fetched: {scheme or 'relative'}: links are never fetched (only http and https)"
    return None


def _record_unfetchable(pipe: Pipeline, run_id: int, refused: list[tuple[int, str]]) -> Counter:
    """Fail, once and for good, the entries whose links can never be fetched, with the reason."""
    if not refused:
        return Counter()
    with db.transaction(pipe.conn) as cur:
        for entry_id, reason in refused:
            store.record_entry_failure(cur, entry_id, reason, final=True)
        store.add_run_counters(cur, run_id, {"articles_failed": len(refused)}, {})
    return Counter(articles_failed=len(refused))


# -- process and replay -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProcessJob:
    """What one process worker does: process fetched entries for a batch, or replay archived ones."""

    settings: Settings
    run_id: int
    replay: store.ReplaySelection | None = None


def process(settings: Settings, run_id: int, workers: int | None = None) -> dict:
    """Process fetched entries until none is left: read each response back from the archive, extract → clean →
    normalize, store, and put the article into its story. Runs `workers` processes (settings.process_workers by
    default); each claims small chunks of entries, so memory stays flat whatever the batch size. While the
    batch is still fetching (`poll_fetch_and_process`), workers wait for more pages instead of stopping."""
    return _run_workers(ProcessJob(_resolved(settings), run_id), workers or settings.process_workers)


def poll_fetch_and_process(settings: Settings, run_id: int, include_not_due: bool = False,
                           workers: int | None = None, on_progress: ProgressCallback | None = None) -> dict:
    """Poll, then fetch, on one pipeline (one crawler process), while a pool of process workers (at least one
    process) takes each page as soon as it is archived, so the CPU work overlaps the network's waiting (with a
    per-domain delay, fetching is mostly waiting). The workers start before the poll, so their start-up
    (imports, models) overlaps the poll too. Returns the counters of all three stages.

    While this runs, a Postgres session holds a shared advisory lock on the batch (FETCH_LOCK_SPACE, run id);
    process workers that find nothing to claim keep waiting as long as someone holds it. If this process dies,
    its session and lock go with it and the workers finish what was fetched."""
    settings = _resolved(settings)
    signal_conn = db.connect(settings.database_url)
    signal_conn.autocommit = True
    with signal_conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock_shared(%s, %s)", (FETCH_LOCK_SPACE, _lock_id(run_id)))
    with ThreadPoolExecutor(1, thread_name_prefix="process") as background:
        processing = background.submit(_run_pool, ProcessJob(settings, run_id), workers or settings.process_workers)
        try:
            with open_pipeline(settings, crawl=True) as pipe:
                polled = _poll(pipe, run_id, None, include_not_due, on_progress)
                fetched = _fetch(pipe, run_id, on_progress)
        except BaseException:  # interrupted, or fetching failed: the workers stop now and hand back their claims
            _stop_pool(processing)
            raise
        finally:
            signal_conn.close()
        processed = processing.result()
    if on_progress:
        on_progress("process", processed.get("articles_processed", 0), processed.get("articles_processed", 0))
    return {**polled, **fetched, **processed}


def _stop_pool(processing: Future) -> None:
    """Stop the process workers, again and again until the pool's thread has ended.

    The pool starts its workers one at a time through the fork server, on its own thread; one stop alone misses
    a worker that was still starting (a busy machine makes that likely), and such a worker outlives the batch:
    it holds the batch's output open and, once its parent is gone, dies on the end of its job queue with a
    traceback."""
    while not processing.done():
        _stop_workers()
        wait([processing], timeout=STOP_INTERVAL)


def _lock_id(run_id: int) -> int:
    return run_id % 2**31


def _still_fetching(conn, run_id: int) -> bool:
    with db.transaction(conn) as cur:
        cur.execute(
            """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                              AND classid = %s AND objid = %s AND objsubid = 2)""",
            (FETCH_LOCK_SPACE, _lock_id(run_id)),
        )
        return cur.fetchone()[0]


def reprocess(
    settings: Settings,
    run_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    feed: str | None = None,
    publisher: str | None = None,
    workers: int | None = None,
) -> dict:
    """Replay processing from the archive, as batch `run_id`, for the loaded entries fetched in [since, until),
    of one feed URL or publisher, without touching the network; updates the derived rows in place.

    Uses the rules and learned boilerplate known now (replay is how improved cleaning reaches old articles), and
    learns nothing from the replayed copies, which were counted when first loaded. Returns how many articles
    were replayed and changed, and how many stories gained, lost or merged copies."""
    selection = store.ReplaySelection(since, until, feed, publisher)
    return _run_workers(ProcessJob(_resolved(settings), run_id, selection), workers or settings.process_workers)


def _resolved(settings: Settings) -> Settings:
    """Settings whose database URL is set, so worker processes join the same (possibly embedded) server."""
    return settings.model_copy(update={"database_url": db.resolve_database_url(settings)})


def _run_workers(job: ProcessJob, workers: int) -> dict:
    """`workers` processes, or this one alone for a single worker."""
    return dict(process_worker(job)) if workers <= 1 else _run_pool(job, workers)


def _run_pool(job: ProcessJob, workers: int) -> dict:
    totals: Counter = Counter()
    with ProcessPoolExecutor(workers, mp_context=worker_process_context(),
                             initializer=prepare_worker) as pool:
        try:
            for counts in pool.map(process_worker, [job] * workers):
                totals.update(counts)
        except BaseException:  # interrupted (or a worker failed): stop the others now; they hand back their claims
            _stop_workers()
            raise
    return dict(totals)


def _stop_workers() -> None:
    for worker in multiprocessing.active_children():
        worker.terminate()


def prepare_worker() -> None:
    """In a worker process: Ctrl-C reaches the whole process group, but only the parent decides what stops; when
    it stops a worker (SIGTERM), the worker leaves by an exception, so it hands its claims back on the way out
    (`process_worker`'s finally) instead of leaving them to lapse with its session.

    The objects the worker forked with (the code, trafilatura's tables, the language model) are frozen out of the
    garbage collector: its collections otherwise walk them again and again, 0.69 against 0.27 ms of a page's
    processing, and touching them copies pages the worker shares with the fork server."""
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _leave)


def _leave(signum: int, frame: object) -> None:
    raise SystemExit()  # without a message: nothing is printed, wherever in the worker it is raised


def process_worker(job: ProcessJob) -> Counter:
    """One worker's loop: claim a chunk, process it, add its counters to the batch, until nothing is left.

    Commits are asynchronous in this session (synchronous_commit off): a Postgres crash may lose the last
    fraction of a second of loaded articles, whose entries then stay 'fetched' and are processed again;
    nothing is corrupted or half-written, and the worker no longer waits for a disk flush per article."""
    conn = db.connect(job.settings.database_url)
    totals: Counter = Counter()
    try:
        with db.transaction(conn) as cur:
            cur.execute("SET synchronous_commit = off")
        rules = load_rules(job.settings.rules_file or PUBLISHER_RULES_FILE)
        worker = _ProcessWorker(conn, archive_for(job.settings), rules, job)
        while True:
            with db.transaction(conn) as cur:
                entries = (store.claim_entries_to_replay(cur, job.run_id, job.replay, PROCESS_CHUNK_SIZE) if job.replay
                           else store.claim_entries_to_process(cur, PROCESS_CHUNK_SIZE))
            if not entries and not job.replay and _still_fetching(conn, job.run_id):
                time.sleep(FOLLOW_INTERVAL)
                continue
            if not entries:
                if totals:
                    totals["busy_workers"] = 1
                return totals
            counts = Counter()
            for entry in entries:
                counts.update(worker.process(entry))
            _add_to_run(conn, job.run_id, counts, worker.clock)
            totals.update(counts)
    finally:
        _release_claims(conn)
        conn.close()


class _ProcessWorker:
    def __init__(self, conn, archive: Archive, rules: RuleSet, job: ProcessJob) -> None:
        self.conn, self.archive, self.rules, self.job = conn, archive, rules, job
        self.clock = StageClock()

    def process(self, entry: store.ClaimedEntry) -> Counter:
        """Process one entry in a transaction of its own; a bad page is recorded on its entry and costs only it."""
        with self.clock.measure("archive"):
            response = read_response(self.archive, entry.fetch_archive_key)
        try:
            with db.transaction(self.conn) as cur:
                return self._store(cur, entry, response)
        except Exception as error:  # one bad page must not stop the batch: record it on the entry
            if db.lost_connection(error):
                raise  # the database is gone: that is the run's failure, not this entry's
            log.warning("entry %s (%s) failed: %s", entry.id, entry.link, describe_error(error),
                        exc_info=not isinstance(error, (NoArticleText, PageUnavailable)))
            with db.transaction(self.conn) as cur:
                if self.job.replay:
                    store.record_replay_failure(cur, entry.id, self.job.run_id, describe_error(error))
                else:
                    store.record_entry_failure(cur, entry.id, describe_error(error))
            return Counter(articles_processed=1, articles_failed=1)

    def _store(self, cur, entry: store.ClaimedEntry, response: RawResponse) -> Counter:
        publisher = publisher_domain(response.url)
        article = article_from_response(
            response.status, response.reason, response.body, response.url, entry_link=entry.link,
            feed_text=entry.feed_text, entry_title=entry.title, fallback_published=entry.published_at, rules=self.rules,
            learned=learned_lines(cur, publisher), templates=known_templates(cur, publisher), clock=self.clock,
        )
        before = self._stored_copy(cur, article.canonical_url) if self.job.replay else None
        with self.clock.measure("load"):
            article_id, outcome = store.upsert_article(cur, article, entry, self.job.run_id, entry.fetch_archive_key)
        with self.clock.measure("dedupe"):
            decision = dedupe.assign_story(cur, article_id)
        with self.clock.measure("load"):
            store.mark_entry_loaded(cur, entry.id, article_id, self.job.run_id)
            if not self.job.replay:  # last: the publisher's counter rows they update stay locked until the commit
                record_article_lines(cur, article.publisher, article_id, article.learnable_lines)
                record_template_blocks(cur, article.publisher, article_id, article.template_fingerprints)
        counts = Counter(articles_processed=1, articles_loaded=int(outcome == "added"))
        if self.job.replay:
            counts.update(_replay_changes(before, article.content_sha256, article.title, decision))
        return counts

    @staticmethod
    def _stored_copy(cur, canonical_url: str) -> tuple[int | None, str, str | None] | None:
        """(story id, body digest, title) of the copy stored under this canonical URL, if any."""
        cur.execute("SELECT story_id, content_sha256, title FROM articles WHERE canonical_url = %s", (canonical_url,))
        return cur.fetchone()


def _replay_changes(before: tuple[int | None, str, str | None] | None, content_sha256: str, title: str | None,
                    decision: dedupe.StoryDecision) -> Counter:
    """What replaying one copy changed: its body or headline; its story (the old one lost a copy, the new one
    gained it); the stories it merged."""
    counts = Counter(stories_merged=len(decision.merged_story_ids))
    if before is None:
        return counts
    story_before, sha_before, title_before = before
    counts["articles_changed"] = int((sha_before, title_before) != (content_sha256, title))
    if story_before is not None and story_before != decision.story_id and story_before not in decision.merged_story_ids:
        counts.update(stories_lost_copy=1, stories_gained_copy=1)
    return counts


# -- maintenance --------------------------------------------------------------------------------------------

def expire_stale_claims(settings: Settings) -> int:
    """Release the claims of workers whose database session has ended; returns how many entries were freed."""
    with open_pipeline(settings) as pipe, db.transaction(pipe.conn) as cur:
        cur.execute(f"""UPDATE entries e SET {store.RELEASE_CLAIM}
                        WHERE e.claimed_by_pid IS NOT NULL AND {store.CLAIM_LAPSED}""")
        return cur.rowcount


def abandon_dead_runs(settings: Settings, orchestrated_older_than: timedelta | None = None) -> int:
    """Mark 'abandoned' the running batches whose owning session has ended, and (given an age) orchestrated
    batches still running after that long; returns how many. The maintenance DAG calls this; every
    command-line run does the first part itself."""
    with open_pipeline(settings) as pipe, db.transaction(pipe.conn) as cur:
        return store.abandon_dead_runs(cur, orchestrated_older_than)


def prune_feed_fetches(settings: Settings, older_than: timedelta) -> int:
    """Delete poll log rows older than `older_than`; returns how many."""
    with open_pipeline(settings) as pipe, db.transaction(pipe.conn) as cur:
        cur.execute("DELETE FROM feed_fetches WHERE started_at < now() - %s", (older_than,))
        return cur.rowcount


def feed_health(settings: Settings) -> list[dict]:
    """One small dict per feed: id, url, enabled, last success, last error, consecutive failures, next poll."""
    with open_pipeline(settings) as pipe, db.transaction(pipe.conn) as cur:
        cur.execute(
            """SELECT id, url, enabled, disabled_reason, last_success_at, last_error, consecutive_failures, next_poll_at
               FROM feeds ORDER BY id"""
        )
        names = [column.name for column in cur.description]
        return [{name: _plain(value) for name, value in zip(names, row)} for row in cur.fetchall()]


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def refresh_statistics(settings: Settings) -> None:
    """ANALYZE feedpipe's tables so the planner's estimates follow their growth."""
    database_url = db.resolve_database_url(settings)
    conn = db.connect(database_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ANALYZE feeds, feed_fetches, entries, articles, stories, dedupe_keys, ingest_runs")
    finally:
        conn.close()

