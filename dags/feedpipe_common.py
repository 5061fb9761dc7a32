"""What feedpipe's DAGs share: connection ids, the HTTP pool, the articles Asset, task defaults, and the
Settings the library receives, built from Airflow connections at run time (never at import).

The library stays free of Airflow: the providers' hooks read the connections here, and plain values
(a Postgres URL, an archive URL, S3 endpoint and credentials) go into `pipeline.config.Settings`.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Iterator

from airflow.sdk import Asset

from pipeline.config import Settings

POSTGRES_CONN_ID = "feedpipe_postgres"
ARCHIVE_CONN_ID = "feedpipe_archive"
HTTP_POOL = "feedpipe_http"
ARTICLES = Asset(name="feedpipe_articles", uri="feedpipe://postgres/articles")

TASK_DEFAULTS = {
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,  # a float multiplier in Airflow 3.3: 30 s, 60 s, 120 s
    "max_retry_delay": timedelta(minutes=10),
}


def libpq_url(url) -> str:
    """A SQLAlchemy URL from PostgresHook as a plain `postgresql://` URL that psycopg2 and yoyo accept.

    The hook names its psycopg 3 driver in the scheme, and a Unix socket folder given as host (the
    embedded server's) cannot stand in a URL's host part: libpq takes it as the `host` parameter."""
    from urllib.parse import quote, urlencode

    from sqlalchemy.engine import URL

    socket_folder = url.host if url.host and url.host.startswith("/") else None
    plain = URL.create("postgresql", username=url.username, password=url.password,
                       host=None if socket_folder else url.host, port=url.port, database=url.database)
    query = dict(url.query) | ({"host": socket_folder} if socket_folder else {})
    rendered = plain.render_as_string(hide_password=False)
    return f"{rendered}?{urlencode(query, quote_via=quote)}" if query else rendered  # libpq reads no '+' as space


def archive_url(conn_type: str, extra: dict) -> str:
    """The archive a `feedpipe_archive` connection names: an `fs` connection's folder (extra `path`), or for
    an `aws` connection the bucket in its S3 service config (extra `service_config.s3.bucket_name`)."""
    if conn_type == "fs":
        return Path(extra["path"]).resolve().as_uri()
    if conn_type == "aws":
        bucket = extra.get("service_config", {}).get("s3", {}).get("bucket_name")
        if not bucket:
            raise ValueError(f"connection {ARCHIVE_CONN_ID!r} names no bucket: set service_config.s3.bucket_name")
        return f"s3://{bucket}"
    raise ValueError(f"connection {ARCHIVE_CONN_ID!r} is of type {conn_type!r}: use 'aws' or 'fs'")


def feedpipe_settings() -> Settings:
    """Settings from FEEDPIPE_* variables, with the database and archive from the Airflow connections."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk import BaseHook

    settings = Settings.from_env()
    database_url = libpq_url(PostgresHook(postgres_conn_id=POSTGRES_CONN_ID).sqlalchemy_url)
    archive = BaseHook.get_connection(ARCHIVE_CONN_ID)
    if archive.conn_type != "aws":
        return settings.with_overrides(database_url=database_url,
                                       archive_url=archive_url(archive.conn_type, archive.extra_dejson))
    s3 = S3Hook(aws_conn_id=ARCHIVE_CONN_ID)
    credentials = s3.get_credentials()
    return settings.with_overrides(
        database_url=database_url,
        archive_url=archive_url(archive.conn_type, archive.extra_dejson),
        s3_endpoint_url=s3.conn_config.get_service_endpoint_url("s3"),
        s3_access_key_id=credentials.access_key,
        s3_secret_access_key=credentials.secret_key,
        s3_region=s3.region_name,
    )


@contextmanager
def spawnable_main() -> Iterator[None]:
    """Let the library start processes (the crawler, process workers) from a task process.

    A child started by the fork server (pipeline.children), as a spawned one, re-runs its parent's `__main__`
    script unless that module is importable by name. In a task process `__main__` is the `airflow` script, and
    importing Airflow there fails (a task process may not reach the metadata database), so the script's path is
    hidden from multiprocessing while the stage runs."""
    main = sys.modules["__main__"]
    script = main.__dict__.pop("__file__", None) if getattr(main, "__spec__", None) is None else None
    try:
        yield
    finally:
        if script is not None:
            main.__file__ = script
