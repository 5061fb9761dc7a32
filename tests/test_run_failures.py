"""A run whose storage fails, or that is stopped, says so in one line and an exit status, and loses nothing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline import db, stages, store
from pipeline.archive import ArchiveError
from pipeline.config import Settings
from pipeline.feeds import FeedSpec, register_feeds
from tests.test_batch import city_post, city_post_documents, feed_list  # noqa: F401 (fixtures)

FEEDPIPE = str(Path(sys.executable).with_name("feedpipe"))


def environment(database_url: str, home: Path, **variables: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FEEDPIPE_")} | {
        "FEEDPIPE_DATABASE_URL": database_url, "FEEDPIPE_HOME": str(home), "FEEDPIPE_ALLOW_PRIVATE_ADDRESSES": "1",
        **variables}


def one_row(conn, query: str, *args) -> tuple:
    with db.transaction(conn) as cur:
        cur.execute(query, args)
        return cur.fetchone()


@pytest.fixture
def waiting_entry(conn, city_post) -> int:
    """A registered feed with one entry still waiting for its page, as an earlier run left it."""
    with db.transaction(conn) as cur:
        register_feeds(cur, [FeedSpec(city_post.url("/city/rss.xml"))])
        cur.execute("INSERT INTO entries (feed_id, guid, link) VALUES (1, 'tram-0', %s) RETURNING id",
                    (city_post.url("/city/tram.html"),))
        return cur.fetchone()[0]


def unwritable_archive(tmp_path: Path) -> str:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the archive folder should be")
    return (blocker / "archive").as_uri()


@pytest.mark.parametrize("archive", ["missing bucket", "unwritable folder"])
def test_a_broken_archive_fails_the_run_in_one_line_and_charges_no_feed(archive, conn, database_url, waiting_entry,
                                                                         city_post, s3_endpoint, tmp_path):
    url = "s3://no-such-bucket/raw" if archive == "missing bucket" else unwritable_archive(tmp_path)
    env = environment(database_url, tmp_path, FEEDPIPE_ARCHIVE_URL=url, FEEDPIPE_S3_ENDPOINT_URL=s3_endpoint)

    result = subprocess.run([FEEDPIPE, "run", "--feeds", str(feed_list(tmp_path, city_post.url("/city/rss.xml")))],
                            env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert ("NoSuchBucket" if archive == "missing bucket" else "Not a directory") in result.stderr
    assert one_row(conn, "SELECT status, error IS NOT NULL FROM ingest_runs") == ("failed", True)
    assert one_row(conn, "SELECT max(failure_score), max(consecutive_failures), count(*) FROM feeds") == (0, 0, 1)
    assert one_row(conn, "SELECT state, attempts FROM entries WHERE id = %s", waiting_entry) == ("pending", 0)


def test_an_archive_that_fails_while_polling_charges_no_feed(conn, database_url, city_post, tmp_path):
    settings = Settings(home=tmp_path, database_url=database_url, archive_url=unwritable_archive(tmp_path),
                        allow_private_addresses=True)
    with db.transaction(conn) as cur:
        register_feeds(cur, [FeedSpec(city_post.url("/city/rss.xml"))])
        run_id = store.start_run(cur, owned_by_session=False)

    with pytest.raises(ArchiveError, match="cannot write raw/feeds/"):
        stages.poll(settings, run_id)

    assert one_row(conn, "SELECT failure_score, consecutive_failures, last_error FROM feeds") == (0, 0, None)
    assert one_row(conn, "SELECT count(*) FROM feed_fetches") == (0,)


def test_an_archive_that_fails_while_fetching_leaves_the_entries_pending_and_unclaimed(
        conn, database_url, waiting_entry, tmp_path):
    settings = Settings(home=tmp_path, database_url=database_url, archive_url=unwritable_archive(tmp_path),
                        allow_private_addresses=True)
    with db.transaction(conn) as cur:
        run_id = store.start_run(cur, owned_by_session=False)

    with pytest.raises(ArchiveError, match="cannot write raw/"):
        stages.fetch(settings, run_id)

    assert one_row(conn, "SELECT state, attempts, claimed_by_pid FROM entries") == ("pending", 0, None)


def test_a_run_in_which_every_feed_failed_exits_1_and_names_them(conn, database_url, web, tmp_path):
    web.route("/down.xml", status=500, body=b"Internal Server Error")
    env = environment(database_url, tmp_path, FEEDPIPE_ARCHIVE_URL=(tmp_path / "archive").as_uri())

    result = subprocess.run([FEEDPIPE, "run", "--feeds", str(feed_list(tmp_path, web.url("/down.xml")))],
                            env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 1
    assert f"feed failed: {web.url('/down.xml')}: HTTP 500 Internal Server Error" in result.stdout


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_run_is_recorded_interrupted_and_its_entries_are_claimable_at_once(
        signum, status, conn, database_url, city_post, tmp_path):
    city_post.route("/city/tram.html", body=city_post_documents(city_post)["/city/tram.html"], delay=15)
    env = environment(database_url, tmp_path, FEEDPIPE_ARCHIVE_URL=(tmp_path / "archive").as_uri(),
                      FEEDPIPE_PER_DOMAIN_DELAY="0")
    process = subprocess.Popen([FEEDPIPE, "run", "--feeds", str(feed_list(tmp_path, city_post.url("/city/rss.xml")))],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not city_post.requests_for("/city/tram.html") and time.monotonic() < deadline:
        time.sleep(0.1)

    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == status
    assert stderr.strip() == f"feedpipe: interrupted by {signal.Signals(signum).name}"
    assert one_row(conn, "SELECT status, error FROM ingest_runs") == (
        "interrupted", f"interrupted by {signal.Signals(signum).name}")
    # A page archived before the signal was loaded or waits for processing; the delayed one is still pending; none
    # is claimed or charged an attempt.
    with db.transaction(conn) as cur:
        cur.execute("SELECT state, attempts, claimed_by_pid FROM entries")
        entries = cur.fetchall()
        assert {state for state, _, _ in entries} <= {"pending", "fetched", "loaded"}
        # The stop charged no entry: a loaded entry's one attempt is the one that loaded it, and none is left claimed.
        assert all(attempts == (state == "loaded") and pid is None for state, attempts, pid in entries), entries
        pending = sum(state == "pending" for state, _, _ in entries)
        assert pending >= 1 and len(store.claim_entries_to_fetch(cur, datetime.now(timezone.utc), 10)) == pending
