"""Run: one batch from the command line, composed from the stages (pipeline.stages) in order."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

from pipeline import db, stages, store
from pipeline.config import Settings
from pipeline.feeds import FeedSpec, load_feed_list, register_feeds

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class RunSummary:
    """A finished batch's counters, as stored on its `ingest_runs` row."""

    run_id: int
    feeds_polled: int
    feeds_failed: int
    new_entries: int
    pages_fetched: int
    articles_processed: int
    articles_loaded: int
    articles_failed: int
    bytes_archived: int
    stage_seconds: dict[str, float] = field(default_factory=dict)
    details: dict[str, int] = field(default_factory=dict)  # counters a stage returns beyond the batch's own
    runs_abandoned: int = 0  # earlier batches found 'running' with their worker gone, marked abandoned first
    failed_feeds: list[tuple[str, str]] = field(default_factory=list)  # (feed URL, why) for each feed that failed
    failed_entries: list[tuple[str, str]] = field(default_factory=list)  # (link, why) for each entry that failed
    entries_joined_known_article: int = 0  # entries whose article was already stored (another feed's copy)


Step = Callable[[Settings, int], dict]  # a stage called with the batch id, returning its counters


def run_batch(settings: Settings, feeds_file: Path | None = None, poll_all: bool = False,
              on_progress: stages.ProgressCallback | None = None) -> RunSummary:
    """Register the feeds in `feeds_file` (if given), poll the due feeds (all with `poll_all`), fetch the new
    entries' pages, and process them into articles and stories. `on_progress(stage, done, total)` hears how far
    each stage has come (total None while not known)."""
    specs = load_feed_list(feeds_file) if feeds_file else []
    steps = [partial(stages.poll_fetch_and_process, include_not_due=poll_all, on_progress=on_progress)]
    return run_steps(settings, steps, specs)


def run_steps(settings: Settings, steps: Sequence[Step], feeds: Sequence[FeedSpec] = ()) -> RunSummary:
    """Run stages in order as one batch, after registering `feeds`.

    The batch is owned by this process's database session: if the process dies, the session ends, its claims
    lapse, and the next run (this function, first thing) or the maintenance task marks the batch abandoned. A
    stage's exception fails the batch (an unusable archive before any feed is polled); a signal's (Interrupted,
    KeyboardInterrupt, SystemExit) marks it interrupted. A lost database connection is raised as
    DatabaseConnectionLost, whose message says so in one line, after the batch is marked failed on a new
    connection when the database is back."""
    with stages.open_pipeline(settings) as pipe:
        with db.transaction(pipe.conn) as cur:
            abandoned = store.abandon_dead_runs(cur)
            register_feeds(cur, list(feeds))
            run_id = store.start_run(cur)
        details: Counter = Counter()
        try:
            pipe.archive.check()
            for step in steps:
                details.update({k: v for k, v in step(pipe.settings, run_id).items() if k not in store.RUN_COUNTERS})
        except BaseException as error:
            failed = isinstance(error, Exception)
            message = (db.describe_lost_connection(error) if db.lost_connection(error)
                       else stages.describe_error(error) if failed else str(error) or type(error).__name__)
            _record_end(pipe, run_id, "failed" if failed else "interrupted", message)
            if db.lost_connection(error) and not isinstance(error, db.DatabaseUnavailable):
                raise db.DatabaseConnectionLost(message) from error
            raise
        with db.transaction(pipe.conn) as cur:
            report = store.run_report(cur, run_id)
            return RunSummary(run_id, **store.finish_run(cur, run_id), details=dict(details),
                              failed_feeds=report.failed_feeds, failed_entries=report.failed_entries,
                              entries_joined_known_article=report.entries_joined_known_article,
                              runs_abandoned=abandoned)


def _record_end(pipe: stages.Pipeline, run_id: int, status: str, error: str) -> None:
    """Close the batch as failed or interrupted, on a new connection if the old one was lost (the database may
    be back after a restart). When the database stays away, the batch is left for the next run to abandon."""
    try:
        try:
            _finish(pipe.conn, run_id, status, error)
        except Exception as failure:
            if not db.lost_connection(failure):
                raise
            conn = db.connect(pipe.settings.database_url)
            try:
                _finish(conn, run_id, status, error)
            finally:
                conn.close()
    except Exception as failure:
        if not db.lost_connection(failure):
            raise
        log.warning("batch %s could not be marked %s: %s", run_id, status, db.describe_lost_connection(failure))


def _finish(conn, run_id: int, status: str, error: str) -> None:
    with db.transaction(conn) as cur:
        store.finish_run(cur, run_id, status, error)
