"""Faults injected into the real services: killed workers and migrators, Postgres restarted mid-batch, batches
at once, and the reader role's least privilege. Each test names the promise it proves (see RELIABILITY.md)."""
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from functools import partial
from pathlib import Path

import psycopg2
import pytest
from pgserver._commands import pg_ctl
from yoyo import get_backend, read_migrations

import pgserver
from pipeline import db, stages, store
from pipeline.config import Settings
from pipeline.run import run_steps
from tests.airflow_support import wait_for
from tests.conftest import free_port
from tests.test_batch import count, settings_for
from tests.test_stages import site_with_articles
from tests.webserver import Response

FIGURES = Path(os.environ.get("FEEDPIPE_FAULT_FIGURES", "/dev/null"))  # where the suite appends its figures


def record_figure(line: str) -> None:
    """Append one line to the figures file RELIABILITY.md is written from (nothing when unset)."""
    with FIGURES.open("a") as out:
        out.write(line + "\n")


def fresh_database(postgres_home, migrated: bool = True) -> tuple[str, Path]:
    """An embedded server of its own (so the test may restart it), and its data folder."""
    home = postgres_home()
    url = db.embedded_database_url(home)
    if migrated:
        db.migrate(url)
    return url, home / "pg"


def restart_postgres(pgdata: Path) -> None:
    """Stop the server the hard way (like a crash or an operator's restart) and start it again."""
    server = pgserver.get_server(pgdata)
    pg_ctl(["-w", "-m", "immediate", "restart"], pgdata=pgdata, user=server.system_user, timeout=60)


def stop_postgres(pgdata: Path) -> None:
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=pgserver.get_server(pgdata).system_user, timeout=60)


def start_postgres(pgdata: Path) -> None:
    """Start a stopped server with the options pgserver gave it (its socket in the data folder, no TCP)."""
    server = pgserver.get_server(pgdata)
    pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {pgdata}", "-l", str(server.log), "start"], pgdata=pgdata,
           user=server.system_user, timeout=60)


def other_database(database_url: str, name: str) -> str:
    """A second, empty and migrated database on the same server, for comparing two histories."""
    conn = db.connect(database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    base, _, query = database_url.partition("?")
    url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    db.migrate(url)
    return url


def cli_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FEEDPIPE_")} | {
        "FEEDPIPE_HOME": str(tmp_path / "home"), "FEEDPIPE_DATABASE_URL": database_url,
        "FEEDPIPE_ALLOW_PRIVATE_ADDRESSES": "1", "FEEDPIPE_ARCHIVE_URL": (tmp_path / "archive").as_uri(),
        "FEEDPIPE_PROCESS_WORKERS": "2", "FEEDPIPE_PER_DOMAIN_DELAY": "0"}


def feedpipe(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("feedpipe")), *args]


def add_feeds(database_url: str, urls: list[str]) -> None:
    conn = db.connect(database_url)
    with db.transaction(conn) as cur:
        cur.executemany("INSERT INTO feeds (url) VALUES (%s)", [(url,) for url in urls])
    conn.close()


