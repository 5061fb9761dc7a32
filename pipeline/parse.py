"""Parse: the entries of a feed document."""
from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

import feedparser


class FeedParseError(Exception):
    """The document is not a feed feedpipe can read."""


@dataclass(frozen=True)
class FeedEntry:
    guid: str
    link: str | None
    title: str | None
    summary: str | None
    content: str | None
    published_at: datetime | None


@dataclass(frozen=True)
class ParsedFeed:
    title: str | None
    entries: list[FeedEntry]
    problem: str | None = None  # a recoverable defect the parser worked around


def _published(entry: feedparser.FeedParserDict) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc) if parsed else None


def _entry_identity(entry: feedparser.FeedParserDict) -> str:
    """GUID/id when present, else the link, else a hash of title and date."""
    if entry.get("id"):
        return entry["id"]
    if entry.get("link"):
        return entry["link"]
    basis = f"{entry.get('title', '')}|{entry.get('published', entry.get('updated', ''))}"
    return "sha256:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()


def _content(entry: feedparser.FeedParserDict) -> str | None:
    contents = entry.get("content") or []
    return contents[0].get("value") if contents else None


def parse_feed(body: bytes, url: str) -> ParsedFeed:
    document = feedparser.parse(body, response_headers={"content-location": url})
    if document.bozo and not document.entries and not document.get("version"):
        raise FeedParseError(f"not a readable feed: {document.get('bozo_exception')}")
    problem = str(document.get("bozo_exception")) if document.bozo else None
    entries = [
        FeedEntry(
            guid=_entry_identity(entry),
            link=entry.get("link"),
            title=entry.get("title"),
            summary=entry.get("summary"),
            content=_content(entry),
            published_at=_published(entry),
        )
        for entry in document.entries
    ]
    return ParsedFeed(title=document.feed.get("title"), entries=entries, problem=problem)
