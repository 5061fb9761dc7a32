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


def learned_lines(cur, publisher: str | None) -> set[str]:
    """The comparison keys of the publisher's learned boilerplate lines (what `clean_page` takes as `learned`)."""
    if not publisher:
        return set()
    cur.execute(
        "SELECT line_key FROM learned_boilerplate WHERE publisher = %s AND learned_at IS NOT NULL", (publisher,)
    )
    return {row[0] for row in cur.fetchall()}


def record_article_lines(
    cur, publisher: str | None, article_id: int, lines: Iterable[str], policy: LearningPolicy = DEFAULT_POLICY
) -> list[str]:
    """Count the article's learnable lines for its publisher; returns the lines learned by this call."""
    if not publisher:
        return []
    cur.execute(
        "INSERT INTO boilerplate_articles (publisher, article_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (publisher, article_id),
    )
    by_key = {comparison_key(line): line_key(line) for line in lines if is_learnable(line)}
    for key, line in by_key.items():
        cur.execute(
            """INSERT INTO boilerplate_line_sightings (publisher, line_key, article_id) VALUES (%s, %s, %s)
               ON CONFLICT DO NOTHING RETURNING 1""",
            (publisher, key, article_id),
        )
        if cur.fetchone() is None:
            continue
        cur.execute(
            """INSERT INTO learned_boilerplate (publisher, line_key, line, article_count) VALUES (%s, %s, %s, 1)
               ON CONFLICT (publisher, line_key) DO UPDATE
               SET article_count = learned_boilerplate.article_count + 1, last_seen_at = now()""",
            (publisher, key, line),
        )
    if not by_key:
        return []
    cur.execute(
        """WITH recent AS (
               SELECT count(*) AS articles FROM boilerplate_articles
               WHERE publisher = %(publisher)s AND seen_at > now() - %(window)s
           ), recurring AS (
               SELECT s.line_key, count(*) AS articles FROM boilerplate_line_sightings s
               WHERE s.publisher = %(publisher)s AND s.line_key = ANY(%(keys)s) AND s.seen_at > now() - %(window)s
               GROUP BY s.line_key
           )
           UPDATE learned_boilerplate lb SET learned_at = now()
           FROM recurring, recent
           WHERE lb.publisher = %(publisher)s AND lb.line_key = recurring.line_key AND lb.learned_at IS NULL
             AND recurring.articles >= %(min_articles)s AND recurring.articles >= %(min_share)s * recent.articles
           RETURNING lb.line""",
        {
            "publisher": publisher,
            "keys": list(by_key),
            "window": policy.window,
            "min_articles": policy.min_articles,
            "min_share": policy.min_share,
        },
    )
    return [row[0] for row in cur.fetchall()]


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
    it was first seen; both are decided in the upsert itself, so this is three statements whatever the size
    of the tables. Fingerprints are written in sorted order, so concurrent writers lock rows in one order."""
    if not publisher:
        return
    cur.execute(
        "INSERT INTO template_articles (publisher, article_id) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1",
        (publisher, article_id),
    )
    if cur.fetchone() is None:
        return
    cur.execute(
        """INSERT INTO template_publishers (publisher, article_count) VALUES (%s, 1)
           ON CONFLICT (publisher) DO UPDATE SET article_count = template_publishers.article_count + 1
           RETURNING article_count""",
        (publisher,),
    )
    publisher_count = cur.fetchone()[0]
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
