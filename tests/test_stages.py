"""The stages on their own: fetch and process as separate commands with the archive between them, claims that die
with their worker, several workers at once, the process pool, and replay from the archive."""
import gc
import multiprocessing
import os
import signal
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from pipeline import db, stages, store
from pipeline.children import worker_process_context
from pipeline.clean import PUBLISHER_RULES_FILE
from pipeline.config import Settings
from pipeline.extract import justext_stopwords
from pipeline.feeds import FeedSpec, load_feed_list
from pipeline.run import run_batch, run_steps
from pipeline.sample_site import serve_sample
from tests.test_batch import HARBOUR_STORY, city_post_documents, count, feed_list, settings_for


def entry_states(conn) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute("SELECT state, count(*) FROM entries GROUP BY state")
        return dict(cur.fetchall())


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    feedpipe = Path(sys.executable).with_name("feedpipe")
    return subprocess.run([str(feedpipe), *args], env=env, capture_output=True, text=True, timeout=300)


def serve_city_post(web) -> None:
    for path, body in city_post_documents(web).items():
        web.route(path, body=body)


def city_post_feed(web, tmp_path: Path) -> list[FeedSpec]:
    return load_feed_list(feed_list(tmp_path, web.url("/city/rss.xml")))


def site_with_articles(web, n: int, page_delay: float = 0.0) -> str:
    """A feed of `n` distinct articles on 127.0.0.1, each page answering after `page_delay` s; returns the feed URL."""
    items = []
    for i in range(n):
        paragraphs = [f"Report number {i} opens with the council's decision on district {i} and its {i * 7} new homes.",
                      f"The plan for district {i} was approved after {i + 3} hours of debate, officials said.",
                      f"Residents of district {i} will be consulted again in {i % 12 + 1} months."]
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        web.route(f"/n/{i}.html", body=f"<html><head><title>Report {i}</title></head><body><article><h1>Report {i}"
                                       f"</h1>{body}</article></body></html>".encode(), delay=page_delay)
        items.append(f"<item><guid>n-{i}</guid><title>Report {i}</title><link>{web.url(f'/n/{i}.html')}</link></item>")
    web.route("/n/rss.xml", body=f'<rss version="2.0"><channel><title>N</title>{"".join(items)}</channel></rss>'.encode())
    return web.url("/n/rss.xml")


def test_fetch_and_process_run_as_separate_commands_with_the_archive_between_them(web, tmp_path, database_url, conn):
    serve_city_post(web)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDPIPE_")} | {
        "FEEDPIPE_HOME": str(tmp_path / "home"), "FEEDPIPE_DATABASE_URL": database_url,
        "FEEDPIPE_ALLOW_PRIVATE_ADDRESSES": "1", "FEEDPIPE_ARCHIVE_URL": (tmp_path / "archive").as_uri()}
    registered = cli("feeds", "import", str(feed_list(tmp_path, web.url("/city/rss.xml"))), env=env)
    assert registered.returncode == 0, registered.stderr

    assert cli("poll", env=env).returncode == 0
    fetched = cli("fetch", env=env)

    assert fetched.returncode == 0, fetched.stderr
    assert entry_states(conn) == {"fetched": 2}
    assert count(conn, "articles") == 0

    web.stop()  # processing needs no network: the pages come back from the archive
    processed = cli("process", env=env)

    assert processed.returncode == 0, processed.stderr
    assert entry_states(conn) == {"loaded": 2}
    with conn.cursor() as cur:
        cur.execute("""SELECT count(*) FROM articles a JOIN entries e ON e.article_id = a.id
                       WHERE a.raw_archive_key = e.fetch_archive_key AND a.payload_sha256 IS NOT NULL
                         AND a.run_id IS NOT NULL AND a.extractor_version IS NOT NULL""")
        assert cur.fetchone()[0] == 2
        cur.execute("SELECT articles_processed, articles_loaded, stage_seconds ? 'extract' FROM ingest_runs "
                    "WHERE articles_processed > 0")
        assert cur.fetchall() == [(2, 2, True)]


