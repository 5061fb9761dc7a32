"""
### feed_ingest: poll the due feeds, fetch their new articles, process them into Postgres

One run is one `ingest_runs` batch (its id is in `plan`'s XCom `batch_id`; the batch row and every article it
wrote carry this Airflow run id):

1. **plan** opens the batch and splits the feeds due now into shards; a registrable domain never spans two
   shards, so one shard keeps one domain's politeness budget.
2. **poll** (one mapped instance per shard, pool `feedpipe_http`) records each feed's new entries.
3. **fetch** (one instance per slot, pool `feedpipe_http`) claims pending entries with `FOR UPDATE SKIP
   LOCKED` until none is left and archives every response: more slots, on more workers, simply go faster.
4. **process** (one instance per slot) reads the fetched pages back from the archive: extract, clean,
   normalize, store, group into stories. It updates the `feedpipe_articles` Asset.
5. **check_articles** and **check_run**: data-quality checks on the articles this batch wrote.
6. **summary** closes the batch (also when a step failed or had nothing to do), logs a table of its counters
   and returns them (XCom `return_value`, or `counters` when the run failed).

Params: `max_shards` (poll parallelism), `slots` (fetch and process parallelism), `include_not_due` (poll
every enabled feed). The schedule is `FEEDPIPE_INGEST_SCHEDULE` (cron, default every 15 minutes; empty: runs
only when triggered).
"""
from __future__ import annotations

import logging
import os
from datetime import datetime, timezone

from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator, SQLTableCheckOperator
from airflow.sdk import Param, TriggerRule, dag, get_current_context, task

from feedpipe_common import ARTICLES, HTTP_POOL, POSTGRES_CONN_ID, TASK_DEFAULTS, feedpipe_settings, spawnable_main

# Tasks import pipeline.stages when they run: it loads trafilatura and the rest, which would slow every parse.

log = logging.getLogger(__name__)

SCHEDULE = os.environ.get("FEEDPIPE_INGEST_SCHEDULE", "*/15 * * * *") or None  # empty: triggered runs only
BATCH_ID = "{{ ti.xcom_pull(task_ids='plan', key='batch_id') }}"
FAILED_STATES = {"failed", "upstream_failed"}


def shard_label(feed_ids: list[int]) -> str:
    return f"{len(feed_ids)} feeds from #{min(feed_ids)}" if feed_ids else "no feeds"


def counters_table(counters: dict) -> str:
    """The batch's counters, then its seconds per stage, one aligned line each."""
    rows = [(name, f"{value:,}") for name, value in counters.items() if name != "stage_seconds"]
    rows += [(f"seconds {stage}", f"{seconds:,.1f}") for stage, seconds in counters.get("stage_seconds", {}).items()]
    width = max((len(name) for name, _ in rows), default=0)
    return "\n".join(f"{name:<{width}}  {value:>12}" for name, value in rows)


