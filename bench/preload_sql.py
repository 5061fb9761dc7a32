"""Bulk SQL that stores N articles as the per-article path would have left them, for the end-to-end benchmark.

Every table the per-article path reads gets rows of its production shape, all generated server-side:
- `feeds` (the benchmark site's own feeds) and one `entries` row per article, state 'loaded';
- `articles` of the site's publishers (the loopback hosts), each in a `stories` row of its own with its
  `story_assignments` row, and a body of 60 distinct words;
- `dedupe_keys`: 28 keys per article, as many as a real article gets (24 LSH bands, 3 lead sentences, body);
- learned boilerplate: each article seen in `boilerplate_articles`, and in `boilerplate_line_sightings` with one
  line its publisher prints on every article (learned), two of 39 recurring lines (counted, not learned) and two
  lines of its own; `learned_boilerplate` holds the counts per line, learned where the policy would have, and
  the daily counters `boilerplate_publisher_days` and `boilerplate_line_days` add up those rows.
All within the last 30 days, so the learning window sees every row. Ids start at 1,000,000,000, clear of the
ids the sequences give the benchmark's own articles.
"""
from __future__ import annotations

from pipeline import db
from pipeline.learned import DEFAULT_POLICY

FIRST_ID = 1_000_000_000
KEYS_PER_ARTICLE = 28
RECURRING_LINES = 39
DROPPED_FOR_LOAD = [  # indexes rebuilt after the bulk insert, as a bulk load should
    ("ALTER TABLE dedupe_keys DROP CONSTRAINT dedupe_keys_pkey",
     "ALTER TABLE dedupe_keys ADD PRIMARY KEY (key, article_id)"),
    ("DROP INDEX dedupe_keys_article", "CREATE INDEX dedupe_keys_article ON dedupe_keys (article_id)"),
    ("ALTER TABLE boilerplate_line_sightings DROP CONSTRAINT boilerplate_line_sightings_pkey",
     "ALTER TABLE boilerplate_line_sightings ADD PRIMARY KEY (publisher, line_key, article_id)"),
    ("DROP INDEX articles_search_vector",
     "CREATE INDEX articles_search_vector ON articles USING gin (search_vector)"),
]

