"""Run: one batch, composed from the stages. The CLI and the Airflow DAGs call these functions."""
from __future__ import annotations

import logging
from concurrent.futures import Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from pipeline import db, dedupe, store
from pipeline.archive import Archive, RawResponse, archive_response, open_archive
from pipeline.article import NoArticleText, PageUnavailable, article_from_response
from pipeline.clean import publisher_domain
from pipeline.config import Settings
from pipeline.crawler import Crawler, PageFetch
from pipeline.feeds import (due_feeds, lease_domains, load_feed_list, record_domain_hold, record_next_requests,
                            register_feeds)
from pipeline.fetch import FetchError, FetchPolicy
from pipeline.learned import known_templates, learned_lines, record_article_lines, record_template_blocks
from pipeline.parse import FeedParseError
from pipeline.polling import PollContext, apply_stored_domain_state, poll_feeds
from pipeline.politeness import BudgetSettings, registrable_domain
from pipeline.schedule import ScheduleSettings

log = logging.getLogger(__name__)

ARTICLE_BATCH_SIZE = 50  # entries claimed, and their pages fetched at once, per round
CLAIM_LEASE = timedelta(minutes=15)  # how long a claim keeps other workers off an entry


@dataclass
class RunSummary:
    run_id: int
    feeds_polled: int = 0
    feeds_failed: int = 0
    new_entries: int = 0
    articles_loaded: int = 0
    articles_failed: int = 0
    bytes_archived: int = 0
    article_ids: list[int] = field(default_factory=list)

    def counters(self) -> dict[str, int]:
        return {
            "feeds_polled": self.feeds_polled,
            "feeds_failed": self.feeds_failed,
            "new_entries": self.new_entries,
            "articles_loaded": self.articles_loaded,
            "articles_failed": self.articles_failed,
            "bytes_archived": self.bytes_archived,
        }


@dataclass
class Pipeline:
    """The resources one batch works with."""

    conn: object
    archive: Archive
    crawler: Crawler
    settings: Settings


@contextmanager
def open_pipeline(settings: Settings) -> Iterator[Pipeline]:
    """Connect (starting the embedded Postgres when no URL is set), migrate, and open the archive."""
    database_url = db.resolve_database_url(settings)
    db.migrate(database_url)
    conn = db.connect(database_url)
    crawler = Crawler(
        FetchPolicy(settings.user_agent, settings.allow_private_addresses),
        BudgetSettings(settings.per_domain_limit, settings.per_domain_delay, settings.fetch_concurrency),
        respect_robots=settings.respect_robots,
    )
    try:
        yield Pipeline(
            conn=conn,
            archive=open_archive(settings.effective_archive_url, settings.s3_endpoint_url),
            crawler=crawler,
            settings=settings,
        )
    finally:
        crawler.close()
        conn.close()


def describe_error(error: Exception) -> str:
    """Our own errors say what went wrong in their message; anything else is named by its type too."""
    if isinstance(error, (FetchError, FeedParseError, NoArticleText, PageUnavailable)):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _archive(pipe: Pipeline, kind: str, response: RawResponse, summary: RunSummary) -> str:
    record = archive_response(pipe.archive, kind, response)
    summary.bytes_archived += record.bytes_written
    return record.key


def poll_due_feeds(pipe: Pipeline, summary: RunSummary, include_not_due: bool = False) -> None:
    """Poll the feeds that are due (all enabled ones with `include_not_due`) and record their new entries."""
    with db.transaction(pipe.conn) as cur:
        feeds = due_feeds(cur, include_not_due)
    counts = poll_feeds(PollContext(
        conn=pipe.conn, archive=pipe.archive, crawler=pipe.crawler, run_id=summary.run_id,
        schedule=ScheduleSettings(timedelta(seconds=pipe.settings.poll_min_interval),
                                  timedelta(seconds=pipe.settings.poll_max_interval)),
        per_domain_delay=pipe.settings.per_domain_delay,
    ), feeds)
    summary.feeds_polled += counts.polled
    summary.feeds_failed += counts.failed
    summary.new_entries += counts.new_entries
    summary.bytes_archived += counts.bytes_archived


