"""What the Airflow tests share: where the DAGs are, the connections they read, and the environment a real
Airflow process needs to run them against the test session's Postgres, moto S3 and local feed server."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
AIRFLOW = Path(sys.executable).with_name("airflow")


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
