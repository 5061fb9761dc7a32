"""Parse: the entries of a feed document (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed 1.0/1.1).

XML documents pass through defusedxml first, so entity-expansion bombs and external entities are refused
before feedparser ever sees them; feedparser then reads what it can, and a defect it worked around (its
`bozo` flag) is reported as `problem` rather than failing the feed.
"""
from __future__ import annotations

import calendar
import hashlib
import json
import xml.parsers.expat
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from urllib.parse import urljoin, urlsplit, urlunsplit

import courlan
import defusedxml
import defusedxml.ElementTree
import feedparser

JSON_FEED_VERSION_PREFIX = "https://jsonfeed.org/version/1"
SY_PERIODS = {"hourly": 1, "daily": 24, "weekly": 24 * 7, "monthly": 24 * 30, "yearly": 24 * 365}


class FeedParseError(Exception):
    """The document is not a feed feedpipe can read."""


@dataclass(frozen=True)
class FeedEntry:
    guid: str  # the entry's identity within its feed (see entry_identity)
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
    min_interval: timedelta | None = None  # what the feed itself says about polling it (ttl, sy:update*)


def canonical_link(link: str) -> str:
    """The link as an identity: scheme and host case, default port and fragment normalized away, tracking
    parameters (utm_*, fbclid, gclid and the like) dropped. Every other query parameter names content
    (`news.php?story=1`, `watch?v=...`) and stays."""
    normalized = courlan.normalize_url(link, strict=False) or link
    return urlunsplit(urlsplit(normalized)._replace(fragment=""))


def entry_identity(guid: str | None, link: str | None, title: str | None, date: str | None) -> str:
    """GUID/id when present, else the canonicalized link, else a hash of title and date."""
    if guid:
        return guid
    if link:
        return canonical_link(link)
    basis = f"{title or ''}|{date or ''}"
    return "sha256:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()


def with_link_identity(entry: FeedEntry) -> FeedEntry:
    """The entry keyed by its link instead of its GUID, for feeds whose GUIDs proved unstable."""
    if not entry.link:
        return entry
    return replace(entry, guid=canonical_link(entry.link))


def parse_feed(body: bytes, url: str) -> ParsedFeed:
    """Read a feed document fetched from `url`; relative links resolve against the document's base."""
    if _looks_like_json(body):
        return parse_json_feed(body, url)
    refuse_entity_attacks(body)
    return _parse_xml_feed(body, url)


def _looks_like_json(body: bytes) -> bool:
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def refuse_entity_attacks(body: bytes) -> None:
    """Raise FeedParseError for entity declarations (billion laughs) and external entities.

    expat stops at the declaration, before any expansion, so memory stays flat. Other XML errors are
    left to feedparser, which can often still read a malformed feed."""
    try:
        defusedxml.ElementTree.fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as error:
        raise FeedParseError(f"refused unsafe XML: {error}") from error
    except (defusedxml.ElementTree.ParseError, xml.parsers.expat.ExpatError, ValueError):
        pass


def _parse_xml_feed(body: bytes, url: str) -> ParsedFeed:
    document = feedparser.parse(body, response_headers={"content-location": url}, resolve_relative_uris=True)
    if not document.get("version") and not document.entries:
        raise FeedParseError(f"not a readable feed: {document.get('bozo_exception') or 'no feed elements'}")
    problem = f"{type(document.bozo_exception).__name__}: {document.bozo_exception}" if document.bozo else None
    entries = []
    for entry in document.entries:
        link = urljoin(url, entry["link"]) if entry.get("link") else None
        entries.append(FeedEntry(
            guid=entry_identity(entry.get("id"), link, entry.get("title"),
                                entry.get("published") or entry.get("updated")),
            link=link,
            title=entry.get("title"),
            summary=entry.get("summary"),
            content=_content(entry),
            published_at=_published(entry),
        ))
    return ParsedFeed(
        title=document.feed.get("title"), entries=entries, problem=problem, min_interval=_declared_interval(document.feed)
    )


def _published(entry: feedparser.FeedParserDict) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc) if parsed else None


def _content(entry: feedparser.FeedParserDict) -> str | None:
    contents = entry.get("content") or []
    return contents[0].get("value") if contents else None


def _declared_interval(channel: feedparser.FeedParserDict) -> timedelta | None:
    """The longer of RSS <ttl> (minutes) and sy:updatePeriod / sy:updateFrequency."""
    intervals = []
    ttl = str(channel.get("ttl") or "").strip()
    if ttl.isdigit() and int(ttl) > 0:
        intervals.append(timedelta(minutes=int(ttl)))
    period = str(channel.get("sy_updateperiod") or "").strip().lower()
    if period in SY_PERIODS:
        frequency = str(channel.get("sy_updatefrequency") or "1").strip()
        per_period = int(frequency) if frequency.isdigit() and int(frequency) > 0 else 1
        intervals.append(timedelta(hours=SY_PERIODS[period]) / per_period)
    return max(intervals) if intervals else None


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1); feedparser does not read them."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise FeedParseError(f"not a readable JSON Feed: {error}") from error
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(JSON_FEED_VERSION_PREFIX):
        raise FeedParseError("not a JSON Feed: no https://jsonfeed.org/version/1.x 'version'")
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedParseError("not a readable JSON Feed: 'items' is not a list")
    base = document.get("feed_url") if isinstance(document.get("feed_url"), str) else url
    entries = [_json_entry(item, urljoin(url, base)) for item in items if isinstance(item, dict)]
    skipped = len(items) - len(entries)
    problem = f"{skipped} item(s) are not JSON objects" if skipped else None
    return ParsedFeed(title=_text(document.get("title")), entries=entries, problem=problem)


def _json_entry(item: dict, base: str) -> FeedEntry:
    link = _text(item.get("url")) or _text(item.get("external_url"))
    link = urljoin(base, link) if link else None
    date = _text(item.get("date_published")) or _text(item.get("date_modified"))
    title = _text(item.get("title"))
    item_id = item.get("id")
    return FeedEntry(
        guid=entry_identity(str(item_id) if item_id not in (None, "") else None, link, title, date),
        link=link,
        title=title,
        summary=_text(item.get("summary")),
        content=_text(item.get("content_html")) or _text(item.get("content_text")),
        published_at=_rfc3339(date),
    )


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _rfc3339(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
