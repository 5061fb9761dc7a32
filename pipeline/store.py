"""Store: the rows feedpipe writes to Postgres for runs, polls, entries and articles."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg2
import psycopg2.errors
from psycopg2.extras import Json

from pipeline.archive import payload_sha256
from pipeline.normalize import Article
from pipeline.parse import FeedEntry
from pipeline.storable import storable_text

MAX_ARTICLE_ATTEMPTS = 5


@dataclass(frozen=True)
class ClaimedEntry:
    """An entry a worker holds a claim on, with what fetching it recorded so far."""

    id: int
    feed_id: int
    link: str | None
    title: str | None
    summary: str | None
    content: str | None
    published_at: datetime | None
    attempts: int
    fetch_archive_key: str | None = None
    fetch_status: int | None = None
    fetched_at: datetime | None = None

    @property
    def feed_text(self) -> str | None:
        return self.content or self.summary


ENTRY_COLUMNS = "id, feed_id, link, title, summary, content, published_at, attempts, fetch_archive_key, fetch_status, fetched_at"

# A claim is held by one Postgres session and lapses the moment that session ends, so a worker that dies (killed,
# crashed, its machine gone) frees its entries at once, while a live worker, however slow, keeps them.
CLAIM_LAPSED = """(e.claimed_by_pid IS NULL OR NOT EXISTS (
                      SELECT 1 FROM pg_stat_activity a
                      WHERE a.pid = e.claimed_by_pid AND a.backend_start = e.claimed_by_backend_start))"""
CLAIM_BY_THIS_SESSION = """claimed_at = now(), claimed_by_pid = pg_backend_pid(),
    claimed_by_backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())"""
RELEASE_CLAIM = "claimed_at = NULL, claimed_by_pid = NULL, claimed_by_backend_start = NULL"


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
    entries_skipped: int = 0  # new entries left out by the per-poll cap


RUN_COUNTERS = ("feeds_polled", "feeds_failed", "new_entries", "pages_fetched", "articles_processed",
                "articles_loaded", "articles_failed", "bytes_archived")


def start_run(cur, airflow_run_id: str | None = None, owned_by_session: bool = True) -> int:
    """A new batch. When owned by this session (a command-line run holds its connection throughout), the batch
    was abandoned if the session is gone while it still says 'running'; an orchestrator's batch (Airflow: its
    tasks come and go) is owned by no session."""
    cur.execute(
        """INSERT INTO ingest_runs (airflow_run_id, owner_pid, owner_backend_start)
           SELECT %s, pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid() AND %s
           UNION ALL SELECT %s, NULL, NULL WHERE NOT %s
           RETURNING id""",
        (airflow_run_id, owned_by_session, airflow_run_id, owned_by_session),
    )
    return cur.fetchone()[0]


def abandon_dead_runs(cur, orchestrated_older_than: timedelta | None = None) -> int:
    """Mark 'abandoned' the batches still 'running' whose owning session has ended (their worker died), and,
    given an age, the orchestrator's batches (no owning session: Airflow tasks come and go) started longer ago
    than that; returns how many."""
    cur.execute(
        """UPDATE ingest_runs r SET status = 'abandoned', finished_at = now(),
                  error = CASE WHEN r.owner_pid IS NULL
                               THEN 'still running after ' || %(age)s::interval || ': its orchestrator never finished it'
                               ELSE 'the worker that ran this batch stopped without finishing it' END
           WHERE r.status = 'running' AND (
                 (r.owner_pid IS NOT NULL AND NOT EXISTS (
                      SELECT 1 FROM pg_stat_activity a
                      WHERE a.pid = r.owner_pid AND a.backend_start = r.owner_backend_start))
              OR (r.owner_pid IS NULL AND %(age)s::interval IS NOT NULL AND r.started_at < now() - %(age)s::interval))""",
        {"age": orchestrated_older_than},
    )
    return cur.rowcount


def finish_run(cur, run_id: int, status: str = "finished", error: str | None = None) -> dict[str, object]:
    """End the batch with `status` (finished, failed, interrupted); returns its counters and stage seconds."""
    cur.execute(
        f"""UPDATE ingest_runs SET finished_at = now(), status = %s, error = %s WHERE id = %s
            RETURNING {", ".join(RUN_COUNTERS)}, stage_seconds""",
        (status, error, run_id),
    )
    row = cur.fetchone()
    return {**dict(zip(RUN_COUNTERS, row[:-1])), "stage_seconds": row[-1]}


def feed_fetch_statement(cur, fetch: FeedFetch) -> bytes:
    """The INSERT that logs one poll attempt, ready to be sent together with the feed's state update."""
    return cur.mogrify(
        """INSERT INTO feed_fetches (feed_id, run_id, url, started_at, finished_at, http_status, bytes,
                                     entries_seen, entries_new, error, raw_archive_key, outcome, conditional, problem,
                                     entries_skipped)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (fetch.feed_id, fetch.run_id, fetch.url, fetch.started_at, fetch.finished_at, fetch.http_status,
         fetch.bytes, fetch.entries_seen, fetch.entries_new, storable_text(fetch.error), fetch.raw_archive_key,
         fetch.outcome, fetch.conditional, storable_text(fetch.problem), fetch.entries_skipped),
    )


def set_feed_title(cur, feed_id: int, title: str | None) -> None:
    if title:
        cur.execute("UPDATE feeds SET title = %s WHERE id = %s", (title, feed_id))


@dataclass(frozen=True)
class RecordedEntries:
    new: int  # entries inserted
    rejected: list[str]  # why each entry Postgres refused was refused


# Refusals that belong to one entry's values (a character or size Postgres cannot take), not to the database.
ENTRY_REFUSALS = (ValueError, psycopg2.DataError, psycopg2.IntegrityError, psycopg2.errors.ProgramLimitExceeded)


def record_entries(cur, feed_id: int, entries: list[FeedEntry]) -> RecordedEntries:
    """Insert the entries this feed had not shown before, all in one statement. When Postgres refuses that
    statement for one entry's values, each entry is inserted on its own, so one bad item costs only itself."""
    if not entries:
        return RecordedEntries(0, [])
    try:
        return RecordedEntries(_insert_in_savepoint(cur, feed_id, entries), [])
    except ENTRY_REFUSALS:
        pass
    new, rejected = 0, []
    for entry in entries:
        try:
            new += _insert_in_savepoint(cur, feed_id, [entry])
        except ENTRY_REFUSALS as error:
            rejected.append(f"{entry.guid[:80]!r}: {str(error).splitlines()[0]}")
    return RecordedEntries(new, rejected)


def _insert_in_savepoint(cur, feed_id: int, entries: list[FeedEntry]) -> int:
    cur.execute("SAVEPOINT entries")
    try:
        new = _insert_entries(cur, feed_id, entries)
    except ENTRY_REFUSALS:
        cur.execute("ROLLBACK TO SAVEPOINT entries")
        raise
    finally:
        cur.execute("RELEASE SAVEPOINT entries")
    return new


def _insert_entries(cur, feed_id: int, entries: list[FeedEntry]) -> int:
    columns = list(zip(*[(e.guid, e.link, e.title, e.summary, e.content, e.published_at) for e in entries]))
    cur.execute(
        """INSERT INTO entries (feed_id, guid, link, title, summary, content, published_at)
           SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[])
           ON CONFLICT (feed_id, guid) DO NOTHING""",
        (feed_id, *[list(column) for column in columns]),
    )
    return cur.rowcount


def _claim(cur, where: str, order: str, params: dict) -> list[ClaimedEntry]:
    cur.execute(
        f"""UPDATE entries SET {CLAIM_BY_THIS_SESSION}
            WHERE id IN (SELECT e.id FROM entries e WHERE {where} AND {CLAIM_LAPSED}
                         ORDER BY {order} LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
            RETURNING {ENTRY_COLUMNS}""",
        params,
    )
    return sorted((ClaimedEntry(*row) for row in cur.fetchall()), key=lambda entry: entry.id)


def claim_entries_to_fetch(cur, not_tried_since: datetime, limit: int) -> list[ClaimedEntry]:
    """Claim up to `limit` of the oldest pending entries no live worker holds and that were not tried since the
    given time (so one batch tries each entry once)."""
    return _claim(
        cur, "e.state = 'pending' AND (e.last_attempt_at IS NULL OR e.last_attempt_at < %(since)s)",
        "e.first_seen_at, e.id", {"since": not_tried_since, "limit": limit},
    )


def claim_entries_to_process(cur, limit: int) -> list[ClaimedEntry]:
    """Claim up to `limit` fetched entries no live worker holds, oldest fetch first."""
    return _claim(cur, "e.state = 'fetched'", "e.fetched_at, e.id", {"limit": limit})


@dataclass(frozen=True)
class ReplaySelection:
    """Which loaded entries a replay reprocesses: fetched within [since, until), of one feed or publisher."""

    since: datetime | None = None
    until: datetime | None = None
    feed_url: str | None = None
    publisher: str | None = None


def claim_entries_to_replay(cur, replay_run_id: int, selection: ReplaySelection, limit: int) -> list[ClaimedEntry]:
    """Claim up to `limit` archived, loaded entries matching `selection` that this replay has not processed yet."""
    return _claim(
        cur,
        """e.state = 'loaded' AND e.fetch_archive_key IS NOT NULL
           AND e.processed_run_id IS DISTINCT FROM %(run_id)s
           AND (%(since)s::timestamptz IS NULL OR e.fetched_at >= %(since)s)
           AND (%(until)s::timestamptz IS NULL OR e.fetched_at < %(until)s)
           AND (%(feed_url)s::text IS NULL OR e.feed_id IN (SELECT id FROM feeds WHERE url = %(feed_url)s))
           AND (%(publisher)s::text IS NULL OR EXISTS (
                   SELECT 1 FROM articles a WHERE a.entry_id = e.id AND a.publisher = %(publisher)s)
                OR e.feed_id IN (SELECT id FROM feeds WHERE publisher = %(publisher)s))""",
        "e.id",
        {"run_id": replay_run_id, "since": selection.since, "until": selection.until,
         "feed_url": selection.feed_url, "publisher": selection.publisher, "limit": limit},
    )


def mark_entries_fetched(cur, fetched: list[tuple[int, str, int, datetime]]) -> None:
    """Record (entry id, archive key, HTTP status, fetch time) for each fetched entry and release its claim."""
    if not fetched:
        return
    ids, keys, statuses, times = (list(column) for column in zip(*fetched))
    cur.execute(
        f"""UPDATE entries e SET state = 'fetched', fetch_archive_key = f.key, fetch_status = f.status,
                   fetched_at = f.fetched_at, {RELEASE_CLAIM}
            FROM unnest(%s::bigint[], %s::text[], %s::integer[], %s::timestamptz[]) AS f (id, key, status, fetched_at)
            WHERE e.id = f.id""",
        (ids, keys, statuses, times),
    )


def record_entry_failure(cur, entry_id: int, error: str, final: bool = False) -> None:
    """Count a failed attempt; after MAX_ARTICLE_ATTEMPTS (at once when `final`: retrying cannot help) the entry
    is marked failed, never deleted. Otherwise it goes back to 'pending', so the next batch fetches it again."""
    cur.execute(
        f"""UPDATE entries SET attempts = attempts + 1, last_error = %s, last_attempt_at = now(), {RELEASE_CLAIM},
                  state = CASE WHEN %s OR attempts + 1 >= %s THEN 'failed' ELSE 'pending' END
            WHERE id = %s""",
        (storable_text(error), final, MAX_ARTICLE_ATTEMPTS, entry_id),
    )


def record_replay_failure(cur, entry_id: int, replay_run_id: int, error: str) -> None:
    """A replayed entry that failed keeps its loaded article; the replay records why and moves on."""
    cur.execute(
        f"UPDATE entries SET processed_run_id = %s, last_error = %s, {RELEASE_CLAIM} WHERE id = %s",
        (replay_run_id, error, entry_id),
    )


def release_claims(cur) -> int:
    """Release every claim this session holds (a worker stopping early hands its entries back at once)."""
    cur.execute(f"UPDATE entries SET {RELEASE_CLAIM} WHERE claimed_by_pid = pg_backend_pid()")
    return cur.rowcount


def add_run_counters(cur, run_id: int, counters: dict[str, int], stage_seconds: dict[str, float]) -> None:
    """Add a stage's counters and seconds to its batch in one statement, so concurrent workers' additions all count."""
    assignments = "".join(f", {name} = {name} + %({name})s" for name in counters)
    cur.execute(
        f"""UPDATE ingest_runs r SET stage_seconds = COALESCE((
                SELECT jsonb_object_agg(stage, seconds) FROM (
                    SELECT key AS stage, round(sum(value::numeric), 3) AS seconds FROM (
                        SELECT * FROM jsonb_each_text(r.stage_seconds)
                        UNION ALL SELECT * FROM jsonb_each_text(%(seconds)s::jsonb)) parts
                    GROUP BY key) summed), '{{}}'){assignments}
            WHERE id = %(run_id)s""",
        {**counters, "seconds": Json(stage_seconds), "run_id": run_id},
    )


def upsert_article(
    cur, article: Article, entry: ClaimedEntry, run_id: int, raw_archive_key: str | None
) -> tuple[int, str]:
    """Insert the article, or update the copy already stored under its canonical URL when it changed.

    Returns the article id and 'added', 'updated' or 'unchanged'."""
    cur.execute(
        """INSERT INTO articles (url, canonical_url, entry_id, feed_id, title, body, dateline, authors,
                                 published_at, fetched_at, language, is_syndicated, agency, content_sha256,
                                 raw_archive_key, publisher, removed, syndication_notice, extractor_version,
                                 rules_version, payload_sha256, run_id, airflow_run_id, summary_paragraphs)
           VALUES (%(url)s, %(canonical_url)s, %(entry_id)s, %(feed_id)s, %(title)s, %(body)s, %(dateline)s,
                   %(authors)s, %(published_at)s, %(fetched_at)s, %(language)s, %(is_syndicated)s, %(agency)s,
                   %(content_sha256)s, %(raw_archive_key)s, %(publisher)s, %(removed)s, %(syndication_notice)s,
                   %(extractor_version)s, %(rules_version)s, %(payload_sha256)s, %(run_id)s,
                   (SELECT airflow_run_id FROM ingest_runs WHERE id = %(run_id)s), %(summary_paragraphs)s)
           ON CONFLICT (canonical_url) DO UPDATE SET
               title = EXCLUDED.title, body = EXCLUDED.body, dateline = EXCLUDED.dateline,
               authors = EXCLUDED.authors, published_at = COALESCE(EXCLUDED.published_at, articles.published_at),
               fetched_at = EXCLUDED.fetched_at, language = EXCLUDED.language,
               is_syndicated = EXCLUDED.is_syndicated, agency = EXCLUDED.agency,
               content_sha256 = EXCLUDED.content_sha256, raw_archive_key = EXCLUDED.raw_archive_key,
               publisher = EXCLUDED.publisher, removed = EXCLUDED.removed,
               syndication_notice = EXCLUDED.syndication_notice, extractor_version = EXCLUDED.extractor_version,
               rules_version = EXCLUDED.rules_version, payload_sha256 = EXCLUDED.payload_sha256,
               run_id = EXCLUDED.run_id, airflow_run_id = EXCLUDED.airflow_run_id,
               summary_paragraphs = EXCLUDED.summary_paragraphs, updated_at = now()
           WHERE articles.content_sha256 IS DISTINCT FROM EXCLUDED.content_sha256
              OR articles.summary_paragraphs IS DISTINCT FROM EXCLUDED.summary_paragraphs
              OR articles.title IS DISTINCT FROM EXCLUDED.title
              OR articles.rules_version IS DISTINCT FROM EXCLUDED.rules_version
              OR articles.extractor_version IS DISTINCT FROM EXCLUDED.extractor_version
              OR articles.raw_archive_key IS DISTINCT FROM EXCLUDED.raw_archive_key
           RETURNING id, CASE WHEN xmax = 0 THEN 'added' ELSE 'updated' END""",
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
            "fetched_at": entry.fetched_at,
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
            "payload_sha256": payload_sha256(raw_archive_key) if raw_archive_key else None,
            "run_id": run_id,
            "summary_paragraphs": article.summary_paragraphs,
        },
    )
    row = cur.fetchone()
    if row is None:
        cur.execute("SELECT id FROM articles WHERE canonical_url = %s", (article.canonical_url,))
        return cur.fetchone()[0], "unchanged"
    return row[0], row[1]