def test_a_page_fetched_into_s3_by_one_process_is_processed_by_another(web, tmp_path, database_url, conn, s3_bucket,
                                                                        s3_endpoint):
    serve_city_post(web)
    settings = settings_for(tmp_path, database_url, f"s3://{s3_bucket}/raw", s3_endpoint_url=s3_endpoint)
    run_steps(settings, [stages.poll, stages.fetch], city_post_feed(web, tmp_path))
    other_process = multiprocessing.get_context("spawn").Process(target=run_steps, args=(settings, [stages.process]))

    other_process.start()
    other_process.join(120)

    assert other_process.exitcode == 0
    assert entry_states(conn) == {"loaded": 2}
    assert count(conn, "articles") == 2


def claim_and_die(database_url: str) -> None:
    """A process worker that claims fetched entries and is killed before it processes them."""
    conn = db.connect(database_url)
    with db.transaction(conn) as cur:
        assert store.claim_entries_to_process(cur, 10)
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_between_fetch_and_process_loses_nothing(web, tmp_path, database_url, conn):
    serve_city_post(web)
    settings = settings_for(tmp_path, database_url)
    run_steps(settings, [stages.poll, stages.fetch], city_post_feed(web, tmp_path))
    killed = multiprocessing.get_context("spawn").Process(target=claim_and_die, args=(database_url,))
    killed.start()
    killed.join(60)

    assert killed.exitcode == -signal.SIGKILL
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM entries WHERE claimed_by_pid IS NOT NULL")
        assert cur.fetchone()[0] == 2  # the dead worker's claims are still recorded ...
    conn.commit()

    summary = run_steps(settings, [stages.process], [])

    assert summary.articles_loaded == 2  # ... but lapsed with its session: the next worker takes them at once
    assert entry_states(conn) == {"loaded": 2}


def process_once(settings: Settings, run_id: int) -> dict:
    return stages.process(settings, run_id, workers=1)


def test_two_process_workers_at_once_load_each_article_once(web, tmp_path, database_url, conn):
    settings = settings_for(tmp_path, database_url)
    with db.transaction(conn) as cur:
        cur.execute("INSERT INTO feeds (url) VALUES (%s)", (site_with_articles(web, 40),))
    run_steps(settings, [stages.poll, stages.fetch], [])
    with db.transaction(conn) as cur:
        run_id = store.start_run(cur)

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(process_once, [(settings, run_id), (settings, run_id)])

    assert sum(result.get("articles_loaded", 0) for result in results) == 40
    assert all(result.get("articles_loaded") for result in results)  # both workers did some of the work
    assert count(conn, "articles") == 40
    assert entry_states(conn) == {"loaded": 40}
    with conn.cursor() as cur:
        cur.execute("SELECT count(DISTINCT article_id) FROM entries")
        assert cur.fetchone()[0] == 40


def test_the_pool_processes_in_more_than_one_process(web, tmp_path, database_url, conn):
    settings = settings_for(tmp_path, database_url)
    with db.transaction(conn) as cur:
        cur.execute("INSERT INTO feeds (url) VALUES (%s)", (site_with_articles(web, 60),))
    run_steps(settings, [stages.poll, stages.fetch], [])

    summary = run_steps(settings, [lambda s, run_id: stages.process(s, run_id, workers=2)], [])

    assert summary.articles_loaded == 60
    assert summary.details["busy_workers"] == 2


def test_a_process_worker_keeps_what_it_forked_with_out_of_garbage_collection():
    with ProcessPoolExecutor(1, mp_context=worker_process_context(), initializer=stages.prepare_worker) as pool:
        assert pool.submit(gc.get_freeze_count).result() > 10_000


def stop_word_sets_built() -> int:
    return justext_stopwords.cache_info().misses


def test_a_process_worker_starts_with_jusTexts_stop_words_built_by_the_fork_server():
    with ProcessPoolExecutor(1, mp_context=worker_process_context(), initializer=stages.prepare_worker) as pool:
        built_before_the_worker_started = pool.submit(stop_word_sets_built).result()
    assert built_before_the_worker_started == 1


DERIVED_COLUMNS = """a.canonical_url, a.url, a.title, a.body, a.dateline, a.authors, a.published_at, a.fetched_at,
    a.language, a.is_syndicated, a.agency, a.content_sha256, a.raw_archive_key, a.payload_sha256, a.publisher,
    a.removed, a.syndication_notice, a.extractor_version, a.rules_version, e.guid"""


