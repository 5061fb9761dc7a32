"""Learned boilerplate: lines a publisher prints on many of its articles, and its page template, found from
the articles themselves.

The batch calls `learned_lines` before cleaning an article and `record_article_lines` after storing it,
both inside the article's transaction. A line becomes boilerplate once it has been seen on at least
`min_articles` distinct articles of the publisher and on at least `min_share` of that publisher's
articles within `window`; from then on `clean_page` removes it (rule "learned"). Only short lines
without quotation marks are ever counted (pipeline.clean.is_learnable), so a slogan quoted in many
stories or a long paragraph that wire copies share is never learned.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Iterable

from pipeline.clean import comparison_key, is_learnable, line_key
from pipeline.template import DEFAULT_TEMPLATE_POLICY, TEMPLATE_VERSION, TemplatePolicy


@dataclass(frozen=True)
class LearningPolicy:
    min_articles: int = 5
    min_share: float = 0.2
    window: timedelta = timedelta(days=30)


DEFAULT_POLICY = LearningPolicy()


# Read from the partial index of learned rows (migration 0010): the cost stays flat however many lines are counted.
LEARNED_LINES = "SELECT line_key FROM learned_boilerplate WHERE publisher = %s AND learned_at IS NOT NULL"


def learned_lines(cur, publisher: str | None) -> set[str]:
    """The comparison keys of the publisher's learned boilerplate lines (what `clean_page` takes as `learned`)."""
    if not publisher:
        return set()
    cur.execute(LEARNED_LINES, (publisher,))
    return {row[0] for row in cur.fetchall()}


def record_article_lines(
    cur, publisher: str | None, article_id: int, lines: Iterable[str], policy: LearningPolicy = DEFAULT_POLICY
) -> list[str]:
    """Count the article's learnable lines for its publisher; returns the lines learned by this call.

    Re-recording an article counts nothing twice. The cost does not grow with the publisher's history: the
    counts live in daily counters, and the window's share is read from at most `window` days of them, only for
    lines seen on at least `min_articles` articles in all (a line seen on fewer cannot be learned yet)."""
    if not publisher:
        return []
    by_key = {comparison_key(line): line_key(line) for line in lines if is_learnable(line)}
    cur.execute(
        """WITH new_article AS (
               INSERT INTO boilerplate_articles (publisher, article_id) VALUES (%(publisher)s, %(article_id)s)
               ON CONFLICT DO NOTHING RETURNING publisher
           )
           INSERT INTO boilerplate_publisher_days (publisher, day, articles)
           SELECT publisher, (now() AT TIME ZONE 'UTC')::date, 1 FROM new_article
           ON CONFLICT (publisher, day) DO UPDATE SET articles = boilerplate_publisher_days.articles + 1""",
        {"publisher": publisher, "article_id": article_id},
    )
    if not by_key:
        return []
    cur.execute(
        """WITH sighted AS (
               INSERT INTO boilerplate_line_sightings (publisher, line_key, article_id)
               SELECT %(publisher)s, key, %(article_id)s FROM unnest(%(keys)s::text[]) AS key
               ON CONFLICT DO NOTHING RETURNING line_key
           ), counted AS (
               INSERT INTO learned_boilerplate (publisher, line_key, line, article_count)
               SELECT %(publisher)s, s.line_key, l.line, 1
               FROM sighted s JOIN unnest(%(keys)s::text[], %(lines)s::text[]) AS l (key, line) ON l.key = s.line_key
               ON CONFLICT (publisher, line_key) DO UPDATE
               SET article_count = learned_boilerplate.article_count + 1, last_seen_at = now()
               RETURNING line_key, learned_at, article_count
           ), days AS (
               INSERT INTO boilerplate_line_days (publisher, line_key, day, articles)
               SELECT %(publisher)s, line_key, (now() AT TIME ZONE 'UTC')::date, 1 FROM sighted
               ON CONFLICT (publisher, line_key, day) DO UPDATE SET articles = boilerplate_line_days.articles + 1
           )
           SELECT line_key FROM counted WHERE learned_at IS NULL AND article_count >= %(min_articles)s""",
        {"publisher": publisher, "article_id": article_id, "keys": list(by_key), "lines": list(by_key.values()),
         "min_articles": policy.min_articles},
    )
    candidates = [row[0] for row in cur.fetchall()]
    if not candidates:
        return []
    cur.execute(LINES_TO_LEARN, {"publisher": publisher, "keys": candidates, "days": policy.window.days,
                                 "min_articles": policy.min_articles, "min_share": policy.min_share})
    to_learn = [row[0] for row in cur.fetchall()]
    if not to_learn:
        return []
    cur.execute(
        """UPDATE learned_boilerplate SET learned_at = now()
           WHERE publisher = %s AND line_key = ANY(%s) AND learned_at IS NULL RETURNING line""",
        (publisher, to_learn),
    )
    return [row[0] for row in cur.fetchall()]


