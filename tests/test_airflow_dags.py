"""The DAGs: they parse cleanly and cheaply, are shaped as designed, and feed_ingest runs end to end with
dag.test() against the embedded Postgres, the moto S3 server and the local sample feeds."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import boto3
import pytest

from pipeline import db
from pipeline.feeds import load_feed_list, register_feeds
from pipeline.sample_site import serve_sample
from tests.airflow_support import AIRFLOW, DAGS, airflow_environment, feedpipe_environment

DAG_IDS = ["example_consumer", "feed_ingest", "feed_maintenance", "feed_reprocess"]

# Parses the DAG folder with every outbound connection and every SQLite database refused (an audit hook raises
# inside any such attempt), with connections pointing at a closed port: work done at import time fails the
# parse. Prints the import errors, the DAG ids and the seconds parsing took.
PARSE_WITHOUT_IO = """
import json, sys, time
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag

REFUSED = {"socket.connect", "socket.getaddrinfo", "sqlite3.connect", "subprocess.Popen"}

def refuse(event, args):
    if event in REFUSED:
        raise RuntimeError(f"{event} while parsing DAGs: {args!r}")

sys.addaudithook(refuse)
started = time.perf_counter()
bag = BundleDagBag(dag_folder=sys.argv[1], bundle_path=Path(sys.argv[1]), known_pools={"default_pool", "feedpipe_http"})
print(json.dumps({"errors": bag.import_errors, "dag_ids": sorted(bag.dag_ids),
                  "seconds": time.perf_counter() - started}))
"""


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Configure this process for Airflow (before anything imports it) with a migrated SQLite metadata DB."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = airflow_environment(home)
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        yield home


@pytest.fixture(scope="module")
def dag_bag(airflow_home: Path):
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=DAGS, bundle_path=DAGS, known_pools={"default_pool", "feedpipe_http"})


def test_every_dag_parses_without_database_or_network_work_at_import(tmp_path: Path):
    env = airflow_environment(tmp_path, AIRFLOW_CONN_FEEDPIPE_POSTGRES="postgres://nobody@127.0.0.1:1/none",
                              AIRFLOW_CONN_FEEDPIPE_ARCHIVE="aws://?endpoint_url=http%3A%2F%2F127.0.0.1%3A1")

    parsed = subprocess.run([sys.executable, "-c", PARSE_WITHOUT_IO, str(DAGS)], env=env, capture_output=True,
                            text=True, timeout=300)

    assert parsed.returncode == 0, parsed.stderr
    result = json.loads(parsed.stdout.strip().splitlines()[-1])
    print(f"parsing dags/ took {result['seconds']:.2f} s")
    assert result["errors"] == {}
    assert result["dag_ids"] == DAG_IDS
    assert result["seconds"] < 10


def test_feed_ingest_plans_polls_per_shard_then_fetches_and_processes_per_slot(dag_bag):
    from airflow.sdk import TriggerRule

    dag = dag_bag.dags["feed_ingest"]
    upstream = {task.task_id: task.upstream_task_ids for task in dag.tasks}

    assert upstream == {
        "plan": set(), "slots": set(), "poll": {"plan"}, "fetch": {"plan", "slots", "poll"},
        "process": {"plan", "slots", "fetch"}, "check_articles": {"process"}, "check_run": {"process"},
        "summary": {"check_articles", "check_run"},
    }
    assert dag.schedule == "*/15 * * * *" and not dag.catchup and dag.max_active_runs == 1
    assert {name: param.value for name, param in dag.params.items()} == {
        "max_shards": 64, "slots": 4, "include_not_due": False}
    tasks = dag.task_dict
    assert tasks["poll"].pool == tasks["fetch"].pool == "feedpipe_http"
    assert all(tasks[name].map_index_template for name in ("poll", "fetch", "process"))
    assert tasks["process"].outlets[0].name == "feedpipe_articles"
    assert tasks["fetch"].retries == 3 and tasks["fetch"].retry_exponential_backoff == 2.0
    assert tasks["fetch"].trigger_rule == TriggerRule.NONE_FAILED
    assert tasks["summary"].trigger_rule == TriggerRule.ALL_DONE
    assert dag.doc_md and all(task.doc_md for task in dag.tasks)


def test_the_other_dags_are_scheduled_as_designed(dag_bag):
    reprocess, maintenance, consumer = (dag_bag.dags[name] for name in
                                        ("feed_reprocess", "feed_maintenance", "example_consumer"))

    assert reprocess.schedule is None
    assert set(reprocess.params) == {"since", "until", "feed", "publisher"}
    assert maintenance.schedule == "@daily"
    assert set(maintenance.task_dict) == {"expire_stale_claims", "abandon_dead_runs", "prune_feed_fetches",
                                          "refresh_statistics", "feed_health"}
    assert maintenance.params["retention_days"] == 90
    assert [asset.name for asset in consumer.schedule] == ["feedpipe_articles"]