@dag(
    dag_id="feed_ingest",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=TASK_DEFAULTS,
    params={
        "max_shards": Param(64, type="integer", minimum=1, maximum=1024,
                            description="at most this many poll tasks (Airflow maps at most 1,024)"),
        "slots": Param(4, type="integer", minimum=1, maximum=256,
                       description="fetch and process tasks; each claims work until none is left"),
        "include_not_due": Param(False, type="boolean", description="poll every enabled feed, due or not"),
    },
    doc_md=__doc__,
    tags=["feedpipe"],
)
def feed_ingest():
    @task
    def plan() -> list[list[int]]:
        """Open this run's `ingest_runs` batch (XCom `batch_id`) and split the due feeds into shards by domain."""
        from pipeline import stages
        context = get_current_context()
        params = context["params"]
        settings = feedpipe_settings()
        batch_id = stages.start_run(settings, airflow_run_id=context["run_id"])
        context["ti"].xcom_push("batch_id", batch_id)
        shards = stages.plan_poll(settings, max_shards=params["max_shards"],
                                  include_not_due=params["include_not_due"])
        log.info("batch %s: %d feeds in %d shards", batch_id, sum(map(len, shards)), len(shards))
        return shards

    @task
    def slots() -> list[int]:
        """One number per fetch and process task to run (param `slots`)."""
        return list(range(get_current_context()["params"]["slots"]))

    @task(pool=HTTP_POOL, map_index_template="{{ shard_label }}",
          doc_md="Poll one shard's feeds and record their new entries.")
    def poll(batch_id: int, feed_ids: list[int]) -> dict[str, int]:
        from pipeline import stages
        context = get_current_context()
        context["shard_label"] = shard_label(feed_ids)
        with spawnable_main():
            return stages.poll(feedpipe_settings(), batch_id, feed_ids=feed_ids,
                               include_not_due=context["params"]["include_not_due"])

    @task(pool=HTTP_POOL, map_index_template="slot {{ slot_label }}", trigger_rule=TriggerRule.NONE_FAILED,
          doc_md="Claim pending entries until none is left, fetch their pages and archive every response.")
    def fetch(batch_id: int, slot: int) -> dict[str, int]:
        from pipeline import stages
        get_current_context()["slot_label"] = slot
        with spawnable_main():
            return stages.fetch(feedpipe_settings(), batch_id)

    @task(outlets=[ARTICLES], map_index_template="slot {{ slot_label }}", trigger_rule=TriggerRule.NONE_FAILED,
          doc_md="Claim fetched entries until none is left and turn each archived page into a stored article.")
    def process(batch_id: int, slot: int) -> dict[str, int]:
        from pipeline import stages
        get_current_context()["slot_label"] = slot
        with spawnable_main():
            return stages.process(feedpipe_settings(), batch_id)

    check_articles = SQLColumnCheckOperator(
        task_id="check_articles",
        conn_id=POSTGRES_CONN_ID,
        table="articles",
        partition_clause=f"run_id = {BATCH_ID}",
        column_mapping={
            "story_id": {"null_check": {"equal_to": 0}},
            "raw_archive_key": {"null_check": {"equal_to": 0}},
        },
        accept_none=True,  # a batch that loaded nothing has nothing to check
        retries=0,
        doc_md="Every article this batch wrote belongs to a story and has its raw response in the archive.",
    )
    check_run = SQLTableCheckOperator(
        task_id="check_run",
        conn_id=POSTGRES_CONN_ID,
        table="articles",
        partition_clause=f"run_id = {BATCH_ID}",
        checks={
            "no_boilerplate_marker": {"check_statement": (
                "COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM boilerplate_markers m"
                " WHERE boilerplate_marker_left(body, m.marker))) = 0")},
            "articles_match_batch": {"check_statement": (
                "COUNT(*) BETWEEN (SELECT articles_loaded FROM ingest_runs WHERE id = {run})"
                " AND (SELECT articles_processed - articles_failed FROM ingest_runs WHERE id = {run})"
            ).format(run=BATCH_ID)},
        },
        retries=0,
        doc_md=("No new body carries a known boilerplate marker; the articles written by the batch are at least the ones "
                "it counts as added and at most the ones it processed without failure."),
    )

    @task(trigger_rule=TriggerRule.ALL_DONE, retries=0)
    def summary() -> dict:
        """Close the batch (failed when any step failed), log its counters as a table and return them."""
        from pipeline import stages
        context = get_current_context()
        ti = context["ti"]
        batch_id = ti.xcom_pull(task_ids="plan", key="batch_id")
        if batch_id is None:
            raise RuntimeError("plan did not open a batch: nothing to summarise")
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        failed = sorted(task_id for task_id, state in states.items() if state in FAILED_STATES)
        error = f"failed tasks: {', '.join(failed)}" if failed else None
        counters = stages.finish_run(feedpipe_settings(), batch_id, error=error)
        log.info("batch %s %s\n%s", batch_id, "failed" if failed else "finished", counters_table(counters))
        if failed:
            ti.xcom_push("counters", counters)
            raise RuntimeError(f"batch {batch_id}: {error}")
        return counters

    shards = plan()
    batch_id = shards["batch_id"]
    worker_slots = slots()
    polled = poll.partial(batch_id=batch_id).expand(feed_ids=shards)
    fetched = fetch.partial(batch_id=batch_id).expand(slot=worker_slots)
    processed = process.partial(batch_id=batch_id).expand(slot=worker_slots)
    polled >> fetched >> processed >> [check_articles, check_run] >> summary()


feed_ingest()
