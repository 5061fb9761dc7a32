"""
### example_consumer: react to new articles as a downstream user would

Scheduled on the `feedpipe_articles` Asset: it runs after every `feed_ingest` (or `feed_reprocess`) run that
updated articles. It reads `story_summary` with plain SQL, as a read-only consumer of feedpipe's tables does
(see sql/README.md), and logs the biggest stories of the last day. Copy it as the start of your own DAG.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import dag, task

from feedpipe_common import ARTICLES, POSTGRES_CONN_ID

log = logging.getLogger(__name__)

BIGGEST_STORIES = """
SELECT story_id, canonical_title, copies, array_to_string(publishers, ', ') AS publishers
FROM story_summary
WHERE last_seen_at > now() - interval '1 day'
ORDER BY copies DESC, story_id
LIMIT 20
"""


@dag(
    dag_id="example_consumer",
    schedule=[ARTICLES],
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    doc_md=__doc__,
    tags=["feedpipe", "example"],
)
def example_consumer():
    biggest_stories = SQLExecuteQueryOperator(
        task_id="biggest_stories",
        conn_id=POSTGRES_CONN_ID,
        sql=BIGGEST_STORIES,
        doc_md="The stories of the last day with the most copies, from the `story_summary` view.",
    )

    @task
    def report(rows: list) -> int:
        """Log the stories as a table; return how many there were."""
        for story_id, title, copies, publishers in rows:
            log.info("story %6s  %3s copies  %s  (%s)", story_id, copies, title, publishers)
        return len(rows)

    report(biggest_stories.output)


example_consumer()
