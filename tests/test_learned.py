"""Learned boilerplate and the publisher_quality view, on the real (embedded) Postgres."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from pipeline.clean import KNOWN_BOILERPLATE, boilerplate_markers_left, clean_page
from pipeline.extract import ExtractedPage
from pipeline.learned import LEARNED_LINES, LINES_TO_LEARN, LearningPolicy, learned_lines, record_article_lines

PROMO = "Get the Harbour Times weekend edition delivered"
QUOTE = '"We will rebuild the pier," the mayor said.'


def insert_article(cur, n: int, body: str = "A body.", **columns) -> int:
    values = {"url": f"https://harbour.example/{n}", "canonical_url": f"https://harbour.example/{n}", "body": body,
              "fetched_at": datetime(2023, 11, 25, tzinfo=timezone.utc), "content_sha256": str(n), **columns}
    names = ", ".join(values)
    cur.execute(f"INSERT INTO articles ({names}) VALUES ({', '.join(['%s'] * len(values))}) RETURNING id",
                [json.dumps(v) if isinstance(v, list) else v for v in values.values()])
    return cur.fetchone()[0]


def test_a_line_on_enough_articles_is_learned_and_then_removed(conn):
    publisher = "harbour-learned.example"
    with conn.cursor() as cur:
        learned_by = []
        for n in range(6):
            article_id = insert_article(cur, n)
            learned_by.append(record_article_lines(cur, publisher, article_id, [PROMO, f"Story {n} line"]))
        learned = learned_lines(cur, publisher)
        cur.execute("SELECT article_count, learned_at IS NOT NULL FROM learned_boilerplate WHERE line = %s", (PROMO,))
        counts = cur.fetchone()
    assert learned_by == [[], [], [], [], [PROMO], []]
    assert counts == (6, True)
    page = ExtractedPage(title="t", paragraphs=["The pier reopened on Saturday after two years of repairs.", PROMO])
    cleaned = clean_page(page, learned=learned)
    assert [(r.text, r.rule) for r in cleaned.removed] == [(PROMO, "learned")]


def test_a_line_on_too_small_a_share_of_the_publisher_articles_is_not_learned(conn):
    publisher = "harbour-share.example"
    with conn.cursor() as cur:
        for n in range(30):
            lines = [PROMO] if n >= 25 else []
            record_article_lines(cur, publisher, insert_article(cur, n), lines)
        assert learned_lines(cur, publisher) == set()


def test_recording_the_same_article_again_counts_nothing_twice(conn):
    publisher = "harbour-again.example"
    with conn.cursor() as cur:
        article_id = insert_article(cur, 1)
        for _ in range(6):
            record_article_lines(cur, publisher, article_id, [PROMO], LearningPolicy(min_articles=2, min_share=0.0))
        cur.execute("SELECT article_count FROM learned_boilerplate WHERE publisher = %s", (publisher,))
        assert cur.fetchone() == (1,)
        assert learned_lines(cur, publisher) == set()


def test_reading_the_learned_lines_does_not_scan_every_line_counted_for_a_publisher_new_to_the_statistics(conn):
    newcomer = "harbour-many.example"
    count_lines = """INSERT INTO learned_boilerplate (publisher, line_key, line, article_count, learned_at)
                     SELECT %s, 'line ' || n, 'Line ' || n, 1, CASE WHEN n <= 3 THEN now() END
                     FROM generate_series(1, 20000) AS n"""
    with conn.cursor() as cur:
        cur.execute(count_lines, ("harbour-old.example",))
        cur.execute("ANALYZE learned_boilerplate")
        cur.execute(count_lines, (newcomer,))
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + LEARNED_LINES, (newcomer,))
        plan = cur.fetchone()[0][0]
        assert learned_lines(cur, newcomer) == {"line 1", "line 2", "line 3"}
    assert plan["Plan"]["Shared Hit Blocks"] < 20


def test_the_share_check_reads_only_the_candidate_lines_counters_for_a_publisher_new_to_the_statistics(conn):
    newcomer = "harbour-new.example"
    today = "(now() AT TIME ZONE 'UTC')::date"
    count_lines = f"""INSERT INTO learned_boilerplate (publisher, line_key, line, article_count)
                      SELECT %(publisher)s, 'line ' || n, 'Line ' || n, 6 FROM generate_series(1, 3000) AS n;
                      INSERT INTO boilerplate_line_days (publisher, line_key, day, articles)
                      SELECT %(publisher)s, 'line ' || n, {today}, 6 FROM generate_series(1, 3000) AS n;
                      INSERT INTO boilerplate_publisher_days VALUES (%(publisher)s, {today}, 1000)"""
    with conn.cursor() as cur:
        cur.execute(count_lines, {"publisher": "harbour-old.example"})
        cur.execute("ANALYZE learned_boilerplate; ANALYZE boilerplate_line_days")
        cur.execute(count_lines, {"publisher": newcomer})
        cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + LINES_TO_LEARN,
                    {"publisher": newcomer, "keys": ["line 7"], "days": 30, "min_articles": 5, "min_share": 0.2})
        plan = cur.fetchone()[0][0]
    assert plan["Plan"]["Actual Rows"] == 0  # on 6 of 1,000 articles: not learned
    assert plan["Plan"]["Shared Hit Blocks"] < 20


def test_quoted_speech_and_long_paragraphs_are_never_learned(conn):
    publisher = "harbour-quotes.example"
    long_paragraph = "The council approved the harbour budget after a long debate about repairs to the pier. " * 2
    with conn.cursor() as cur:
        for n in range(10):
            record_article_lines(cur, publisher, insert_article(cur, n), [QUOTE, long_paragraph])
        cur.execute("SELECT count(*) FROM learned_boilerplate WHERE publisher = %s", (publisher,))
        assert cur.fetchone() == (0,)


def test_publisher_quality_shows_articles_short_bodies_removals_and_markers_left(conn):
    long_body = "The pier reopened after repairs. " * 20
    with conn.cursor() as cur:
        insert_article(cur, 1, long_body, publisher="harbour.example",
                       removed=[{"text": "Advertisement", "rule": "ad_marker"}, {"text": "Sponsored", "rule": "ad_marker"}])
        insert_article(cur, 2, "Too short.", publisher="harbour.example",
                       removed=[{"text": "Read Time: 2 mins", "rule": "reading_time"}])
        insert_article(cur, 3, long_body + "\n\nAdvertisement", publisher="harbour.example", rules_version="1+abc")
        insert_article(cur, 4, long_body + "\n\nThe campaign ran carefully sculpted advertisements.",
                       publisher="harbour.example")
        cur.execute("""SELECT articles, empty_or_short, removals_by_rule, articles_with_markers, markers_left,
                              rules_versions FROM publisher_quality WHERE publisher = 'harbour.example'""")
        row = cur.fetchone()
    assert row == (4, 1, {"ad_marker": 2, "reading_time": 1}, 1, {"Advertisement": 1}, ["1+abc"])


def test_the_view_looks_for_the_same_markers_the_evaluation_counts(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT marker FROM boilerplate_markers")
        assert {row[0] for row in cur.fetchall()} == set(KNOWN_BOILERPLATE)


def test_the_database_finds_the_markers_left_that_the_evaluation_finds(conn):
    bodies = [
        "Advertisement",
        "The pier reopened.\n\n• ADVERTISEMENT •\n\nRepairs took a year.",
        "— Advertisement — Advertisement —",
        "Advertisement revenue fell.",
        "The campaign ran carefully sculpted advertisements.",
        "• Identify the message as an advertisement in some reasonable way.",
        "The pier reopened. Story continues below",
        "Additional reporting by Ana Ruiz; editing by Tom Lee",
        "Read Time: 2 mins\nThe pier reopened.",
        "The pier reopened “Advertisement”\n\nwith a ribbon.",
        "",
    ]
    with conn.cursor() as cur:
        for body in bodies:
            cur.execute("SELECT marker FROM boilerplate_markers WHERE boilerplate_marker_left(%s, marker)", (body,))
            assert sorted(row[0] for row in cur.fetchall()) == sorted(boilerplate_markers_left(body)), body
