"""
### feed_reprocess: replay processing from the archive

Triggered by hand with params. Reads the archived responses of the loaded entries fetched in
[`since`, `until`), of one `feed` URL or `publisher` (each optional), and runs extract, clean, normalize,
store and story grouping again with the rules and learned boilerplate known now. No request leaves: this is
how improved cleaning reaches old articles. The task returns the replay's counters: articles replayed and
changed, stories that gained, lost or merged copies.
"""
from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import Param, dag, get_current_context, task

from feedpipe_common import ARTICLES, TASK_DEFAULTS, feedpipe_settings, spawnable_main

# Tasks import pipeline.stages when they run: it loads trafilatura and the rest, which would slow every parse.

OPTIONAL_TEXT = ["null", "string"]


def moment(value: str | None) -> datetime | None:
    """A param's ISO 8601 date-time (or date) as an aware datetime; naive values are taken as UTC."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dag(
    dag_id="feed_reprocess",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args=TASK_DEFAULTS,
    params={
        "since": Param(None, type=OPTIONAL_TEXT, description="first fetch time to replay (ISO 8601, UTC if naive)"),
        "until": Param(None, type=OPTIONAL_TEXT, description="replay entries fetched before this moment"),
        "feed": Param(None, type=OPTIONAL_TEXT, description="only this feed URL"),
        "publisher": Param(None, type=OPTIONAL_TEXT, description="only this publisher"),
    },
    doc_md=__doc__,
    tags=["feedpipe"],
)
def feed_reprocess():
    @task(outlets=[ARTICLES])
    def reprocess() -> dict[str, int]:
        """Replay the selected archived pages through processing; no network."""
        from pipeline import stages
        context = get_current_context()
        params, settings = context["params"], feedpipe_settings()
        batch_id = stages.start_run(settings, airflow_run_id=context["run_id"])
        try:
            with spawnable_main():
                counts = stages.reprocess(settings, batch_id, since=moment(params["since"]),
                                          until=moment(params["until"]), feed=params["feed"] or None,
                                          publisher=params["publisher"] or None)
        except Exception as error:
            stages.finish_run(settings, batch_id, error=stages.describe_error(error))
            raise
        stages.finish_run(settings, batch_id)
        return {"batch_id": batch_id, **counts}

    reprocess()


feed_reprocess()
