"""Real services for the tests: an embedded Postgres, a moto S3 server over HTTP, a local web server."""
from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from pipeline import db

# Dummy credentials for the moto S3 server, in the environment from the start: feedpipe's process workers fork
# from a fork server that keeps the environment it started with, and the first test to start it may not use S3.
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")

DATA_TABLES = (
    "feeds, feed_fetches, entries, articles, stories, ingest_runs, learned_boilerplate, fetch_domains,"
    " template_publishers, template_blocks"
)


@pytest.fixture(scope="session")
def postgres_home() -> Iterator[Callable[[], Path]]:
    """Makes folders for embedded Postgres servers.

    As root, pgserver runs postgres as its own user, which must be able to reach the data folder:
    pytest's temporary folders are private to root, so these live in a world-readable temporary folder."""
    root = Path(tempfile.mkdtemp(prefix="feedpipe-tests-"))
    root.chmod(0o755)

    def make_home() -> Path:
        home = Path(tempfile.mkdtemp(prefix="home-", dir=root))
        home.chmod(0o755)
        return home

    yield make_home
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(postgres_home: Callable[[], Path]) -> str:
    """A fresh embedded PostgreSQL for the test session, migrated to the latest schema."""
    url = db.embedded_database_url(postgres_home())
    db.migrate(url)
    return url


@pytest.fixture
def conn(database_url: str) -> Iterator:
    """A connection to an empty database; every data table is emptied after the test."""
    connection = db.connect(database_url)
    yield connection
    connection.rollback()
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {DATA_TABLES} RESTART IDENTITY CASCADE")
    connection.commit()
    connection.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port; boto3 talks to it over real HTTP."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """An empty bucket of its own for each test (the dummy credentials are in the environment, above)."""
    name = "test-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-")
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def feedpipe_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def web() -> Iterator["WebServer"]:
    """A programmable HTTP/1.1 server on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (one port); see tests/webserver.py."""
    from tests.webserver import WebServer

    with WebServer() as server:
        yield server
