"""Run: one batch from the command line, composed from the stages (pipeline.stages) in order."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline import db, stages, store
from pipeline.config import Settings
from pipeline.feeds import load_feed_list, register_feeds


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


def run_batch(settings: Settings, feeds_file: Path | None = None, poll_all: bool = False) -> RunSummary:
    """Register the feeds in `feeds_file` (if given), poll the due feeds (all with `poll_all`), fetch the new
    entries' pages, and process them into articles and stories.

    The batch is owned by this process's database session: if the process dies, the session ends and the next
    run or the maintenance task marks the batch abandoned."""
    specs = load_feed_list(feeds_file) if feeds_file else []
    with stages.open_pipeline(settings) as pipe:
        with db.transaction(pipe.conn) as cur:
            register_feeds(cur, specs)
            run_id = store.start_run(cur)
        try:
            stages.poll(pipe.settings, run_id, include_not_due=poll_all)
            stages.fetch(pipe.settings, run_id)
            stages.process(pipe.settings, run_id)
        except BaseException as error:
            failed = isinstance(error, Exception)
            with db.transaction(pipe.conn) as cur:
                store.finish_run(cur, run_id, "failed" if failed else "interrupted",
                                 stages.describe_error(error) if failed else type(error).__name__)
            raise
        with db.transaction(pipe.conn) as cur:
            return RunSummary(run_id, **store.finish_run(cur, run_id))