def load_pending_articles(pipe: Pipeline, summary: RunSummary, since: datetime) -> None:
    """Fetch and load every pending entry's article until none is left.

    Entries are claimed in batches for a lease, so several workers drain the queue at once and the claims of a
    worker that dies expire. A batch's pages are fetched at once within the per-domain budget; each article is
    then stored in a transaction of its own, so one bad page costs only its own entry."""
    while True:
        with db.transaction(pipe.conn) as cur:
            entries = store.claim_pending_entries(cur, since, ARTICLE_BATCH_SIZE, CLAIM_LEASE)
        if not entries:
            return
        pages = _fetch_pages(pipe, entries)
        for entry in entries:
            _load_article(pipe, entry, pages.get(entry.id), summary)


def _fetch_pages(pipe: Pipeline, entries: list[store.PendingEntry]) -> dict[int, Future[PageFetch]]:
    """Fetch the entries' pages concurrently, holding their domains' leases against other workers meanwhile;
    a domain that asked us to stay away (429/503 with Retry-After) is held in Postgres for every worker."""
    linked = [entry for entry in entries if entry.link]
    domains = {registrable_domain(entry.link) for entry in linked}
    with lease_domains(pipe.conn, domains, wait=True) as leased:
        apply_stored_domain_state(pipe.crawler, leased)
        pages = {entry.id: pipe.crawler.fetch_page(entry.link) for entry in linked}
        wait(pages.values())
        with db.transaction(pipe.conn) as cur:
            for hold in pipe.crawler.take_new_holds():
                record_domain_hold(cur, hold.domain, hold.until, hold.reason)
            record_next_requests(cur, sorted(domains), pipe.settings.per_domain_delay)
    return pages


def _load_article(pipe: Pipeline, entry: store.PendingEntry, page: Future[PageFetch] | None,
                  summary: RunSummary) -> None:
    """Store one entry's article, or record on the entry why it could not be loaded."""
    with db.transaction(pipe.conn) as cur:
        try:
            article_id = _store_article(pipe, cur, entry, page, summary)
        except Exception as error:  # one bad page must not stop the batch: record it on the entry
            pipe.conn.rollback()
            log.warning("entry %s (%s) failed", entry.id, entry.link, exc_info=not isinstance(error, FetchError))
            store.record_entry_failure(cur, entry, describe_error(error))
            summary.articles_failed += 1
            return
    summary.article_ids.append(article_id)


def _store_article(pipe: Pipeline, cur, entry: store.PendingEntry, page: Future[PageFetch] | None,
                   summary: RunSummary) -> int:
    if page is None:
        raise NoArticleText("entry has no link")
    fetched = page.result()
    if fetched.robots is not None:
        _archive(pipe, "robots", fetched.robots, summary)
    response = fetched.fetched.response
    archive_key = _archive(pipe, "pages", response, summary)
    publisher = publisher_domain(response.url)
    article = article_from_response(
        response.status, response.reason, response.body, response.url, entry_link=entry.link,
        feed_text=entry.content or entry.summary, fallback_published=entry.published_at,
        learned=learned_lines(cur, publisher), templates=known_templates(cur, publisher),
    )
    article_id, added = store.upsert_article(cur, article, entry, response.fetched_at, archive_key)
    record_article_lines(cur, article.publisher, article_id, article.learnable_lines)
    record_template_blocks(cur, article.publisher, article_id, article.template_fingerprints)
    dedupe.assign_story(cur, article_id)
    store.mark_entry_loaded(cur, entry.id, article_id)
    summary.articles_loaded += added
    return article_id


def run_batch(settings: Settings, feeds_file: Path | None = None, poll_all: bool = False) -> RunSummary:
    """Register the feeds in `feeds_file` (if given), poll the due feeds (all with `poll_all`), load new articles."""
    specs = load_feed_list(feeds_file) if feeds_file else []
    with open_pipeline(settings) as pipe:
        with db.transaction(pipe.conn) as cur:
            register_feeds(cur, specs)
            summary = RunSummary(run_id=store.start_run(cur))
            cur.execute("SELECT started_at FROM ingest_runs WHERE id = %s", (summary.run_id,))
            started_at = cur.fetchone()[0]
        try:
            poll_due_feeds(pipe, summary, include_not_due=poll_all)
            load_pending_articles(pipe, summary, started_at)
        except BaseException as error:
            with db.transaction(pipe.conn) as cur:
                store.finish_run(cur, summary.run_id, summary.counters(), error=repr(error))
            raise
        with db.transaction(pipe.conn) as cur:
            store.finish_run(cur, summary.run_id, summary.counters())
        return summary
