"""Store: the rows feedpipe writes to Postgres for runs, polls, entries and articles."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg2.extras import Json

from pipeline.normalize import Article
from pipeline.parse import FeedEntry

MAX_ARTICLE_ATTEMPTS = 5


@dataclass(frozen=True)
class PendingEntry:
    id: int
    feed_id: int
    link: str | None
    title: str | None
    summary: str | None
    content: str | None
    published_at: datetime | None
    attempts: int


@dataclass(frozen=True)
class FeedFetch:
    feed_id: int
    run_id: int | None
    url: str
    started_at: datetime
    finished_at: datetime
    http_status: int | None
    bytes: int
    entries_seen: int = 0
    entries_new: int = 0
    error: str | None = None
    raw_archive_key: str | None = None
    outcome: str | None = None  # new, unchanged, not_modified, failed, deferred, gone
    conditional: bool = False
    problem: str | None = None


def start_run(cur) -> int:
    cur.execute("INSERT INTO ingest_runs DEFAULT VALUES RETURNING id")
    return cur.fetchone()[0]


def finish_run(cur, run_id: int, counters: dict[str, int], error: str | None = None) -> None:
    assignments = ", ".join(f"{name} = %({name})s" for name in counters)
    cur.execute(
        f"""UPDATE ingest_runs SET {assignments}, finished_at = now(), error = %(error)s,
                   status = CASE WHEN %(error)s IS NULL THEN 'finished' ELSE 'failed' END
            WHERE id = %(run_id)s""",
        {**counters, "error": error, "run_id": run_id},
    )


def feed_fetch_statement(cur, fetch: FeedFetch) -> bytes:
    """The INSERT that logs one poll attempt, ready to be sent together with the feed's state update."""
    return cur.mogrify(
        """INSERT INTO feed_fetches (feed_id, run_id, url, started_at, finished_at, http_status, bytes,
                                     entries_seen, entries_new, error, raw_archive_key, outcome, conditional, problem)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (fetch.feed_id, fetch.run_id, fetch.url, fetch.started_at, fetch.finished_at, fetch.http_status,
         fetch.bytes, fetch.entries_seen, fetch.entries_new, fetch.error, fetch.raw_archive_key, fetch.outcome,
         fetch.conditional, fetch.problem),
    )


def set_feed_title(cur, feed_id: int, title: str | None) -> None:
    if title:
        cur.execute("UPDATE feeds SET title = %s WHERE id = %s", (title, feed_id))


def record_entries(cur, feed_id: int, entries: list[FeedEntry]) -> int:
    """Insert the entries this feed had not shown before; returns how many were new."""
    if not entries:
        return 0
    columns = list(zip(*[(e.guid, e.link, e.title, e.summary, e.content, e.published_at) for e in entries]))
    cur.execute(
        """INSERT INTO entries (feed_id, guid, link, title, summary, content, published_at)
           SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])
           ON CONFLICT (feed_id, guid) DO NOTHING""",
        (feed_id, *[list(column) for column in columns]),
    )
    return cur.rowcount


def claim_pending_entries(cur, not_tried_since: datetime, limit: int, lease: timedelta) -> list[PendingEntry]:
    """Claim up to `limit` of the oldest pending entries for `lease`: entries no other worker has claimed and
    that were not tried since the given time (so one run tries each entry once)."""
    cur.execute(
        """UPDATE entries SET claimed_until = now() + %(lease)s
           WHERE id IN (SELECT id FROM entries
                        WHERE state = 'pending' AND (claimed_until IS NULL OR claimed_until < now())
                          AND (last_attempt_at IS NULL OR last_attempt_at < %(since)s)
                        ORDER BY first_seen_at, id LIMIT %(limit)s
                        FOR UPDATE SKIP LOCKED)
           RETURNING id, feed_id, link, title, summary, content, published_at, attempts""",
        {"lease": lease, "since": not_tried_since, "limit": limit},
    )
    return sorted((PendingEntry(*row) for row in cur.fetchall()), key=lambda entry: entry.id)


def record_entry_failure(cur, entry: PendingEntry, error: str) -> None:
    """Count a failed attempt; after MAX_ARTICLE_ATTEMPTS the entry is marked failed, never deleted."""
    cur.execute(
        """UPDATE entries SET attempts = attempts + 1, last_error = %s, last_attempt_at = now(), claimed_until = NULL,
                  state = CASE WHEN attempts + 1 >= %s THEN 'failed' ELSE 'pending' END
           WHERE id = %s""",
        (error, MAX_ARTICLE_ATTEMPTS, entry.id),
    )


def upsert_article(
    cur, article: Article, entry: PendingEntry, fetched_at: datetime, raw_archive_key: str | None
) -> tuple[int, bool]:
    """Insert the article, or update the copy already stored under its canonical URL.

    Returns the article id and whether a new row was added."""
    cur.execute(
        """INSERT INTO articles (url, canonical_url, entry_id, feed_id, title, body, dateline, authors,
                                 published_at, fetched_at, language, is_syndicated, agency, content_sha256,
                                 raw_archive_key, publisher, removed, syndication_notice, extractor_version,
                                 rules_version)
           VALUES (%(url)s, %(canonical_url)s, %(entry_id)s, %(feed_id)s, %(title)s, %(body)s, %(dateline)s,
                   %(authors)s, %(published_at)s, %(fetched_at)s, %(language)s, %(is_syndicated)s, %(agency)s,
                   %(content_sha256)s, %(raw_archive_key)s, %(publisher)s, %(removed)s, %(syndication_notice)s,
                   %(extractor_version)s, %(rules_version)s)
           ON CONFLICT (canonical_url) DO UPDATE SET
               title = EXCLUDED.title, body = EXCLUDED.body, dateline = EXCLUDED.dateline,
               authors = EXCLUDED.authors, published_at = COALESCE(EXCLUDED.published_at, articles.published_at),
               fetched_at = EXCLUDED.fetched_at, language = EXCLUDED.language,
               is_syndicated = EXCLUDED.is_syndicated, agency = EXCLUDED.agency,
               content_sha256 = EXCLUDED.content_sha256, raw_archive_key = EXCLUDED.raw_archive_key,
               publisher = EXCLUDED.publisher, removed = EXCLUDED.removed,
               syndication_notice = EXCLUDED.syndication_notice, extractor_version = EXCLUDED.extractor_version,
               rules_version = EXCLUDED.rules_version, updated_at = now()
           WHERE articles.content_sha256 IS DISTINCT FROM EXCLUDED.content_sha256
              OR articles.title IS DISTINCT FROM EXCLUDED.title
              OR articles.rules_version IS DISTINCT FROM EXCLUDED.rules_version
           RETURNING id, (xmax = 0)""",
        {
            "url": article.url,
            "canonical_url": article.canonical_url,
            "entry_id": entry.id,
            "feed_id": entry.feed_id,
            "title": article.title,
            "body": article.text,
            "dateline": article.dateline,
            "authors": article.authors,
            "published_at": article.published_at,
            "fetched_at": fetched_at,
            "language": article.language,
            "is_syndicated": article.syndication.syndicated,
            "agency": article.syndication.agency,
            "content_sha256": article.content_sha256,
            "raw_archive_key": raw_archive_key,
            "publisher": article.publisher,
            "removed": Json(article.as_json()["removed"]),
            "syndication_notice": article.syndication.notice,
            "extractor_version": article.extractor_version,
            "rules_version": article.rules_version,
        },
    )
    row = cur.fetchone()
    if row is None:  # unchanged copy of a stored article
        cur.execute("SELECT id FROM articles WHERE canonical_url = %s", (article.canonical_url,))
        return cur.fetchone()[0], False
    return row[0], row[1]


def mark_entry_loaded(cur, entry_id: int, article_id: int) -> None:
    cur.execute(
        """UPDATE entries SET state = 'loaded', article_id = %s, attempts = attempts + 1,
                  last_attempt_at = now(), last_error = NULL, claimed_until = NULL
           WHERE id = %s""",
        (article_id, entry_id),
    )


@dataclass(frozen=True)
class ArticleOverview:
    id: int
    story_id: int | None
    publisher: str | None
    title: str | None
    words: int
    dateline: str | None
    agency: str | None
    is_syndicated: bool


def article_overview(cur, article_ids: list[int]) -> list[ArticleOverview]:
    """One line per article, grouped by story: what `feedpipe demo` shows."""
    cur.execute(
        """SELECT a.id, a.story_id, COALESCE(f.publisher, f.name), a.title,
                  array_length(regexp_split_to_array(trim(a.body), '\\s+'), 1), a.dateline, a.agency, a.is_syndicated
           FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
           WHERE a.id = ANY(%s) ORDER BY a.story_id, a.published_at NULLS LAST, a.id""",
        (article_ids,),
    )
    return [ArticleOverview(*row) for row in cur.fetchall()]
