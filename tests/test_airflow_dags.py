"""The DAGs: they parse cleanly and cheaply, are shaped as designed, and feed_ingest runs end to end with
dag.test() against the embedded Postgres, the moto S3 server and the local sample feeds."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import boto3
import psycopg2.extensions
import pytest
import yaml

from pipeline import db
from tests.airflow_support import AIRFLOW, DAGS, REPO, airflow_environment, feedpipe_environment
from tests.airflow_support import sample_feeds  # noqa: F401  (a fixture)

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


@pytest.fixture
def without_retries(dag_bag) -> Iterator[None]:
    """A failing task fails the test at once instead of after minutes of backoff."""
    tasks = [task for dag in dag_bag.dags.values() for task in dag.tasks]
    retries = [task.retries for task in tasks]
    for task in tasks:
        task.retries = 0
    yield
    for task, count in zip(tasks, retries):
        task.retries = count


@pytest.fixture(scope="module")
def common(airflow_home: Path):
    """dags/feedpipe_common.py, imported as the DAG files import it (the DAG folder is on sys.path)."""
    sys.path.insert(0, str(DAGS))
    import feedpipe_common

    yield feedpipe_common
    sys.path.remove(str(DAGS))


def test_a_postgres_connection_becomes_a_psycopg2_url_with_its_password(common):
    from sqlalchemy.engine import URL

    url = URL.create("postgresql+psycopg", username="feedpipe", password="s3cret", host="db", port=5432,
                     database="news")

    assert common.libpq_url(url) == "postgresql://feedpipe:s3cret@db:5432/news"


def test_a_socket_folder_as_host_becomes_libpqs_host_parameter(common):
    from sqlalchemy.engine import URL

    url = URL.create("postgresql+psycopg", username="postgres", host="/tmp/feedpipe home/pg", database="postgres")

    assert psycopg2.extensions.parse_dsn(common.libpq_url(url)) == {
        "user": "postgres", "dbname": "postgres", "host": "/tmp/feedpipe home/pg"}


def test_the_archive_is_an_aws_connections_bucket_or_an_fs_connections_folder(common, tmp_path: Path):
    assert common.archive_url("aws", {"service_config": {"s3": {"bucket_name": "news-raw"}}}) == "s3://news-raw"
    assert common.archive_url("fs", {"path": str(tmp_path)}) == tmp_path.as_uri()
    for conn_type, extra in [("aws", {}), ("http", {"path": "/x"})]:
        with pytest.raises(ValueError, match="feedpipe_archive"):
            common.archive_url(conn_type, extra)


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


def test_dag_files_parse_from_a_folder_that_is_not_airflows_dags_folder(tmp_path: Path):
    """A plain DagBag filled from a copy of dags/ (Airflow puts only its own DAGS_FOLDER on sys.path, and a plain
    DagBag adds no bundle path) still finds feedpipe_common: it is installed with the library."""
    copied = shutil.copytree(DAGS, tmp_path / "elsewhere", ignore=shutil.ignore_patterns("__pycache__"))
    env = airflow_environment(tmp_path / "home", AIRFLOW__CORE__DAGS_FOLDER=str(tmp_path / "empty"))

    parse = ("import json, sys; from airflow.dag_processing.dagbag import DagBag; bag = DagBag(dag_folder=sys.argv[1]);"
             " print(json.dumps({'errors': bag.import_errors, 'dag_ids': sorted(bag.dag_ids)}))")

    parsed = subprocess.run([sys.executable, "-c", parse, str(copied)], env=env, capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)

    assert parsed.returncode == 0, parsed.stderr
    result = json.loads(parsed.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert result["dag_ids"] == DAG_IDS


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


@pytest.fixture
def ingest_environment(airflow_home: Path, database_url: str, s3_endpoint: str, s3_bucket: str, feedpipe_home: Path,
                       monkeypatch: pytest.MonkeyPatch) -> str:
    """The connections and settings the tasks read; returns the archive bucket."""
    for name, value in feedpipe_environment(feedpipe_home, database_url, s3_endpoint, s3_bucket).items():
        monkeypatch.setenv(name, value)
    return s3_bucket


def task_states(run) -> dict[str, str]:
    """Each task's state in a run; a mapped task's is its worst instance's."""
    states: dict[str, str] = {}
    for ti in run.get_task_instances():
        if states.get(ti.task_id) != "failed":
            states[ti.task_id] = ti.state
    return states


def queued_asset_runs(dag_id: str) -> int:
    from airflow import settings
    from airflow.models.asset import AssetDagRunQueue

    with settings.Session() as session:
        return session.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id == dag_id).count()


