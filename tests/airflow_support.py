"""What the Airflow tests share: where the DAGs are, the connections they read, and the environment a real
Airflow process needs to run them against the test session's Postgres, moto S3 and local feed server."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from pipeline import db
from pipeline.feeds import load_feed_list, register_feeds
from pipeline.sample_site import serve_sample
from scripts.airflow_standalone import stop

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
AIRFLOW = Path(sys.executable).with_name("airflow")
T = TypeVar("T")


@pytest.fixture
def sample_feeds(conn, tmp_path: Path) -> Iterator[None]:
    """The bundled sample served on 127.0.0.1, its four feeds registered."""
    with serve_sample() as site:
        feeds_file = tmp_path / "feeds.yaml"
        site.write_feeds_yaml(feeds_file)
        with db.transaction(conn) as cur:
            register_feeds(cur, load_feed_list(feeds_file))
        yield


def postgres_connection(database_url: str, database: str | None = None) -> dict:
    """An Airflow `postgres` connection for a libpq URL; the embedded server's socket folder becomes its host."""
    url = urlparse(database_url)
    host = parse_qs(url.query).get("host", [url.hostname])[0]
    return {"conn_type": "postgres", "host": host, "port": url.port, "login": url.username,
            "password": url.password or None, "schema": database or url.path.lstrip("/")}


def archive_connection(s3_endpoint: str, bucket: str) -> dict:
    """An Airflow `aws` connection to the moto server, naming the archive bucket."""
    return {"conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1",
                      "service_config": {"s3": {"bucket_name": bucket}}}}


def sqlalchemy_url(database_url: str, database: str) -> str:
    """The embedded server's URL for Airflow's own metadata, in a database of its own."""
    url = urlparse(database_url)
    return f"postgresql+psycopg2://{url.username}@/{database}?{url.query}"


def feedpipe_environment(feedpipe_home: Path, database_url: str, s3_endpoint: str, bucket: str) -> dict[str, str]:
    """Connections and FEEDPIPE_* settings for tasks that load the local sample quickly."""
    return {
        "AIRFLOW_CONN_FEEDPIPE_POSTGRES": json.dumps(postgres_connection(database_url)),
        "AIRFLOW_CONN_FEEDPIPE_ARCHIVE": json.dumps(archive_connection(s3_endpoint, bucket)),
        "FEEDPIPE_HOME": str(feedpipe_home),
        "FEEDPIPE_ALLOW_PRIVATE_ADDRESSES": "1",
        "FEEDPIPE_PER_DOMAIN_DELAY": "0.05",
        "FEEDPIPE_PER_DOMAIN_LIMIT": "4",
        "FEEDPIPE_PROCESS_WORKERS": "1",
    }


def airflow_environment(airflow_home: Path, **settings: str) -> dict[str, str]:
    """The process environment with no other Airflow configuration leaking in, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "FEEDPIPE_"))}
    return env | {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",  # the consumer reacts to asset events from the start
    } | settings


def worker_hostname() -> str:
    """Airflow's `[core] hostname_callable` for the scale-out test's workers: the name each was started with, so
    two workers on one machine tell their task instances apart."""
    return os.environ["FEEDPIPE_TEST_WORKER_HOSTNAME"]


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process in a session of its own (stopped as a whole by stop_process), its output in `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def stop_process(process: subprocess.Popen, grace_seconds: float = 20) -> None:
    """SIGTERM to the process's session, then SIGKILL to whatever of it is left (the script's own way)."""
    stop(process, grace_seconds)


def processes_mentioning(text: str) -> dict[int, str]:
    """The processes (other than this one) whose command line or environment contains `text`: pid -> command line."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if text.encode() in cmdline or text.encode() in (proc / "environ").read_bytes():
                found[int(proc.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return found


def leftover_processes(text: str, timeout: float) -> list[str]:
    """Wait up to `timeout` seconds for every process mentioning `text` to end; SIGKILL and return those that did
    not, so a failing test still leaves nothing behind."""
    deadline = time.monotonic() + timeout
    while (left := processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(1)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return sorted(left.values())


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 2) -> T:
    """Call `check` until it returns something other than None (or False); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def healthy(base_url: str) -> dict | None:
    """Airflow's health report when the metadatabase, scheduler and dag-processor all say healthy."""
    report = httpx.get(f"{base_url}/api/v2/monitor/health", timeout=5).json()
    components = ("metadatabase", "scheduler", "dag_processor")
    return report if all(report.get(name, {}).get("status") == "healthy" for name in components) else None


def api_token(base_url: str, username: str, password: str) -> str:
    answer = httpx.post(f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=30)
    answer.raise_for_status()
    return answer.json()["access_token"]
