"""Postgres: connections, the embedded server used when no URL is configured, and migrations."""
from __future__ import annotations

import logging
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from yoyo import get_backend, read_migrations

from pipeline.config import ConfigurationError, Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "sql"
MIGRATION_LOCK_KEY = 0x66656564  # "feed": one advisory lock serialises every migrating process
CONNECT_PATIENCE = 30.0  # seconds to keep trying to reach a database that is restarting before giving up

log = logging.getLogger(__name__)


class DatabaseConnectionLost(Exception):
    """The connection to the database was lost mid-run (server restarted or stopped, network cut); one line."""


# A lost connection, a server that stopped, a full disk: faults of the database, never of the data a feed or
# page sent. They end the run; they are not charged to a feed or an entry.
DATABASE_FAULTS = (psycopg2.OperationalError, psycopg2.InterfaceError, DatabaseConnectionLost)


def lost_connection(error: BaseException) -> bool:
    """Whether `error` means the connection to Postgres is gone, as opposed to a statement that failed. A server
    that dies mid-statement surfaces as a bare DatabaseError without an SQLSTATE ("server closed the connection
    unexpectedly"); every error the server itself reports carries one."""
    return (isinstance(error, (*DATABASE_FAULTS, DatabaseUnavailable))
            or (isinstance(error, psycopg2.DatabaseError) and error.pgcode is None))


def describe_lost_connection(error: BaseException) -> str:
    """One line for a lost connection: the server's own first line of explanation, without the traceback."""
    if isinstance(error, DatabaseConnectionLost):
        return str(error)
    return f"lost the connection to the database: {_first_line(error)}"


def _first_line(error: BaseException) -> str:
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)

psycopg2.extras.register_default_jsonb(globally=True)


def embedded_database_url(home: Path, keep_running: bool = False) -> str:
    """Start (or join) the embedded PostgreSQL server whose data lives in `home/pg`.

    pgserver shares one server between the processes that use the same folder and stops it when the
    last of them exits, so a CLI run, a test session and a second worker can all point at it. With
    `keep_running` this process leaves it running when it exits (`feedpipe db url`, for psql)."""
    pgdata = home / "pg"
    try:
        pgdata.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(f"FEEDPIPE_HOME (or --home) {home}: expected a folder feedpipe can write to "
                                 f"({error.strerror})") from error
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")  # pgserver's platformdirs, harmless
        import pgserver

        server = pgserver.get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    return server.get_uri()


def resolve_database_url(settings: Settings) -> str:
    return settings.database_url or embedded_database_url(settings.home)


class DatabaseUnavailable(ConfigurationError):
    """The database cannot be reached, or its URL is not one psycopg2 can use."""


def without_password(database_url: str) -> str:
    parts = urlsplit(database_url)
    if parts.password is None:
        return database_url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def connect(database_url: str, patience: float = CONNECT_PATIENCE) -> psycopg2.extensions.connection:
    """Connect, retrying for up to `patience` seconds while the server refuses (restarting, starting up, not
    accepting connections yet); then DatabaseUnavailable with the server's last answer."""
    deadline = time.monotonic() + patience
    pause = 0.2
    while True:
        try:
            conn = psycopg2.connect(database_url)
            break
        except psycopg2.OperationalError as error:
            if time.monotonic() + pause > deadline:
                raise DatabaseUnavailable(f"cannot connect to the database {without_password(database_url)} "
                                          f"(FEEDPIPE_DATABASE_URL or --database-url) after {patience:g} s: "
                                          f"{_first_line(error)}") from error
            log.info("database not reachable yet, retrying: %s", _first_line(error))
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
        except psycopg2.Error as error:
            raise DatabaseUnavailable(f"cannot connect to the database {without_password(database_url)} "
                                      f"(FEEDPIPE_DATABASE_URL or --database-url): {_first_line(error)}") from error
    with conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
    conn.commit()
    return conn


@contextmanager
def transaction(conn: psycopg2.extensions.connection) -> Iterator[psycopg2.extensions.cursor]:
    """A cursor whose work is committed together, or rolled back on any error. When the connection was lost,
    the transaction is gone with it: the error that says so is raised, not the rollback's failure after it."""
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException as error:
        try:
            conn.rollback()
        except psycopg2.Error:
            if not lost_connection(error):
                raise
        raise


def _apply_with_its_mark(backend, migration) -> None:
    """Run one migration's steps and record it as applied in one transaction on one connection. yoyo's own
    `apply_migrations` commits the steps on a connection of their own and marks the migration applied in a second
    transaction afterwards: a migrator killed between the two leaves the schema changed but unrecorded, and every
    later migration then fails on DDL that already ran. Postgres DDL is transactional, so here it is all or
    nothing."""
    with backend.transaction():
        migration.process_steps(backend, "apply")
        backend.log_migration(migration, "apply")
        backend.mark_one(migration, log=False)


def migrate(database_url: str) -> list[str]:
    """Apply the migrations in sql/ that this database lacks, each exactly once; returns their ids.

    A session-level advisory lock makes concurrent migrators wait for each other, so the second
    process finds nothing left to apply instead of racing on the same DDL. The advisory lock dies with its
    holder's session, so a migrator killed mid-way blocks nobody. yoyo's own lock (a row in `yoyo_lock`) would
    outlive a killed holder and make every later run fail with LockTimeout; every feedpipe migrator holds the
    advisory lock first, so a row found there belongs to a dead process and is removed before yoyo looks."""
    lock_conn = connect(database_url)
    try:
        with lock_conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        backend = get_backend(database_url)
        try:
            backend.break_lock()
            pending = backend.to_apply(read_migrations(str(MIGRATIONS_DIR)))
            with backend.lock():
                for migration in pending:
                    _apply_with_its_mark(backend, migration)
            return [m.id for m in pending]
        finally:
            backend.connection.close()
    finally:
        lock_conn.close()
