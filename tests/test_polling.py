"""Polling rounds against a real local HTTP server, a real Postgres and a local archive folder."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
import pytest

from pipeline import db
from pipeline.archive import LocalArchive
from pipeline.crawler import Crawler
from pipeline.feeds import FeedSpec, due_feeds, get_feed, register_feeds, set_enabled
from pipeline.fetch import FetchPolicy
from pipeline.polling import REDIRECT_CONFIRMATIONS, PollContext, PollCounts, poll_feeds
from pipeline.politeness import BudgetSettings
from pipeline.schedule import BACKOFF_CAP, ScheduleSettings
from tests.webserver import Response

USER_AGENT = "feedpipe-test/1 (+https://example.org/feedpipe-contact)"
SCHEDULE = ScheduleSettings(min_interval=timedelta(minutes=5), max_interval=timedelta(hours=6))


def rss(*items: tuple[str, str], extra: str = "") -> bytes:
    """An RSS 2.0 document with (guid, link) items, dated an hour apart, newest first."""
    start = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    body = "".join(
        f"<item><guid>{guid}</guid><link>{link}</link><title>{guid}</title>"
        f"<pubDate>{(start - timedelta(hours=n)):%a, %d %b %Y %H:%M:%S} GMT</pubDate></item>"
        for n, (guid, link) in enumerate(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Test</title>{extra}{body}</channel></rss>'.encode()


FEED_V1 = rss(("a", "https://news.example.org/a"), ("b", "https://news.example.org/b"))
FEED_V2 = rss(("c", "https://news.example.org/c"), ("a", "https://news.example.org/a"), ("b", "https://news.example.org/b"))


@pytest.fixture
def archive(tmp_path: Path) -> LocalArchive:
    return LocalArchive(tmp_path / "archive")


@pytest.fixture
def crawler():
    with Crawler(FetchPolicy(USER_AGENT, allow_private_addresses=True), BudgetSettings(2, 0.0, 50)) as crawler:
        yield crawler


def test_the_crawler_is_started_by_its_caller_not_forked_from_the_fork_server(crawler):
    """The fork server first imports the processing code and the language model, which the crawler never uses."""
    assert psutil.Process(crawler.process.pid).ppid() == os.getpid()


def add(conn, *urls: str) -> list[int]:
    with db.transaction(conn) as cur:
        register_feeds(cur, [FeedSpec(url) for url in urls])
        cur.execute("SELECT id FROM feeds WHERE url = ANY(%s) ORDER BY id", (list(urls),))
        return [row[0] for row in cur.fetchall()]


def poll(conn, crawler, archive, include_not_due: bool = True) -> PollCounts:
    with db.transaction(conn) as cur:
        feeds = due_feeds(cur, include_not_due)
    return poll_feeds(PollContext(conn, archive, crawler, SCHEDULE, 0.0, None), feeds)


def feed(conn, feed_id: int):
    with db.transaction(conn) as cur:
        return get_feed(cur, feed_id)


def fetches(conn, feed_id: int) -> list[tuple]:
    with db.transaction(conn) as cur:
        cur.execute("""SELECT outcome, http_status, raw_archive_key, conditional, error, problem FROM feed_fetches
                       WHERE feed_id = %s ORDER BY id""", (feed_id,))
        return cur.fetchall()


def entry_count(conn, feed_id: int) -> int:
    with db.transaction(conn) as cur:
        cur.execute("SELECT count(*) FROM entries WHERE feed_id = %s", (feed_id,))
        return cur.fetchone()[0]


def archived_files(archive: LocalArchive) -> int:
    return sum(1 for path in archive.root.rglob("*.warc.gz"))


def set_feed(conn, feed_id: int, assignments: str) -> None:
    with db.transaction(conn) as cur:
        cur.execute(f"UPDATE feeds SET {assignments} WHERE id = %s", (feed_id,))


def test_304_round_trip_sends_both_validators_and_costs_no_parse_or_archive(conn, crawler, archive, web):
    web.route("/feed.xml", FEED_V1, etag='"v1"', last_modified="Wed, 01 May 2024 12:00:00 GMT")
    [feed_id] = add(conn, web.url("/feed.xml"))
    poll(conn, crawler, archive)
    stored = feed(conn, feed_id)
    assert (stored.etag, stored.last_modified) == ('"v1"', "Wed, 01 May 2024 12:00:00 GMT")
    files = archived_files(archive)

    poll(conn, crawler, archive)

    second = web.requests_for("/feed.xml")[1].headers
    assert (second["If-None-Match"], second["If-Modified-Since"]) == ('"v1"', "Wed, 01 May 2024 12:00:00 GMT")
    assert fetches(conn, feed_id)[-1][:4] == ("not_modified", 304, None, True)
    assert archived_files(archive) == files
    assert entry_count(conn, feed_id) == 2


def test_unchanged_200_body_is_skipped_without_parsing(conn, crawler, archive, web):
    web.route("/feed.xml", FEED_V1)
    [feed_id] = add(conn, web.url("/feed.xml"))
    poll(conn, crawler, archive)
    with db.transaction(conn) as cur:
        cur.execute("DELETE FROM entries WHERE feed_id = %s", (feed_id,))  # parsing would bring them back
    poll(conn, crawler, archive)
    assert fetches(conn, feed_id)[-1][:2] == ("unchanged", 200)
    assert entry_count(conn, feed_id) == 0


def test_new_body_records_new_entries(conn, crawler, archive, web):
    web.route("/feed.xml", FEED_V1)
    [feed_id] = add(conn, web.url("/feed.xml"))
    assert poll(conn, crawler, archive).new_entries == 2
    web.route("/feed.xml", FEED_V2)
    assert poll(conn, crawler, archive).new_entries == 1
    assert [row[0] for row in fetches(conn, feed_id)] == ["new", "new"]


def test_audit_catches_a_lying_304_and_switches_conditional_get_off(conn, crawler, archive, web):
    web.route("/feed.xml", FEED_V1, etag='"forever"')
    [feed_id] = add(conn, web.url("/feed.xml"))
    poll(conn, crawler, archive)
    web.route("/feed.xml", FEED_V2, etag='"forever"')  # changed, but the ETag still earns a 304
    poll(conn, crawler, archive)
    assert fetches(conn, feed_id)[-1][0] == "not_modified"  # trusted until the audit is due
    set_feed(conn, feed_id, "last_audit_at = now() - interval '25 hours'")

    poll(conn, crawler, archive)

    stored = feed(conn, feed_id)
    assert stored.conditional_get is False
    assert "304" in stored.conditional_get_note
    assert entry_count(conn, feed_id) == 3
    poll(conn, crawler, archive)
    assert "If-None-Match" not in web.requests_for("/feed.xml")[-1].headers


def test_repeated_etag_for_a_changed_body_switches_conditional_get_off(conn, crawler, archive, web):
    web.route("/feed.xml", FEED_V1, headers={"ETag": '"same"'})  # sent, but never answers 304
    [feed_id] = add(conn, web.url("/feed.xml"))
    poll(conn, crawler, archive)
    web.route("/feed.xml", FEED_V2, headers={"ETag": '"same"'})
    poll(conn, crawler, archive)
    stored = feed(conn, feed_id)
    assert not stored.conditional_get
    assert "repeated ETag" in stored.conditional_get_note


def test_honest_audit_keeps_conditional_get_on(conn, crawler, archive, web):
    web.route("/feed.xml", FEED_V1, etag='"v1"')
    [feed_id] = add(conn, web.url("/feed.xml"))
    poll(conn, crawler, archive)
    set_feed(conn, feed_id, "last_audit_at = now() - interval '25 hours'")
    poll(conn, crawler, archive)
    assert len(web.requests_for("/feed.xml")) == 3  # first poll, conditional 304, unconditional audit
    assert feed(conn, feed_id).conditional_get
    assert feed(conn, feed_id).last_audit_at > datetime.now(timezone.utc) - timedelta(minutes=1)


def test_301_updates_the_url_after_repeated_confirmation(conn, crawler, archive, web):
    web.route("/new.xml", FEED_V1)
    web.redirect("/old.xml", "/new.xml", status=301)
    [feed_id] = add(conn, web.url("/old.xml"))
    for _ in range(REDIRECT_CONFIRMATIONS - 1):
        poll(conn, crawler, archive)
        assert feed(conn, feed_id).url == web.url("/old.xml")
    poll(conn, crawler, archive)
    assert feed(conn, feed_id).url == web.url("/new.xml")


def test_308_counts_as_permanent_too(conn, crawler, archive, web):
    web.route("/new.xml", FEED_V1)
    web.redirect("/old.xml", "/new.xml", status=308)
    [feed_id] = add(conn, web.url("/old.xml"))
    for _ in range(REDIRECT_CONFIRMATIONS):
        poll(conn, crawler, archive)
    assert feed(conn, feed_id).url == web.url("/new.xml")


@pytest.mark.parametrize("status", [302, 307])
def test_temporary_redirect_never_updates_the_url(conn, crawler, archive, web, status):
    web.route("/today.xml", FEED_V1)
    web.redirect("/feed.xml", "/today.xml", status=status)
    [feed_id] = add(conn, web.url("/feed.xml"))
    for _ in range(REDIRECT_CONFIRMATIONS + 1):
        poll(conn, crawler, archive)
    assert feed(conn, feed_id).url == web.url("/feed.xml")
    assert entry_count(conn, feed_id) == 2


def test_410_disables_the_feed_and_enable_brings_it_back(conn, crawler, archive, web):
    web.route("/gone.xml", b"gone", status=410)
    [feed_id] = add(conn, web.url("/gone.xml"))
    poll(conn, crawler, archive)
    stored = feed(conn, feed_id)
    assert not stored.enabled and "410" in stored.disabled_reason
    assert fetches(conn, feed_id)[-1][0] == "gone"
    assert fetches(conn, feed_id)[-1][2] is not None  # the 410 body was archived
    poll(conn, crawler, archive)
    assert len(web.requests_for("/gone.xml")) == 1

    with db.transaction(conn) as cur:
        set_enabled(cur, feed_id, True)
    web.route("/gone.xml", FEED_V1)
    poll(conn, crawler, archive, include_not_due=False)
    assert feed(conn, feed_id).enabled and entry_count(conn, feed_id) == 2


def test_429_retry_after_seconds_holds_the_whole_domain(conn, crawler, archive, web):
    web.throttle("/busy.xml", retry_after=120)
    web.route("/other.xml", FEED_V1, delay=0.3)
    web.route("/elsewhere.xml", FEED_V1, delay=0.3)
    busy, other = add(conn, web.url("/busy.xml"), web.url("/other.xml"))
    [elsewhere] = add(conn, web.url("/elsewhere.xml", host="127.0.0.2"))
    poll(conn, crawler, archive)  # the 429 arrives while /other.xml waits for 127.0.0.1's budget
    poll(conn, crawler, archive)

    assert len(web.requests_for("/busy.xml")) == 1
    assert len(web.requests_for("/other.xml")) == 1  # the first round only: the domain is held
    assert len(web.requests_for("/elsewhere.xml")) == 2  # another domain is not held
    wait = feed(conn, busy).next_poll_at - datetime.now(timezone.utc)
    assert timedelta(seconds=100) < wait <= timedelta(seconds=120)
    assert feed(conn, busy).consecutive_failures == 0
    assert fetches(conn, other)[-1][0] == "deferred"
    with db.transaction(conn) as cur:
        cur.execute("SELECT hold_until FROM fetch_domains WHERE domain = '127.0.0.1'")
        assert cur.fetchone()[0] > datetime.now(timezone.utc) + timedelta(seconds=100)


def test_503_retry_after_http_date_is_honoured(conn, crawler, archive, web):
    until = (datetime.now(timezone.utc) + timedelta(minutes=10)).replace(microsecond=0)
    web.throttle("/maintenance.xml", retry_after=until, status=503)
    [feed_id] = add(conn, web.url("/maintenance.xml"))
    poll(conn, crawler, archive)
    assert feed(conn, feed_id).next_poll_at == until
    assert fetches(conn, feed_id)[-1][:2] == ("deferred", 503)


def test_held_domain_survives_into_the_next_run(conn, archive, web):
    web.throttle("/busy.xml", retry_after=300)
    web.route("/later.xml", FEED_V1)
    [busy] = add(conn, web.url("/busy.xml"))
    with Crawler(FetchPolicy(USER_AGENT, allow_private_addresses=True), BudgetSettings(2, 0.0, 10)) as first:
        poll(conn, first, archive)
    [later] = add(conn, web.url("/later.xml"))
    with Crawler(FetchPolicy(USER_AGENT, allow_private_addresses=True), BudgetSettings(2, 0.0, 10)) as second:
        poll(conn, second, archive)
    assert web.requests_for("/later.xml") == []
    assert fetches(conn, later)[-1][0] == "deferred"


def test_backoff_grows_with_weighted_failures_and_resets_on_success(conn, crawler, archive, web):
    web.route("/flaky.xml", b"oops", status=500)
    [feed_id] = add(conn, web.url("/flaky.xml"))
    delays = []
    for _ in range(4):
        poll(conn, crawler, archive)
        stored = feed(conn, feed_id)
        delays.append(stored.next_poll_at - stored.last_polled_at)
    assert all(later > earlier for earlier, later in zip(delays, delays[1:]))
    assert feed(conn, feed_id).consecutive_failures == 4

    web.route("/flaky.xml", FEED_V1)
    poll(conn, crawler, archive)
    stored = feed(conn, feed_id)
    assert (stored.consecutive_failures, stored.failure_score) == (0, 0)
    assert stored.next_poll_at - stored.last_polled_at <= SCHEDULE.max_interval


def test_404_weighs_more_than_a_timeout(conn, archive, web):
    web.route("/stalled.xml", FEED_V1, delay=1.0)
    missing, stalled = add(conn, web.url("/missing.xml"), web.url("/stalled.xml"))
    policy = FetchPolicy(USER_AGENT, allow_private_addresses=True, read_timeout=0.2)
    with Crawler(policy, BudgetSettings(2, 0.0, 10)) as crawler:
        poll(conn, crawler, archive)
    assert feed(conn, missing).failure_score > feed(conn, stalled).failure_score > 0
    assert "timeout" in fetches(conn, stalled)[-1][4].lower() or "Timeout" in fetches(conn, stalled)[-1][4]


def test_long_failing_feed_drops_to_a_slow_cadence_but_stays_enabled(conn, crawler, archive, web):
    [feed_id] = add(conn, web.url("/missing.xml"))
    set_feed(conn, feed_id, "failure_score = 40, consecutive_failures = 20")
    poll(conn, crawler, archive)
    stored = feed(conn, feed_id)
    assert stored.enabled
    assert BACKOFF_CAP * 0.75 <= stored.next_poll_at - stored.last_error_at <= BACKOFF_CAP


def test_only_due_feeds_are_polled_unless_all_are_asked_for(conn, crawler, archive, web):
    web.route("/due.xml", FEED_V1)
    web.route("/later.xml", FEED_V1)
    due, later = add(conn, web.url("/due.xml"), web.url("/later.xml"))
    set_feed(conn, later, "next_poll_at = now() + interval '1 hour'")
    poll(conn, crawler, archive, include_not_due=False)
    assert (len(web.requests_for("/due.xml")), len(web.requests_for("/later.xml"))) == (1, 0)
    poll(conn, crawler, archive, include_not_due=True)
    assert len(web.requests_for("/later.xml")) == 1


def test_interval_follows_publishing_rate_within_bounds(conn, crawler, archive, web):
    web.route("/hourly.xml", FEED_V2)  # entries an hour apart: poll every 30 minutes
    [feed_id] = add(conn, web.url("/hourly.xml"))
    poll(conn, crawler, archive)
    stored = feed(conn, feed_id)
    assert stored.next_poll_at - stored.last_polled_at == pytest.approx(timedelta(minutes=30), abs=timedelta(seconds=5))


def test_declared_intervals_are_lower_bounds(conn, crawler, archive, web):
    web.route("/ttl.xml", rss(("a", "https://x.example/a"), ("b", "https://x.example/b"), extra="<ttl>120</ttl>"))
    web.route("/cached.xml", FEED_V2, headers={"Cache-Control": "public, max-age=7200"})
    ttl, cached = add(conn, web.url("/ttl.xml"), web.url("/cached.xml"))
    poll(conn, crawler, archive)
    for feed_id in (ttl, cached):
        stored = feed(conn, feed_id)
        assert stored.next_poll_at - stored.last_polled_at == pytest.approx(timedelta(hours=2), abs=timedelta(seconds=5))


def test_unstable_guids_fall_back_to_links(conn, crawler, archive, web):
    web.route("/feed.xml", FEED_V1)
    [feed_id] = add(conn, web.url("/feed.xml"))
    poll(conn, crawler, archive)
    web.route("/feed.xml", rss(("a-v2", "https://news.example.org/a"), ("b-v2", "https://news.example.org/b"),
                               ("c", "https://news.example.org/c")))
    poll(conn, crawler, archive)
    stored = feed(conn, feed_id)
    assert stored.entry_identity == "link"
    assert "https://news.example.org/a" in stored.entry_identity_note
    assert entry_count(conn, feed_id) == 3  # a and b were not stored again; c is new


def test_bozo_feed_is_accepted_with_the_problem_recorded(conn, crawler, archive, web):
    web.route("/feed.xml", FEED_V1.replace(b"<title>Test</title>", b"<title>AT&T</title>"))
    [feed_id] = add(conn, web.url("/feed.xml"))
    poll(conn, crawler, archive)
    outcome, status, _, _, error, problem = fetches(conn, feed_id)[-1]
    assert (outcome, status, error) == ("new", 200, None)
    assert problem


def test_unreadable_document_and_unsafe_xml_are_errors_on_that_feed(conn, crawler, archive, web):
    web.route("/page.xml", b"<html><body><p>not a feed</p></body></html>")
    web.route("/laughs.xml", b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
                             b'<rss version="2.0"><channel><title>&b;</title></channel></rss>')
    page, laughs = add(conn, web.url("/page.xml"), web.url("/laughs.xml"))
    poll(conn, crawler, archive)
    assert "not a readable feed" in feed(conn, page).last_error
    assert "unsafe XML" in feed(conn, laughs).last_error
    assert fetches(conn, laughs)[-1][2] is not None  # archived even so


def test_oversize_feed_is_a_recorded_error(conn, crawler, archive, web):
    web.huge("/huge.xml", size=11 * 1024 * 1024, declare_length=False)
    [feed_id] = add(conn, web.url("/huge.xml"))
    poll(conn, crawler, archive)
    assert "larger than" in feed(conn, feed_id).last_error
    assert feed(conn, feed_id).enabled


def test_per_host_concurrency_never_exceeds_the_budget(conn, crawler, archive, web):
    for n in range(8):
        for host in ("127.0.0.1", "127.0.0.2"):
            web.route(f"/feed{n}.xml", FEED_V1, delay=0.2)
    add(conn, *[web.url(f"/feed{n}.xml", host=host) for n in range(8) for host in ("127.0.0.1", "127.0.0.2")])
    counts = poll(conn, crawler, archive)
    assert counts.polled == 16 and counts.failed == 0
    assert web.max_concurrent("127.0.0.1") == 2
    assert web.max_concurrent("127.0.0.2") == 2
    assert web.max_concurrent() >= 3  # the two hosts were polled side by side


def test_subdomains_share_one_budget():
    from pipeline.politeness import registrable_domain

    assert registrable_domain("https://feeds.example.co.uk/rss") == registrable_domain("https://www.example.co.uk/")
    assert registrable_domain("http://127.0.0.1:8080/feed") == "127.0.0.1"


def test_a_domain_leased_by_another_worker_is_left_to_it(conn, database_url, crawler, archive, web):
    web.route("/feed.xml", FEED_V1)
    [feed_id] = add(conn, web.url("/feed.xml"))
    other_worker = db.connect(database_url)
    try:
        with other_worker.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, hashtext('127.0.0.1'))", (0x706F6C6C,))
        assert poll(conn, crawler, archive).polled == 0
    finally:
        # Released before closing: a closed connection's backend lets its locks go a moment later, in its own time.
        with other_worker.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock_all()")
        other_worker.close()
    assert poll(conn, crawler, archive).polled == 1