def mark_entry_loaded(cur, entry_id: int, article_id: int, run_id: int) -> None:
    cur.execute(
        f"""UPDATE entries SET state = 'loaded', article_id = %s, processed_run_id = %s,
                   attempts = CASE WHEN state = 'loaded' THEN attempts ELSE attempts + 1 END,
                   last_attempt_at = CASE WHEN state = 'loaded' THEN last_attempt_at ELSE now() END,
                   last_error = NULL, {RELEASE_CLAIM}
            WHERE id = %s""",
        (article_id, run_id, entry_id),
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


def article_overview(cur, run_id: int) -> list[ArticleOverview]:
    """One line per article the batch wrote, grouped by story: what `feedpipe demo` shows."""
    cur.execute(
        """SELECT a.id, a.story_id, COALESCE(f.publisher, f.name), a.title,
                  array_length(regexp_split_to_array(trim(a.body), '\\s+'), 1), a.dateline, a.agency, a.is_syndicated
           FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
           WHERE a.run_id = %s ORDER BY a.story_id, a.published_at NULLS LAST, a.id""",
        (run_id,),
    )
    return [ArticleOverview(*row) for row in cur.fetchall()]


@dataclass(frozen=True)
class RunReport:
    """What a batch's summary names beyond its counters."""

    failed_feeds: list[tuple[str, str]]  # (feed URL, why)
    failed_entries: list[tuple[str, str]]  # (link, why), entries whose attempt in this batch failed
    entries_joined_known_article: int  # entries loaded onto an article another entry had brought


def run_report(cur, run_id: int) -> RunReport:
    cur.execute("""SELECT url, error FROM feed_fetches WHERE run_id = %s AND outcome IN ('failed', 'gone')
                   ORDER BY id""", (run_id,))
    failed_feeds = [tuple(row) for row in cur.fetchall()]
    cur.execute("""SELECT COALESCE(e.link, e.guid), e.last_error FROM entries e, ingest_runs r
                   WHERE r.id = %s AND e.last_error IS NOT NULL AND e.state <> 'loaded'
                     AND e.last_attempt_at >= r.started_at
                   ORDER BY e.id""", (run_id,))
    failed_entries = [tuple(row) for row in cur.fetchall()]
    cur.execute("""SELECT count(*) FROM entries e JOIN articles a ON a.id = e.article_id
                   WHERE e.processed_run_id = %s AND a.entry_id IS DISTINCT FROM e.id""", (run_id,))
    return RunReport(failed_feeds, failed_entries, cur.fetchone()[0])