# The share check of a publisher's candidate lines, which runs for most articles (a line seen on enough articles
# but on too small a share of them stays a candidate). Each candidate's window is read on its own (LATERAL, on
# all three primary key columns of boilerplate_line_days), so no plan reads more than the candidates' rows.
# Joined with the update of learned_boilerplate in one statement, it let the planner, on statistics from before
# a publisher's first articles, rescan the publisher's whole window for each of its lines: 4 s a call after
# 2,700 articles. The update now runs only for the lines that pass, once per line learned.
LINES_TO_LEARN = """
    WITH recent AS (
        SELECT COALESCE(sum(articles), 0) AS articles FROM boilerplate_publisher_days
        WHERE publisher = %(publisher)s AND day > (now() AT TIME ZONE 'UTC')::date - %(days)s
    )
    SELECT k.line_key
    FROM unnest(%(keys)s::text[]) AS k (line_key), recent,
         LATERAL (SELECT COALESCE(sum(d.articles), 0) AS articles FROM boilerplate_line_days d
                  WHERE d.publisher = %(publisher)s AND d.line_key = k.line_key
                    AND d.day > (now() AT TIME ZONE 'UTC')::date - %(days)s) AS window_count
    WHERE window_count.articles >= %(min_articles)s AND window_count.articles >= %(min_share)s * recent.articles"""


def known_templates(cur, publisher: str | None) -> frozenset[int]:
    """The fingerprints of the publisher's learned template blocks (what `clean_page` takes as `templates`).

    Reads only the publisher's learned rows (a partial index), so it costs the same however much is stored."""
    if not publisher:
        return frozenset()
    cur.execute(
        "SELECT fingerprint FROM template_blocks WHERE publisher = %s AND learned AND version = %s",
        (publisher, TEMPLATE_VERSION),
    )
    return frozenset(row[0] for row in cur.fetchall())


def record_template_blocks(
    cur, publisher: str | None, article_id: int, fingerprints: Iterable[int],
    policy: TemplatePolicy = DEFAULT_TEMPLATE_POLICY,
) -> None:
    """Count one stored article's block fingerprints (`Article.template_fingerprints`) for its publisher.

    An article already recorded counts nothing again. A block is learned while it has been seen on at least
    `min_articles` distinct articles and on at least `min_share` of the publisher's articles recorded since
    it was first seen; both are decided in the upsert itself, so this is two statements whatever the size
    of the tables. Fingerprints are written in sorted order, so concurrent writers lock rows in one order."""
    if not publisher:
        return
    cur.execute(
        """WITH new_article AS (
               INSERT INTO template_articles (publisher, article_id) VALUES (%(publisher)s, %(article_id)s)
               ON CONFLICT DO NOTHING RETURNING publisher
           )
           INSERT INTO template_publishers (publisher, article_count) SELECT publisher, 1 FROM new_article
           ON CONFLICT (publisher) DO UPDATE SET article_count = template_publishers.article_count + 1
           RETURNING article_count""",
        {"publisher": publisher, "article_id": article_id},
    )
    counted = cur.fetchone()
    if counted is None:  # the article was recorded already
        return
    publisher_count = counted[0]
    prints = sorted(set(fingerprints))
    if not prints:
        return
    cur.execute(
        """INSERT INTO template_blocks (publisher, fingerprint, version, publisher_count_at_first_sight, learned)
           SELECT %(publisher)s, f, %(version)s, %(count)s, %(min_articles)s <= 1
           FROM unnest(%(prints)s::bigint[]) AS f ORDER BY f
           ON CONFLICT (publisher, fingerprint) DO UPDATE SET
               article_count = template_blocks.article_count + 1,
               last_seen_at = now(),
               learned = template_blocks.article_count + 1 >= %(min_articles)s
                   AND template_blocks.article_count + 1
                       >= %(min_share)s * (%(count)s - template_blocks.publisher_count_at_first_sight + 1)""",
        {"publisher": publisher, "version": TEMPLATE_VERSION, "count": publisher_count, "prints": prints,
         "min_articles": policy.min_articles, "min_share": policy.min_share},
    )
