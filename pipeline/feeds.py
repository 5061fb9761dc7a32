"""Feeds: the registry of feeds to poll, loaded from YAML lists and kept in Postgres."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


class FeedListError(ValueError):
    """A feed list that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class FeedSpec:
    url: str
    name: str | None = None
    publisher: str | None = None


@dataclass(frozen=True)
class Feed:
    id: int
    url: str
    name: str | None
    publisher: str | None


def load_feed_list(path: Path) -> list[FeedSpec]:
    """Read a YAML feed list: a top-level `feeds:` list of mappings with `url`, `name`, `publisher`."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise FeedListError(f"{path}: {error}") from error
    items = document.get("feeds") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise FeedListError(f"{path}: expected a top-level 'feeds:' list")
    specs = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise FeedListError(f"{path}: feed {number} has no 'url'")
        specs.append(FeedSpec(url=item["url"].strip(), name=item.get("name"), publisher=item.get("publisher")))
    return specs


def register_feeds(cur, specs: list[FeedSpec]) -> int:
    """Add feeds to the registry, updating name and publisher of known ones; returns how many were new."""
    added = 0
    for spec in specs:
        cur.execute(
            """INSERT INTO feeds (url, name, publisher) VALUES (%s, %s, %s)
               ON CONFLICT (url) DO UPDATE
               SET name = COALESCE(EXCLUDED.name, feeds.name),
                   publisher = COALESCE(EXCLUDED.publisher, feeds.publisher)
               RETURNING (xmax = 0)""",
            (spec.url, spec.name, spec.publisher),
        )
        added += cur.fetchone()[0]
    return added


def enabled_feeds(cur) -> list[Feed]:
    cur.execute("SELECT id, url, name, publisher FROM feeds WHERE enabled ORDER BY id")
    return [Feed(*row) for row in cur.fetchall()]