def snapshot(conn) -> tuple[list, set]:
    """Every article's derived content, and the stories as sets of copies with their canonical copy."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT {DERIVED_COLUMNS} FROM articles a JOIN entries e ON e.article_id = a.id ORDER BY 1")
        articles = cur.fetchall()
        cur.execute("""SELECT (SELECT canonical_url FROM articles WHERE id = s.canonical_article_id),
                              array_agg(a.canonical_url ORDER BY a.canonical_url)
                       FROM stories s JOIN articles a ON a.story_id = s.id GROUP BY s.id""")
        stories = {(canonical, tuple(copies)) for canonical, copies in cur.fetchall()}
    conn.commit()
    return articles, stories


def empty_derived_tables(conn) -> None:
    with db.transaction(conn) as cur:
        cur.execute("UPDATE stories SET canonical_article_id = NULL")
        cur.execute("DELETE FROM story_merges; DELETE FROM articles; DELETE FROM stories")


def test_replay_from_the_archive_rebuilds_identical_rows(tmp_path, database_url, conn):
    settings = settings_for(tmp_path, database_url)
    with serve_sample() as site:
        site.write_feeds_yaml(tmp_path / "feeds.yaml")
        loaded = run_batch(settings, tmp_path / "feeds.yaml")
    assert loaded.articles_loaded >= 12
    before = snapshot(conn)
    empty_derived_tables(conn)
    assert count(conn, "articles") == 0

    replay = run_steps(settings, [stages.reprocess], [])

    assert replay.articles_processed == loaded.articles_loaded
    assert snapshot(conn) == before


def test_replay_after_a_rule_change_changes_exactly_the_affected_bodies(web, tmp_path, database_url, conn):
    serve_city_post(web)
    run_batch(settings_for(tmp_path, database_url), feed_list(tmp_path, web.url("/city/rss.xml")))
    bodies_before = dict(snapshot_bodies(conn))
    rules = tmp_path / "rules.yaml"
    rules.write_text(PUBLISHER_RULES_FILE.read_text() + "\n127.0.0.1:\n  lines:\n    auction: '^Prices at the morning auction'\n")
    changed_rules = settings_for(tmp_path, database_url, rules_file=rules)

    replay = run_steps(changed_rules, [stages.reprocess], [])

    bodies_after = dict(snapshot_bodies(conn))
    changed = {url for url in bodies_before if bodies_before[url] != bodies_after[url]}
    assert changed == {web.url("/city/harbour.html")}
    assert HARBOUR_STORY[1] not in bodies_after[web.url("/city/harbour.html")]
    assert replay.details["articles_changed"] == 1
    assert replay.articles_processed == 2


def snapshot_bodies(conn) -> list[tuple[str, str]]:
    with conn.cursor() as cur:
        cur.execute("SELECT canonical_url, body FROM articles")
        rows = cur.fetchall()
    conn.commit()
    return rows


@pytest.mark.parametrize("selection, expected", [({"feed": "FEED0"}, 2), ({"feed": "FEED1"}, 0),
                                                 ({"publisher": "127.0.0.1"}, 2), ({"publisher": "example.org"}, 0)])
def test_replay_selects_by_feed_and_publisher(web, tmp_path, database_url, conn, selection, expected):
    serve_city_post(web)
    urls = [web.url("/city/rss.xml"), web.url("/missing.xml")]
    run_batch(settings_for(tmp_path, database_url), feed_list(tmp_path, *urls))
    if "feed" in selection:
        selection = {"feed": urls[int(selection["feed"][-1])]}

    replay = run_steps(settings_for(tmp_path, database_url),
                       [lambda s, run_id: stages.reprocess(s, run_id, workers=1, **selection)], [])

    assert replay.articles_processed == expected


def test_a_batch_processes_pages_while_it_is_still_fetching(web, tmp_path, database_url, conn):
    feed_url = site_with_articles(web, 10, page_delay=1.0)
    settings = settings_for(tmp_path, database_url, per_domain_limit=1, per_domain_delay=0.0, process_workers=1)

    summary = run_batch(settings, feed_list(tmp_path, feed_url))

    assert summary.articles_loaded == 10
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT min(created_at) FROM articles) < (SELECT max(fetched_at) FROM entries)")
        assert cur.fetchone()[0], "the first article was loaded only after the last page was fetched"
