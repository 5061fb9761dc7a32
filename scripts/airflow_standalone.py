"""`make airflow`: feedpipe's DAGs in `airflow standalone`, with no Docker and no services to install.

Starts the embedded Postgres in $FEEDPIPE_HOME (feedpipe's data, and Airflow's metadata in a database of its own),
points the `feedpipe_postgres` connection at it and `feedpipe_archive` at the local archive folder, creates the
`feedpipe_http` pool, and runs `airflow standalone` with AIRFLOW_HOME=$FEEDPIPE_HOME/airflow and the repository's
dags/ until interrupted. The embedded server lives as long as this process: keep it in the foreground.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from pipeline import db
from pipeline.config import Settings

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = Path(sys.executable).with_name("airflow")
AIRFLOW_DATABASE = "airflow"
HTTP_POOL_SLOTS = 8
STOP_GRACE_SECONDS = 30


def airflow_environment(settings: Settings, database_url: str, port: int) -> dict[str, str]:
    """Airflow's configuration and feedpipe's connections, all as environment variables."""
    url = urlparse(database_url)
    socket_folder = parse_qs(url.query)["host"][0]
    airflow_home = settings.home / "airflow"
    return os.environ | {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
            f"postgresql+psycopg2://{url.username}@/{AIRFLOW_DATABASE}?host={socket_folder}",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW_CONN_FEEDPIPE_POSTGRES": json.dumps({
            "conn_type": "postgres", "host": socket_folder, "login": url.username, "schema": url.path.lstrip("/")}),
        "AIRFLOW_CONN_FEEDPIPE_ARCHIVE": json.dumps({
            "conn_type": "fs", "extra": {"path": str(settings.home / "archive")}}),
        "FEEDPIPE_HOME": str(settings.home),
        "PATH": f"{AIRFLOW.parent}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone runs `airflow ...`
    }


def create_airflow_database(database_url: str) -> None:
    conn = db.connect(database_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (AIRFLOW_DATABASE,))
            if cur.fetchone() is None:
                cur.execute(f"CREATE DATABASE {AIRFLOW_DATABASE}")
    finally:
        conn.close()


def stop(process: subprocess.Popen, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
    """Stop a process and everything it started (its own session): SIGTERM, then SIGKILL after a grace period
    to whatever of the session is still there (parts of Airflow ignore SIGTERM)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(grace_seconds)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(grace_seconds)


def main() -> int:
    settings = Settings.from_env()
    port = int(os.environ.get("FEEDPIPE_AIRFLOW_PORT") or 8080)
    settings.home.mkdir(parents=True, exist_ok=True)
    database_url = db.embedded_database_url(settings.home)
    db.migrate(database_url)
    create_airflow_database(database_url)
    env = airflow_environment(settings, database_url, port)
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([str(AIRFLOW), "pools", "set", "feedpipe_http", str(HTTP_POOL_SLOTS),
                    "feedpipe polls and page fetches"], env=env, check=True, stdout=subprocess.DEVNULL)
    standalone = subprocess.Popen([str(AIRFLOW), "standalone"], env=env, start_new_session=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwinds through the `finally` below
    passwords = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    print(f"Airflow UI: http://localhost:{port}  (user admin; password in {passwords} once it has started)",
          flush=True)
    try:
        return standalone.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(standalone)

if __name__ == "__main__":
    sys.exit(main())