def integrity(conn, archive: Path) -> dict[str, int]:
    """What must always be zero: duplicated articles, entries pointing at a missing archive object, empty
    stories, loaded entries without an article, claims held by sessions that are gone, runs stuck 'running'."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) - count(DISTINCT canonical_url) FROM articles")
        duplicates = cur.fetchone()[0]
        cur.execute("SELECT fetch_archive_key FROM entries WHERE fetch_archive_key IS NOT NULL "
                    "UNION SELECT raw_archive_key FROM articles WHERE raw_archive_key IS NOT NULL "
                    "UNION SELECT raw_archive_key FROM feed_fetches WHERE raw_archive_key IS NOT NULL")
        dangling = sum(not (archive / key).exists() for (key,) in cur.fetchall())
        cur.execute("SELECT count(*) FROM stories s WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.story_id = s.id)")
        empty_stories = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM entries WHERE state = 'loaded' AND article_id IS NULL")
        loaded_without_article = cur.fetchone()[0]
        cur.execute(f"SELECT count(*) FROM entries e WHERE e.claimed_by_pid IS NOT NULL AND {store.CLAIM_LAPSED}")
        dead_claims = cur.fetchone()[0]
    conn.commit()
    return {"duplicates": duplicates, "dangling_archive_keys": dangling, "empty_stories": empty_stories,
            "loaded_without_article": loaded_without_article, "dead_claims": dead_claims}


CLEAN = {"duplicates": 0, "dangling_archive_keys": 0, "empty_stories": 0, "loaded_without_article": 0,
         "dead_claims": 0}


def snapshot(conn) -> tuple[list, list]:
    """Every entry's identity and state, and every article's derived content, in a comparable form."""
    with conn.cursor() as cur:
        cur.execute("SELECT guid, link, state FROM entries ORDER BY guid")
        entries = cur.fetchall()
        cur.execute("SELECT canonical_url, title, body, content_sha256, payload_sha256 FROM articles ORDER BY 1")
        articles = cur.fetchall()
    conn.commit()
    return entries, articles


# -- killed processes ---------------------------------------------------------------------------------------

@pytest.mark.long
def test_ten_runs_killed_at_random_moments_then_one_clean_run_equal_an_uninterrupted_run(web, tmp_path,
                                                                                       postgres_home):
    killed_url, _ = fresh_database(postgres_home)
    feed = site_with_articles(web, 40)
    env = cli_env(tmp_path, killed_url)
    add_feeds(killed_url, [feed])
    chance = random.Random(12)
    kills = 0
    for round_number in range(1, 11):
        run = subprocess.Popen(feedpipe("run", "--all"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        wait_for_rows(killed_url, "ingest_runs", at_least=round_number)  # started: it owns a batch
        time.sleep(chance.uniform(0, 3.0))  # somewhere in poll, fetch, archive, process or load
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(60)
        # Killed mid-run, or between finishing its batch and exiting (then it is no kill the next run must see).
        kills += newest_run_status(killed_url) == "running"
    clean = subprocess.run(feedpipe("run", "--all"), env=env, capture_output=True, text=True, timeout=300)
    assert clean.returncode == 0, clean.stderr

    uninterrupted_url = other_database(killed_url, "uninterrupted")
    add_feeds(uninterrupted_url, [feed])
    other_env = cli_env(tmp_path / "other", uninterrupted_url)
    assert subprocess.run(feedpipe("run", "--all"), env=other_env, capture_output=True, timeout=300).returncode == 0

    killed, uninterrupted = db.connect(killed_url), db.connect(uninterrupted_url)
    try:
        assert snapshot(killed) == snapshot(uninterrupted)
        assert len(snapshot(killed)[1]) == 40
        assert integrity(killed, tmp_path / "archive") == CLEAN
        with killed.cursor() as cur:
            cur.execute("SELECT status, count(*) FROM ingest_runs GROUP BY status")
            statuses = dict(cur.fetchall())
        assert statuses == {"abandoned": kills, "finished": 11 - kills}  # every killed run abandoned by the next
        assert kills >= 5
        record_figure(f"sigkill: 11 runs, {kills} killed mid-run, then clean: 40/40 articles, equal to an "
                      f"uninterrupted run; {statuses}; integrity {integrity(killed, tmp_path / 'archive')}")
    finally:
        killed.close()
        uninterrupted.close()


def newest_run_status(database_url: str) -> str:
    conn = db.connect(database_url)
    try:
        with db.transaction(conn) as cur:
            cur.execute("SELECT status FROM ingest_runs ORDER BY id DESC LIMIT 1")
            return cur.fetchone()[0]
    finally:
        conn.close()


def start_run_and_die(database_url: str) -> None:
    conn = db.connect(database_url)
    with db.transaction(conn) as cur:
        store.start_run(cur)
    os.kill(os.getpid(), signal.SIGKILL)


def test_the_next_run_marks_a_killed_run_abandoned_and_says_so(tmp_path, database_url, conn):
    killed = multiprocessing.get_context("spawn").Process(target=start_run_and_die, args=(database_url,))
    killed.start()
    killed.join(60)

    summary = run_steps(settings_for(tmp_path, database_url), [])

    assert summary.runs_abandoned == 1
    with conn.cursor() as cur:
        cur.execute("SELECT status, error IS NOT NULL, finished_at IS NOT NULL FROM ingest_runs ORDER BY id")
        assert cur.fetchall() == [("abandoned", True, True), ("finished", False, True)]


def test_orchestrated_batches_are_abandoned_once_older_than_the_given_age(tmp_path, database_url, conn):
    with db.transaction(conn) as cur:
        old = store.start_run(cur, "scheduled__old", owned_by_session=False)
        recent = store.start_run(cur, "scheduled__recent", owned_by_session=False)
        cur.execute("UPDATE ingest_runs SET started_at = now() - interval '7 hours' WHERE id = %s", (old,))

    abandoned = stages.abandon_dead_runs(settings_for(tmp_path, database_url), orchestrated_older_than=timedelta(hours=6))

    assert abandoned == 1
    with conn.cursor() as cur:
        cur.execute("SELECT id, status FROM ingest_runs ORDER BY id")
        assert cur.fetchall() == [(old, "abandoned"), (recent, "running")]


def test_a_lock_row_left_by_a_killed_migrator_does_not_block_the_next_migration(postgres_home):
    url, _ = fresh_database(postgres_home)
    conn = db.connect(url)
    with db.transaction(conn) as cur:  # what yoyo leaves behind when its process is killed holding the lock
        cur.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 999999)")
    conn.close()
    started = time.monotonic()

    assert db.migrate(url) == []

    assert time.monotonic() - started < 5


def _migrate(url: str) -> None:
    db.migrate(url)


def test_migrators_killed_at_random_moments_block_no_later_migration(postgres_home):
    url, _ = fresh_database(postgres_home, migrated=False)
    chance = random.Random(3)
    for _ in range(4):
        migrator = multiprocessing.get_context("spawn").Process(target=_migrate, args=(url,))
        migrator.start()
        time.sleep(chance.uniform(0.5, 2.5))
        migrator.kill()
        migrator.join(30)
    started = time.monotonic()

    db.migrate(url)

    assert time.monotonic() - started < 10
    assert db.migrate(url) == []


def test_a_migrator_killed_after_a_migrations_ddl_but_before_its_mark_leaves_neither(postgres_home):
    url, _ = fresh_database(postgres_home, migrated=False)
    backend = get_backend(url)
    backend.ensure_internal_schema_updated()
    backend.connection.close()
    holder = db.connect(url)
    with holder.cursor() as cur:  # the migrator can run the first migration's DDL but not record it
        cur.execute("LOCK TABLE _yoyo_migration IN EXCLUSIVE MODE")
    migrator = multiprocessing.get_context("spawn").Process(target=_migrate, args=(url,))
    migrator.start()
    watcher = db.connect(url)
    watcher.autocommit = True
    wait_for(lambda: _backends_waiting_on_a_lock(watcher, "_yoyo_migration"), timeout=60,
             what="the migrator to wait on _yoyo_migration", interval=0.05)
    watcher.close()
    migrator.kill()
    migrator.join(30)
    holder.rollback()
    holder.close()

    applied = db.migrate(url)

    assert applied == [m.id for m in read_migrations(str(db.MIGRATIONS_DIR))]


def _backends_waiting_on_a_lock(conn, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE %s",
                    (f"%{table}%",))
        return cur.fetchone()[0]


# -- Postgres restarted ---------------------------------------------------------------------------------------

def test_a_connection_waits_for_a_restarting_server_within_bounds(postgres_home):
    url, pgdata = fresh_database(postgres_home)
    assert f"host={pgdata}" in url  # the socket lives in the data folder, where start_postgres puts it again
    stop_postgres(pgdata)
    starter = threading.Timer(2.0, start_postgres, args=(pgdata,))
    starter.start()
    try:
        conn = db.connect(url, patience=30)
    finally:
        starter.join()
    conn.close()
    stop_postgres(pgdata)
    started = time.monotonic()

    with pytest.raises(db.DatabaseUnavailable, match="cannot connect to the database .* after 2 s"):
        db.connect(url, patience=2)

    assert time.monotonic() - started < 5
    start_postgres(pgdata)


@pytest.mark.parametrize("stage", ["poll", "process"])
def test_postgres_restarted_mid_batch_fails_the_run_in_one_line_and_the_next_run_loads_everything(
        web, tmp_path, postgres_home, stage):
    url, pgdata = fresh_database(postgres_home)
    articles = 10 if stage == "poll" else 60
    feeds = [site_with_articles(web, articles)]
    for i in range(16):
        web.route(f"/slow/{i}.xml", body=b"<rss version='2.0'><channel><title>s</title></channel></rss>", delay=0.5)
        feeds.append(web.url(f"/slow/{i}.xml", host="127.0.0.2"))
    env = cli_env(tmp_path, url)
    add_feeds(url, feeds)
    if stage == "process":
        assert subprocess.run(feedpipe("poll", "--all"), env=env, capture_output=True).returncode == 0
        assert subprocess.run(feedpipe("fetch"), env=env, capture_output=True).returncode == 0
    command = feedpipe("poll", "--all") if stage == "poll" else feedpipe("process", "--workers", "1")
    batch = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_rows(url, "feed_fetches" if stage == "poll" else "articles")
    restart_postgres(pgdata)
    started = time.monotonic()
    out, err = batch.communicate(timeout=120)
    ended_after = time.monotonic() - started

    assert batch.returncode == 1
    assert "lost the connection to the database" in out + err, out + err
    assert "Traceback" not in out + err
    conn = db.connect(url)
    with conn.cursor() as cur:
        cur.execute("SELECT status, error FROM ingest_runs ORDER BY id DESC LIMIT 1")
        status, error = cur.fetchone()
    conn.commit()
    assert status == "failed" and error.startswith("lost the connection to the database")

    again = subprocess.run(feedpipe("run", "--all"), env=env, capture_output=True, text=True, timeout=300)

    assert again.returncode == 0, again.stdout + again.stderr
    assert count(conn, "articles") == articles
    assert integrity(conn, tmp_path / "archive") == CLEAN
    conn.close()
    record_figure(f"postgres restart while {stage}: run ended {ended_after:.1f} s after the restart; "
                  f"next run {articles}/{articles}")


def wait_for_rows(database_url: str, table: str, at_least: int = 1, timeout: float = 60) -> None:
    """Wait until a batch has written `at_least` rows to `table`: it is under way."""
    conn = db.connect(database_url)
    deadline = time.monotonic() + timeout
    try:
        while count(conn, table) < at_least:
            conn.commit()
            assert time.monotonic() < deadline, f"no {table} row within {timeout} s"
            time.sleep(0.05)
    finally:
        conn.close()


# -- batches at once ------------------------------------------------------------------------------------------

def test_two_batches_at_once_load_each_article_once(web, tmp_path, database_url, conn):
    feeds = [site_with_articles(web, 20)]
    env = cli_env(tmp_path, database_url)
    add_feeds(database_url, feeds)

    batches = [subprocess.Popen(feedpipe("run", "--all"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(2)]
    results = [batch.communicate(timeout=300) for batch in batches]

    assert [batch.returncode for batch in batches] == [0, 0], results
    assert count(conn, "articles") == 20
    assert integrity(conn, tmp_path / "archive") == CLEAN
    with conn.cursor() as cur:
        cur.execute("SELECT state, count(*) FROM entries GROUP BY state")
        assert cur.fetchall() == [("loaded", 20)]


# -- least privilege ------------------------------------------------------------------------------------------

READABLE = ["feeds", "feed_fetches", "fetch_domains", "entries", "articles", "stories", "ingest_runs", "learned_boilerplate",
            "story_assignments", "story_merges", "publisher_quality", "story_summary", "story_copies"]


def test_the_reader_role_reads_the_documented_tables_and_views(conn):
    with conn.cursor() as cur:
        cur.execute("SET ROLE feedpipe_reader")
        for relation in READABLE:
            cur.execute(f"SELECT count(*) FROM {relation}")
            assert cur.fetchone()[0] == 0
    conn.rollback()


@pytest.mark.parametrize("statement", [
    "INSERT INTO feeds (url) VALUES ('https://example.org/rss')",
    "UPDATE articles SET title = 'x'",
    "DELETE FROM entries",
    "TRUNCATE stories",
    "SELECT * FROM dedupe_keys",
    "SELECT * FROM boilerplate_line_days",
    "SELECT * FROM _yoyo_migration",
    "CREATE TABLE reader_table (id int)",
])
def test_the_reader_role_cannot_write_or_read_internal_tables(conn, statement):
    with conn.cursor() as cur:
        cur.execute("SET ROLE feedpipe_reader")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute(statement)
    conn.rollback()


def test_tables_created_later_are_readable_by_the_reader_role(conn):
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE later_table (id int)")
        cur.execute("SET ROLE feedpipe_reader")
        cur.execute("SELECT count(*) FROM later_table")
        assert cur.fetchone()[0] == 0
    conn.rollback()


# -- storage down ---------------------------------------------------------------------------------------------

def test_s3_down_while_polling_fails_the_run_and_charges_no_feed(web, tmp_path, database_url, conn):
    add_feeds(database_url, [site_with_articles(web, 3)])
    nothing_listens = f"http://127.0.0.1:{free_port()}"
    settings = settings_for(tmp_path, database_url, "s3://down/raw", s3_endpoint_url=nothing_listens)

    with pytest.raises(Exception):
        run_steps(settings, [stages.poll], [])

    with conn.cursor() as cur:
        cur.execute("SELECT consecutive_failures, failure_score, next_poll_at <= now() FROM feeds")
        assert cur.fetchall() == [(0, 0.0, True)]


def test_s3_down_while_processing_fails_the_run_and_keeps_every_entry_for_the_next(web, tmp_path, database_url, conn,
                                                                                   s3_bucket, s3_endpoint):
    add_feeds(database_url, [site_with_articles(web, 5)])
    up = settings_for(tmp_path, database_url, f"s3://{s3_bucket}/raw", s3_endpoint_url=s3_endpoint)
    run_steps(up, [stages.poll, stages.fetch], [])
    down = settings_for(tmp_path, database_url, f"s3://{s3_bucket}/raw", s3_endpoint_url=f"http://127.0.0.1:{free_port()}")

    with pytest.raises(Exception):
        run_steps(down, [lambda s, run_id: stages.process(s, run_id, workers=1)], [])

    with conn.cursor() as cur:
        cur.execute("SELECT state, attempts, claimed_by_pid FROM entries")
        assert set(cur.fetchall()) == {("fetched", 0, None)}
    conn.commit()
    assert run_steps(up, [lambda s, run_id: stages.process(s, run_id, workers=1)], []).articles_loaded == 5


# -- soak -----------------------------------------------------------------------------------------------------

FEED_FAULTS = ["ok", "ok", "ok", "http-500", "http-404", "garbage", "slow", "empty"]
PAGE_FAULTS = ["ok", "ok", "ok", "ok", "http-500", "http-404", "garbage"]


def faulty_site(web, chance: random.Random, feeds: int, articles: int, injected: list[str]) -> list[str]:
    """`feeds` feeds over three hosts, each linking `articles` pages; every answer draws a fault at random."""
    def answer(kind: str, body: bytes, faults: list[str]):
        def handle(request):
            fault = chance.choice(faults)
            injected.append(fault)
            if fault.startswith("http-"):
                return Response(int(fault[5:]), b"fault")
            if fault == "garbage":
                return Response(200, bytes(chance.getrandbits(8) for _ in range(2000)))
            if fault == "slow":
                time.sleep(0.3)
            if fault == "empty":
                return Response(200, b"")
            return Response(200, body, {"Content-Type": kind})
        return handle

    urls = []
    for f in range(feeds):
        host = ("127.0.0.1", "127.0.0.2", "127.0.0.3")[f % 3]
        items = []
        for a in range(articles):
            path = f"/soak/{f}/{a}.html"
            text = "".join(f"<p>Soak report {f}-{a}: paragraph {p} on the {f * 31 + a} council vote and its aftermath.</p>"
                           for p in range(4))
            web.handler(path, answer("text/html", f"<html><body><article><h1>Report {f}-{a}</h1>{text}</article>"
                                                  f"</body></html>".encode(), PAGE_FAULTS))
            items.append(f"<item><guid>soak-{f}-{a}</guid><title>Report {f}-{a}</title>"
                         f"<link>{web.url(path, host=host)}</link></item>")
        feed = f'<rss version="2.0"><channel><title>F{f}</title>{"".join(items)}</channel></rss>'.encode()
        web.handler(f"/soak/{f}.xml", answer("application/rss+xml", feed, FEED_FAULTS))
        urls.append(web.url(f"/soak/{f}.xml", host=host))
    return urls


@pytest.mark.long
def test_a_soak_with_random_feed_server_faults_keeps_counters_that_add_up(web, tmp_path, database_url, conn):
    chance, injected = random.Random(2026), []
    add_feeds(database_url, faulty_site(web, chance, feeds=24, articles=4, injected=injected))
    settings = settings_for(tmp_path, database_url, (tmp_path / "archive").as_uri(), per_domain_delay=0.0,
                            process_workers=2)
    batches = 5

    for _ in range(batches):
        run_steps(settings, [partial(stages.poll, include_not_due=True), stages.fetch, stages.process], [])

    with conn.cursor() as cur:
        cur.execute("""SELECT sum(feeds_polled), sum(feeds_failed), sum(new_entries), sum(articles_loaded),
                              count(*) FILTER (WHERE status = 'finished') FROM ingest_runs""")
        polled, failed, new, loaded, finished = cur.fetchone()
        cur.execute("SELECT count(*), count(*) FILTER (WHERE outcome IN ('failed', 'gone')) FROM feed_fetches")
        fetches, failed_fetches = cur.fetchone()
        cur.execute("SELECT count(*) FILTER (WHERE state = 'loaded'), count(*) FROM entries")
        loaded_entries, entries = cur.fetchone()
    conn.commit()
    faults = sum(fault != "ok" for fault in injected)
    assert finished == batches
    assert (polled, failed, new, loaded) == (fetches, failed_fetches, entries, count(conn, "articles"))
    assert loaded_entries == count(conn, "articles")  # each page is one article of its own
    assert integrity(conn, tmp_path / "archive") == CLEAN
    assert faults > 50
    record_figure(f"soak: {batches} batches x 24 feeds, {len(injected)} answers, {faults} faults injected; "
                  f"{fetches} polls ({failed_fetches} failed), {entries} entries, {loaded} articles; "
                  f"integrity {integrity(conn, tmp_path / 'archive')}")
