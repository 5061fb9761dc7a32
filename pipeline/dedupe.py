"""Dedupe: group the copies of one story. Until near-duplicate matching lands, each article is its own story."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoryDecision:
    story_id: int
    method: str


def assign_story(cur, article_id: int) -> StoryDecision:
    """Give the article a story of its own unless it already has one."""
    cur.execute("SELECT story_id, title, fetched_at FROM articles WHERE id = %s", (article_id,))
    story_id, title, fetched_at = cur.fetchone()
    if story_id is not None:
        return StoryDecision(story_id, "unchanged")
    cur.execute(
        """INSERT INTO stories (canonical_article_id, title, first_seen_at, last_seen_at, article_count)
           VALUES (%s, %s, %s, %s, 1) RETURNING id""",
        (article_id, title, fetched_at, fetched_at),
    )
    story_id = cur.fetchone()[0]
    cur.execute("UPDATE articles SET story_id = %s WHERE id = %s", (story_id, article_id))
    return StoryDecision(story_id, "new")
