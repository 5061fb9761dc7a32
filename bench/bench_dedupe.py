"""Dedupe benchmark: time per `assign_story` call with 10k, 100k and 1M articles already indexed in Postgres.

The index is filled server-side (INSERT ... SELECT generate_series) with synthetic articles, each in a story of its
own and with as many random lookup keys as a real article gets, so the tables have their production shape. Then,
at each size, a batch of new articles goes through `assign_story` exactly as the store stage calls it: a third
found new stories, the rest are syndicated copies (new headline, ad line, trimmed tail) that find, verify and join
their story. Only the `assign_story` call is timed. Uses a fresh embedded Postgres in a temporary folder.

    python bench/bench_dedupe.py [--sizes 10000 100000 1000000] [--articles 300]
"""
from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import db, dedupe  # noqa: E402

SYNTHETIC_IDS_FROM = 1_000_000_000  # synthetic articles' ids, clear of the ids the sequence gives timed articles
KEYS_PER_ARTICLE = 28  # 24 LSH bands + 3 lead sentences + body, as for a real article
T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
DEDUPE_KEY_INDEXES = [
    "ALTER TABLE dedupe_keys ADD PRIMARY KEY (key, article_id)",
    "CREATE INDEX dedupe_keys_article ON dedupe_keys (article_id)",
]


def fill_index(conn, feed_id: int, start: int, stop: int) -> float:
    """Add synthetic articles number start..stop-1 and their keys; returns seconds taken.

    The key indexes are dropped for the bulk insert and rebuilt after it, as a bulk load should."""
    started = time.perf_counter()
    with db.transaction(conn) as cur:
        cur.execute("SET LOCAL synchronous_commit = off")
        cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
        cur.execute("ALTER TABLE dedupe_keys DROP CONSTRAINT dedupe_keys_pkey")
        cur.execute("DROP INDEX dedupe_keys_article")
        first, last = SYNTHETIC_IDS_FROM + start, SYNTHETIC_IDS_FROM + stop - 1
        cur.execute(
            """INSERT INTO stories (id, canonical_article_id, title, first_seen_at, last_seen_at, article_count)
               SELECT i, i, 'Synthetic story ' || i, %s, %s, 1 FROM generate_series(%s, %s) AS i""",
            (T0, T0, first, last),
        )
        cur.execute(
            """INSERT INTO articles (id, url, canonical_url, feed_id, title, body, fetched_at, content_sha256, story_id)
               SELECT i, 'https://synthetic.example/' || i, 'https://synthetic.example/' || i, %s,
                      'Synthetic story ' || i, 'Synthetic body of story ' || i, %s, md5(i::text), i
               FROM generate_series(%s, %s) AS i""",
            (feed_id, T0, first, last),
        )
        cur.execute(
            """INSERT INTO dedupe_keys (key, article_id)
               SELECT ('x' || substr(md5(i::text || ':' || k::text), 1, 16))::bit(64)::bigint, i
               FROM generate_series(%s, %s) AS i, generate_series(1, %s) AS k""",
            (first, last, KEYS_PER_ARTICLE),
        )
        for statement in DEDUPE_KEY_INDEXES:
            cur.execute(statement)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE dedupe_keys")
        cur.execute("VACUUM ANALYZE articles")
        cur.execute("VACUUM ANALYZE stories")
    conn.autocommit = False
    return time.perf_counter() - started


def story_text(rng: random.Random, vocabulary: list[str]) -> tuple[str, list[str]]:
    def sentence() -> str:
        return " ".join(rng.choice(vocabulary) for _ in range(rng.randint(12, 22))).capitalize() + "."

    paragraphs = [" ".join(sentence() for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(6, 14))]
    return sentence(), paragraphs


def new_articles(seed: int, count: int) -> list[tuple[str, list[str]]]:
    """A third are new stories; the others are copies of those with a new headline, an ad line, a trimmed tail."""
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choice("abcdefghijklmnoprstuvwy") for _ in range(rng.randint(3, 9))) for _ in range(8000)]
    originals = [story_text(rng, vocabulary) for _ in range(count // 3)]
    copies = []
    for title, paragraphs in originals:
        for _ in range(2):
            kept = paragraphs[: max(2, len(paragraphs) - rng.randint(0, 3))]
            copies.append((f"Copy: {title}", kept[:2] + ["ADVERTISEMENT"] + kept[2:]))
    articles = originals + copies
    return articles[: len(originals)] + rng.sample(copies, len(copies))


def time_assignments(conn, feed_id: int, seed: int, count: int) -> list[float]:
    """Store each article and assign its story in one transaction; returns the assign_story times in ms."""
    timings = []
    for number, (title, paragraphs) in enumerate(new_articles(seed, count)):
        body = "\n\n".join(paragraphs)
        url = f"https://bench.example/{seed}/{number}"
        with db.transaction(conn) as cur:
            cur.execute(
                """INSERT INTO articles (url, canonical_url, feed_id, title, body, fetched_at, content_sha256)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (url, url, feed_id, title, body, T0, hashlib.sha256(body.encode("utf-8")).hexdigest()),
            )
            article_id = cur.fetchone()[0]
            started = time.perf_counter()
            dedupe.assign_story(cur, article_id)
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--articles", type=int, default=300, help="articles timed at each size")
    args = parser.parse_args()
    url = db.embedded_database_url(Path(tempfile.mkdtemp(prefix="feedpipe-bench-dedupe-")))
    db.migrate(url)
    conn = db.connect(url)
    with db.transaction(conn) as cur:
        cur.execute("INSERT INTO feeds (url, publisher) VALUES ('https://bench.example/feed', 'Bench') RETURNING id")
        feed_id = cur.fetchone()[0]
    medians = {}
    indexed = 0
    for size in sorted(args.sizes):
        load_seconds = fill_index(conn, feed_id, indexed, size)
        indexed = size
        timings = time_assignments(conn, feed_id, seed=size, count=args.articles)
        medians[size] = statistics.median(timings)
        p95 = statistics.quantiles(timings, n=20)[-1]
        print(
            f"dedupe: {size:>9,} articles indexed (loaded in {load_seconds:.0f} s): assign_story median"
            f" {medians[size]:.2f} ms, p95 {p95:.2f} ms over {len(timings)} articles"
        )
    smallest, largest = min(medians), max(medians)
    ratio = medians[largest] / medians[smallest]
    print(f"dedupe: median at {largest:,} is {ratio:.2f}x the median at {smallest:,} (target: under 5 ms, at most 2x)")
    conn.close()
    return 0 if max(medians.values()) < 5 and ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
