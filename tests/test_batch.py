"""One batch end to end: local feed server -> real Postgres -> real archive (local folder and S3)."""
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from pipeline.archive import open_archive
from pipeline.config import Settings
from pipeline.run import run_batch
from tests.webserver import Response

TRAM_STORY = [
    "The city council voted on Tuesday to extend the tram network by twelve kilometres, the largest extension "
    "since the line opened three decades ago.",
    "Construction is due to begin next spring and to last four years, the transport commissioner told reporters "
    "outside the council chamber.",
    "Opponents said the cost would strain the municipal budget for a generation and asked for a referendum.",
]
HARBOUR_STORY = [
    "Fishermen in the northern harbour reported their best herring catch in a decade this week, crediting a "
    "cold spring and new quotas.",
    "Prices at the morning auction fell by a fifth as boats returned full, traders said.",
    "The harbour master said the quay would stay open late through the end of the month.",
]


def article_page(title: str, paragraphs: list[str], canonical: str) -> bytes:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html><head><title>{title} - City Post</title>
<link rel="canonical" href="{canonical}"></head>
<body><nav><a href="/">Home</a> <a href="/city">City</a></nav>
<article><h1>{title}</h1>{body}</article>
<footer>City Post, all rights reserved</footer></body></html>""".encode()


def rss(items: list[tuple[str, str, str]]) -> bytes:
    rendered = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><link>{link}</link>"
        f"<pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate></item>"
        for guid, title, link in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>City Post</title>{rendered}</channel></rss>'.encode()


def city_post_documents(web) -> dict[str, bytes]:
    """The City Post site: an RSS feed with two articles, by path."""
    return {
        "/city/tram.html": article_page("Council backs tram extension", TRAM_STORY, web.url("/city/tram.html")),
        "/city/harbour.html": article_page("Record herring catch", HARBOUR_STORY, web.url("/city/harbour.html")),
        "/city/rss.xml": rss([("tram-1", "Council backs tram extension", web.url("/city/tram.html")),
                              ("harbour-1", "Record herring catch", web.url("/city/harbour.html"))]),
    }


@pytest.fixture
def city_post(web):
    for path, body in city_post_documents(web).items():
        web.route(path, body=body, headers={"Content-Type": "application/rss+xml" if path.endswith(".xml") else "text/html"})
    return web


def feed_list(tmp_path: Path, *urls: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n" + "".join(f"  - url: {u}\n    name: Feed {i}\n    publisher: Pub {i}\n" for i, u in enumerate(urls)))
    return path


def settings_for(tmp_path: Path, database_url: str, archive_url: str | None = None, **extra) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url, archive_url=archive_url,
                    allow_private_addresses=True, **extra)


def count(conn, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


@pytest.fixture(params=["file", "s3"])
def archive_url(request, tmp_path, monkeypatch):
    if request.param == "file":
        return (tmp_path / "archive").as_uri()
    bucket = request.getfixturevalue("s3_bucket")
    monkeypatch.setenv("FEEDPIPE_S3_ENDPOINT_URL", request.getfixturevalue("s3_endpoint"))
    return f"s3://{bucket}/feedpipe"


def test_batch_loads_articles_and_archives_every_response(city_post, conn, database_url, archive_url, tmp_path):
    settings = Settings.from_env().with_overrides(
        home=tmp_path / "home", database_url=database_url, archive_url=archive_url, allow_private_addresses=True
    )
    summary = run_batch(settings, feed_list(tmp_path, city_post.url("/city/rss.xml")))

    assert (summary.feeds_polled, summary.feeds_failed, summary.new_entries, summary.articles_loaded) == (1, 0, 2, 2)
    with conn.cursor() as cur:
        cur.execute("SELECT title, body, canonical_url, raw_archive_key, story_id FROM articles ORDER BY title")
        articles = cur.fetchall()
        cur.execute("SELECT raw_archive_key FROM feed_fetches")
        feed_keys = [row[0] for row in cur.fetchall()]
    assert [a[0] for a in articles] == ["Council backs tram extension", "Record herring catch"]
    assert TRAM_STORY[0] in articles[0][1] and TRAM_STORY[2] in articles[0][1]
    assert "all rights reserved" not in articles[0][1]
    assert all(a[4] is not None for a in articles)

    archive = open_archive(archive_url, settings.s3_endpoint_url)
    served = {city_post.url(path): body for path, body in city_post_documents(city_post).items()}
    archived = {}
    for key in feed_keys + [a[3] for a in articles]:
        for record in ArchiveIterator(io.BytesIO(archive.get(key))):
            archived[record.rec_headers.get_header("WARC-Target-URI")] = record.content_stream().read()
    assert archived == served
    assert summary.bytes_archived > 0


def test_running_the_same_batch_twice_adds_no_rows(city_post, conn, database_url, tmp_path):
    settings = settings_for(tmp_path, database_url)
    feeds = feed_list(tmp_path, city_post.url("/city/rss.xml"))
    run_batch(settings, feeds)
    tables = ["feeds", "entries", "articles", "stories"]
    before = {t: count(conn, t) for t in tables}

    second = run_batch(settings, feeds)

    assert {t: count(conn, t) for t in tables} == before
    assert (second.new_entries, second.articles_loaded, second.bytes_archived) == (0, 0, 0)
    assert count(conn, "ingest_runs") == 2


def test_failing_feeds_are_recorded_and_the_others_still_load(city_post, conn, database_url, tmp_path):
    city_post.route("/down.xml", status=500, body=b"Internal Server Error")
    city_post.route("/broken.xml", body=b"<html><body>this is not a feed", headers={"Content-Type": "text/html"})
    refused = "http://127.0.0.1:9/nothing-listens-here.xml"
    feeds = feed_list(tmp_path, city_post.url("/down.xml"), refused, city_post.url("/broken.xml"),
                      city_post.url("/city/rss.xml"))

    summary = run_batch(settings_for(tmp_path, database_url), feeds)

    assert (summary.feeds_polled, summary.feeds_failed, summary.articles_loaded) == (4, 3, 2)
    with conn.cursor() as cur:
        cur.execute("""SELECT f.url, ff.http_status, ff.error, f.consecutive_failures
                       FROM feed_fetches ff JOIN feeds f ON f.id = ff.feed_id""")
        fetches = {url: (status, error, failures) for url, status, error, failures in cur.fetchall()}
    assert fetches[city_post.url("/down.xml")][:1] == (500,) and "HTTP 500" in fetches[city_post.url("/down.xml")][1]
    assert fetches[refused][0] is None and "ConnectError" in fetches[refused][1]
    assert "not a readable feed" in fetches[city_post.url("/broken.xml")][1]
    assert fetches[city_post.url("/city/rss.xml")] == (200, None, 0)
    assert all(failures == 1 for url, (_, _, failures) in fetches.items() if url != city_post.url("/city/rss.xml"))


def test_an_article_that_cannot_be_fetched_yet_is_retried_by_the_next_run(city_post, conn, database_url, tmp_path):
    settings = settings_for(tmp_path, database_url)
    feeds = feed_list(tmp_path, city_post.url("/city/rss.xml"))
    tram_page = city_post_documents(city_post)["/city/tram.html"]
    city_post.route("/city/tram.html", status=503, body=b"busy")

    first = run_batch(settings, feeds)
    with conn.cursor() as cur:
        cur.execute("SELECT state, attempts, last_error FROM entries WHERE link LIKE '%tram.html'")
        assert cur.fetchone() == ("pending", 1, "HTTP 503 Service Unavailable")

    city_post.route("/city/tram.html", body=tram_page)
    second = run_batch(settings, feeds)

    assert (first.articles_loaded, first.articles_failed, second.articles_loaded) == (1, 1, 1)
    with conn.cursor() as cur:
        cur.execute("SELECT state FROM entries")
        assert cur.fetchall() == [("loaded",), ("loaded",)]


def test_private_addresses_are_refused_unless_allowed(city_post, conn, database_url, tmp_path):
    settings = Settings(home=tmp_path / "home", database_url=database_url)
    summary = run_batch(settings, feed_list(tmp_path, city_post.url("/city/rss.xml")))
    assert (summary.feeds_failed, summary.articles_loaded) == (1, 0)
    with conn.cursor() as cur:
        cur.execute("SELECT error FROM feed_fetches")
        assert "non-public address" in cur.fetchone()[0]


def test_cli_run_needs_nothing_but_an_empty_home(city_post, tmp_path, postgres_home):
    home = postgres_home()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDPIPE_")} | {"FEEDPIPE_HOME": str(home)}
    feedpipe = Path(sys.executable).with_name("feedpipe")
    command = [str(feedpipe), "run", "--feeds", str(feed_list(tmp_path, city_post.url("/city/rss.xml"))),
               "--allow-private-addresses"]

    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert first.returncode == 0, first.stderr
    assert "1 feeds polled, 0 failed, 2 new entries, 2 articles loaded" in first.stdout
    assert "0 new entries, 0 articles loaded" in second.stdout
    assert any((home / "archive" / "raw" / "pages").rglob("*.warc.gz"))
    assert (home / "pg").is_dir()


def test_stored_article_keeps_what_cleaning_removed_and_the_versions_that_did_it(web, conn, database_url, tmp_path):
    paragraphs = ["Moscow:", TRAM_STORY[0], "Advertisement", TRAM_STORY[1], TRAM_STORY[2],
                  "(Except for the headline, this story has not been edited by City Post staff and is published "
                  "from a syndicated feed.)"]
    web.route("/tram.html", body=article_page("Council backs tram extension", paragraphs, web.url("/tram.html")))
    web.route("/rss.xml", body=rss([("t", "Council backs tram extension", web.url("/tram.html"))]))

    run_batch(settings_for(tmp_path, database_url), feed_list(tmp_path, web.url("/rss.xml")))

    with conn.cursor() as cur:
        cur.execute("""SELECT body, dateline, is_syndicated, syndication_notice, removed, extractor_version,
                              rules_version FROM articles""")
        body, dateline, syndicated, notice, removed, extractor_version, rules_version = cur.fetchone()
    assert body == "\n\n".join(TRAM_STORY)
    assert dateline == "Moscow" and syndicated and "syndicated feed" in notice
    assert {r["text"] for r in removed} >= {"Advertisement"}
    assert all(r["rule"] for r in removed)
    assert extractor_version.startswith("trafilatura-") and rules_version


def test_cli_run_reports_an_unusable_feed_list_or_archive_url_in_one_line(tmp_path, postgres_home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDPIPE_")} | {"FEEDPIPE_HOME": str(postgres_home())}
    feedpipe = str(Path(sys.executable).with_name("feedpipe"))
    not_a_list = tmp_path / "feeds.yaml"
    not_a_list.write_text("feeds: 3\n")

    missing = subprocess.run([feedpipe, "run", "--feeds", str(tmp_path / "missing.yaml")],
                             env=env, capture_output=True, text=True, timeout=120)
    malformed = subprocess.run([feedpipe, "run", "--feeds", str(not_a_list)],
                               env=env, capture_output=True, text=True, timeout=120)
    bad_archive = subprocess.run([feedpipe, "run", "--archive-url", "ftp://archive.example/raw"],
                                 env=env, capture_output=True, text=True, timeout=120)

    assert missing.returncode == 1 and "missing.yaml" in missing.stderr and "Traceback" not in missing.stderr
    assert malformed.returncode == 1 and "expected a top-level 'feeds:' list" in malformed.stderr
    assert bad_archive.returncode == 2 and bad_archive.stderr.strip() == (
        "feedpipe: --archive-url=ftp://archive.example/raw: expected s3://bucket/prefix or file:///path")


def test_entries_whose_links_differ_only_in_their_query_load_as_separate_articles(web, conn, database_url, tmp_path):
    stories = [TRAM_STORY, HARBOUR_STORY, list(reversed(TRAM_STORY))]

    def story_page(request):
        number = int(request.path.split("story=")[1])
        return Response(body=article_page(f"Story {number}", stories[number], web.url(f"/news.php?story={number}")),
                        headers={"Content-Type": "text/html"})

    web.handler("/news.php", story_page)
    items = "".join(f"<item><title>Story {n}</title><link>{web.url(f'/news.php?story={n}')}</link></item>"
                    for n in range(3))
    web.route("/rss.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>{items}'
                          f"</channel></rss>".encode())

    summary = run_batch(settings_for(tmp_path, database_url), feed_list(tmp_path, web.url("/rss.xml")))

    assert (summary.new_entries, summary.articles_loaded) == (3, 3)
    with conn.cursor() as cur:
        cur.execute("SELECT title FROM articles ORDER BY title")
        assert [row[0] for row in cur.fetchall()] == ["Story 0", "Story 1", "Story 2"]


def test_an_article_loaded_from_the_feed_text_after_a_404_takes_the_entrys_title(web, conn, database_url, tmp_path):
    text = "".join(f"&lt;p&gt;{p}&lt;/p&gt;" for p in HARBOUR_STORY)
    web.route("/rss.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour</title><item>'
                          f"<guid>h1</guid><title>Record herring catch</title><link>{web.url('/gone.html')}</link>"
                          f"<description>{text}</description></item></channel></rss>".encode())

    summary = run_batch(settings_for(tmp_path, database_url), feed_list(tmp_path, web.url("/rss.xml")))

    assert summary.articles_loaded == 1
    with conn.cursor() as cur:
        cur.execute("SELECT title, body FROM articles")
        title, body = cur.fetchone()
    assert title == "Record herring catch" and HARBOUR_STORY[0] in body
