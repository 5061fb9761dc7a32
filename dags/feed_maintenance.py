"""
### feed_maintenance: daily housekeeping

- **expire_stale_claims** releases entries claimed by workers whose database session has ended.
- **abandon_dead_runs** marks 'abandoned' the batches whose worker stopped without finishing them, and the
  Airflow batches still running after `abandon_after_hours`.
- **prune_feed_fetches** deletes poll log rows older than `retention_days`.
- **refresh_statistics** runs ANALYZE on feedpipe's tables once the pruning is done.
- **feed_health** logs one line per feed (last success, last error, failures) and returns how many feeds are
  healthy, failing or disabled.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from airflow.sdk import Param, dag, get_current_context, task

from feedpipe_common import TASK_DEFAULTS, feedpipe_settings

# Tasks import pipeline.stages when they run: it loads trafilatura and the rest, which would slow every parse.

log = logging.getLogger(__name__)


def health_counts(feeds: list[dict]) -> dict[str, int]:
    """Feeds by state: disabled, failing (failed since their last success) or healthy."""
    disabled = sum(1 for feed in feeds if not feed["enabled"])
    failing = sum(1 for feed in feeds if feed["enabled"] and feed["consecutive_failures"])
    return {"feeds": len(feeds), "healthy": len(feeds) - disabled - failing, "failing": failing, "disabled": disabled}


@dag(
    dag_id="feed_maintenance",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=TASK_DEFAULTS,
    params={"retention_days": Param(90, type="integer", minimum=1, description="days of feed_fetches kept"),
            "abandon_after_hours": Param(24, type="integer", minimum=1,
                                         description="an Airflow batch still running after this long is abandoned")},
    doc_md=__doc__,
    tags=["feedpipe"],
)
def feed_maintenance():
    @task
    def expire_stale_claims() -> int:
        from pipeline import stages
        return stages.expire_stale_claims(feedpipe_settings())

    @task
    def abandon_dead_runs() -> int:
        from pipeline import stages
        hours = get_current_context()["params"]["abandon_after_hours"]
        return stages.abandon_dead_runs(feedpipe_settings(), orchestrated_older_than=timedelta(hours=hours))

    @task
    def prune_feed_fetches() -> int:
        from pipeline import stages
        days = get_current_context()["params"]["retention_days"]
        return stages.prune_feed_fetches(feedpipe_settings(), older_than=timedelta(days=days))

    @task
    def refresh_statistics() -> None:
        from pipeline import stages
        stages.refresh_statistics(feedpipe_settings())

    @task
    def feed_health() -> dict[str, int]:
        from pipeline import stages
        feeds = stages.feed_health(feedpipe_settings())
        for feed in feeds:
            if not feed["enabled"] or feed["consecutive_failures"]:
                log.warning("feed %(id)s %(url)s: %(consecutive_failures)s failures, last error %(last_error)s, "
                            "last success %(last_success_at)s, disabled: %(disabled_reason)s", feed)
        counts = health_counts(feeds)
        log.info("feed health: %s", counts)
        return counts

    expire_stale_claims()
    abandon_dead_runs()
    prune_feed_fetches() >> refresh_statistics()
    feed_health()


feed_maintenance()