def test_feed_ingest_loads_the_sample_once_and_the_consumer_runs_on_its_asset_event(
        dag_bag, without_retries, ingest_environment: str, sample_feeds, conn, s3_endpoint: str):
    feed_ingest = dag_bag.dags["feed_ingest"]

    started = time.perf_counter()
    first = feed_ingest.test()
    print(f"feed_ingest dag.test(): {time.perf_counter() - started:.1f} s")

    assert first.state == "success", task_states(first)
    assert set(task_states(first).values()) == {"success"}
    with conn.cursor() as cur:
        cur.execute("""SELECT count(*), count(story_id), count(raw_archive_key),
                              count(*) FILTER (WHERE airflow_run_id = %s) FROM articles""", (first.run_id,))
        articles, with_story, with_archive_key, written_by_run = cur.fetchone()
        cur.execute("SELECT count(*) FROM stories")
        stories = cur.fetchone()[0]
        cur.execute("SELECT status, articles_loaded, airflow_run_id FROM ingest_runs")
        batches = cur.fetchall()
    assert articles > 0 and with_story == with_archive_key == written_by_run == articles
    assert 0 < stories < articles  # the wire story's copies share one
    assert batches == [("finished", articles, first.run_id)]
    archived = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=ingest_environment, Prefix="raw/pages/")
    assert archived["KeyCount"] >= articles
    assert queued_asset_runs("example_consumer") == 1

    consumer = dag_bag.dags["example_consumer"].test()
    assert consumer.state == "success", task_states(consumer)

    second = feed_ingest.test(run_conf={"include_not_due": True})
    assert second.state == "success", task_states(second)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM articles")
        assert cur.fetchone()[0] == articles
        cur.execute("SELECT status, feeds_polled, new_entries, articles_loaded FROM ingest_runs WHERE airflow_run_id = %s",
                    (second.run_id,))
        assert cur.fetchone() == ("finished", 4, 0, 0)


def test_a_known_boilerplate_marker_in_new_bodies_fails_the_check_and_the_run(
        dag_bag, without_retries, ingest_environment: str, sample_feeds, conn):
    with db.transaction(conn) as cur:  # English bodies have it: as if boilerplate had slipped through cleaning
        cur.execute("INSERT INTO boilerplate_markers (marker) VALUES ('of the')")
    try:
        run = dag_bag.dags["feed_ingest"].test()
    finally:
        with db.transaction(conn) as cur:
            cur.execute("DELETE FROM boilerplate_markers WHERE marker = 'of the'")

    assert run.state == "failed"
    states = task_states(run)
    assert (states["check_run"], states["check_articles"], states["summary"]) == ("failed", "success", "failed")
    with conn.cursor() as cur:
        cur.execute("SELECT status, error FROM ingest_runs")
        assert cur.fetchall() == [("failed", "failed tasks: check_run")]


def compose_command() -> list[str] | None:
    """`docker compose` when the Compose plugin is there, else a standalone `docker-compose` (the airflow extra
    installs one beside this interpreter), else None."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return [standalone] if standalone else None


def test_docker_compose_config_accepts_the_compose_file():
    command = compose_command()
    if command is None:
        pytest.skip("no docker compose here")

    checked = subprocess.run([*command, "-f", str(REPO / "docker-compose.yml"), "config", "--quiet"], cwd=REPO,
                             capture_output=True, text=True, timeout=120)

    assert checked.returncode == 0, checked.stderr


def test_compose_provisions_the_connections_pool_and_bucket_the_dags_use(dag_bag, common):
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    init_script = "\n".join(compose["services"]["airflow-init"]["command"])
    connections = json.loads((REPO / "docker" / "connections.json").read_text())
    pools_used = {task.pool for dag in dag_bag.dags.values() for task in dag.tasks}
    conn_ids_used = {task.conn_id for dag in dag_bag.dags.values() for task in dag.tasks if hasattr(task, "conn_id")}

    assert "./docker:/opt/feedpipe/docker:ro" in compose["services"]["airflow-init"]["volumes"]
    assert "airflow connections import /opt/feedpipe/docker/connections.json --overwrite" in init_script
    assert set(connections) == {common.POSTGRES_CONN_ID, common.ARCHIVE_CONN_ID} >= conn_ids_used
    assert f"airflow pools set {common.HTTP_POOL} " in init_script
    assert pools_used == {"default_pool", common.HTTP_POOL}
    bucket = connections[common.ARCHIVE_CONN_ID]["extra"]["service_config"]["s3"]["bucket_name"]
    assert compose["services"]["minio-init"]["entrypoint"][-1] == f"archive/{bucket}"
    database = connections[common.POSTGRES_CONN_ID]
    assert f"CREATE DATABASE {database['schema']} OWNER {database['login']};" in (
        REPO / "docker" / "feedpipe-db.sql").read_text()


def test_the_consumer_is_scheduled_on_the_asset_the_ingest_and_replay_update(dag_bag, common):
    producers = {dag_id: {asset.name for task in dag_bag.dags[dag_id].tasks for asset in task.outlets}
                 for dag_id in ("feed_ingest", "feed_reprocess")}

    assert producers == {"feed_ingest": {common.ARTICLES.name}, "feed_reprocess": {common.ARTICLES.name}}
    assert list(dag_bag.dags["example_consumer"].schedule) == [common.ARTICLES]