STATEMENTS = [
    "INSERT INTO feeds (url) SELECT unnest(%(feed_urls)s::text[]) ON CONFLICT (url) DO NOTHING",
    """CREATE TEMPORARY TABLE stored ON COMMIT DROP AS
       SELECT i AS id,
              (%(hosts)s::text[])[1 + (i - %(first)s) %% cardinality(%(hosts)s::text[])] AS publisher,
              (SELECT array_agg(id ORDER BY id) FROM feeds WHERE url = ANY(%(feed_urls)s))
                  [1 + (i - %(first)s) %% cardinality(%(feed_urls)s::text[])] AS feed_id,
              now() - (random() * interval '29 days') AS at
       FROM generate_series(%(first)s, %(last)s) AS i""",
    """INSERT INTO stories (id, canonical_article_id, title, first_seen_at, last_seen_at, article_count, publishers)
       SELECT id, id, 'Stored story ' || id, at, at, 1, ARRAY[publisher] FROM stored""",
    """INSERT INTO entries (id, feed_id, guid, link, title, published_at, first_seen_at, state, attempts,
                           last_attempt_at, article_id)
       SELECT id, feed_id, 'stored-' || id, 'http://' || publisher || '/stored/' || id || '.html',
              'Stored story ' || id, at, at, 'loaded', 1, at, NULL FROM stored""",
    """INSERT INTO articles (id, url, canonical_url, entry_id, feed_id, title, body, published_at, fetched_at,
                            language, content_sha256, story_id, publisher, created_at, updated_at)
       SELECT id, 'http://' || publisher || '/stored/' || id || '.html',
              'http://' || publisher || '/stored/' || id || '.html', id, feed_id, 'Stored story ' || id,
              array_to_string(ARRAY(SELECT md5(id::text || ':' || w) FROM generate_series(1, 60) AS w), ' '),
              at, at, 'en', md5(id::text), id, publisher, at, at
       FROM stored""",
    "UPDATE entries SET article_id = id WHERE id >= %(first)s",
    """INSERT INTO story_assignments (article_id, method, content_sha256, title, decided_at)
       SELECT id, 'first_copy', md5(id::text), 'Stored story ' || id, at FROM stored""",
    """INSERT INTO dedupe_keys (key, article_id)
       SELECT ('x' || substr(md5(id::text || ':' || k::text), 1, 16))::bit(64)::bigint, id
       FROM stored, generate_series(1, %(keys)s) AS k""",
    "INSERT INTO boilerplate_articles (publisher, article_id, seen_at) SELECT publisher, id, at FROM stored",
    """INSERT INTO boilerplate_line_sightings (publisher, line_key, article_id, seen_at)
       SELECT DISTINCT publisher, line, id, at FROM stored, LATERAL (VALUES
           ('follow us for the latest news'),
           ('recurring line ' || (1 + id %% %(recurring)s)),
           ('recurring line ' || (1 + (id / 7) %% %(recurring)s)),
           ('own line ' || id || ' a'),
           ('own line ' || id || ' b')) AS lines (line)""",
    """INSERT INTO boilerplate_publisher_days (publisher, day, articles)
       SELECT publisher, (at AT TIME ZONE 'UTC')::date, count(*) FROM stored GROUP BY 1, 2
       ON CONFLICT (publisher, day) DO UPDATE SET articles = boilerplate_publisher_days.articles + excluded.articles""",
    """INSERT INTO boilerplate_line_days (publisher, line_key, day, articles)
       SELECT publisher, line_key, (seen_at AT TIME ZONE 'UTC')::date, count(*) FROM boilerplate_line_sightings
       WHERE article_id >= %(first)s GROUP BY 1, 2, 3
       ON CONFLICT (publisher, line_key, day) DO UPDATE SET articles = boilerplate_line_days.articles
                                                                       + excluded.articles""",
    """INSERT INTO learned_boilerplate (publisher, line_key, line, article_count, first_seen_at, last_seen_at,
                                       learned_at)
       SELECT s.publisher, s.line_key, s.line_key, count(*), min(s.seen_at), max(s.seen_at),
              CASE WHEN count(*) >= %(min_articles)s AND count(*) >= %(min_share)s * max(totals.articles)
                   THEN max(s.seen_at) END
       FROM boilerplate_line_sightings s
       JOIN (SELECT publisher, count(*) AS articles FROM boilerplate_articles GROUP BY publisher) AS totals
         ON totals.publisher = s.publisher
       WHERE s.article_id >= %(first)s
       GROUP BY s.publisher, s.line_key
       ON CONFLICT (publisher, line_key) DO UPDATE SET article_count = learned_boilerplate.article_count
                                                                       + excluded.article_count""",
]


def load(database_url: str, feed_urls: list[str], hosts: list[str], count: int) -> None:
    """Store `count` articles of the given publishers (hosts) in the given feeds, then VACUUM ANALYZE."""
    parameters = {
        "feed_urls": feed_urls, "hosts": hosts, "first": FIRST_ID, "last": FIRST_ID + count - 1,
        "keys": KEYS_PER_ARTICLE, "recurring": RECURRING_LINES,
        "min_articles": DEFAULT_POLICY.min_articles, "min_share": DEFAULT_POLICY.min_share,
    }
    conn = db.connect(database_url)
    try:
        with db.transaction(conn) as cur:
            cur.execute("SET LOCAL synchronous_commit = off")
            cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
            for drop, _ in DROPPED_FOR_LOAD:
                cur.execute(drop)
            for statement in STATEMENTS:
                cur.execute(statement, parameters)
            for _, rebuild in DROPPED_FOR_LOAD:
                cur.execute(rebuild)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
    finally:
        conn.close()
