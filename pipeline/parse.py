"""Parse: the entries of a feed document (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed 1.0/1.1).

XML documents pass through defusedxml first, so entity-expansion bombs and external entities are refused
before any parser sees them. A well-formed UTF-8 RSS 2.0 or Atom 1.0 feed whose entries fastfeedparser reads
exactly as feedparser would (see `fast_path_refusal`) is read by fastfeedparser, 60-100x faster; every other
document goes to feedparser, which reads what it can and reports a defect it worked around (its `bozo` flag) as
`problem` rather than failing the feed.
"""
from __future__ import annotations

import calendar
import hashlib
import json
import re
import xml.parsers.expat
from xml.etree.ElementTree import Element
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from urllib.parse import urljoin, urlsplit, urlunsplit

import courlan
import defusedxml
import defusedxml.ElementTree
import fastfeedparser
import feedparser

JSON_FEED_VERSION_PREFIX = "https://jsonfeed.org/version/1"
SY_PERIODS = {"hourly": 1, "daily": 24, "weekly": 24 * 7, "monthly": 24 * 30, "yearly": 24 * 365}
ATOM = "{http://www.w3.org/2005/Atom}"
SY = "{http://purl.org/rss/1.0/modules/syndication/}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
UTF8_DECLARATION = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding=[\"']utf-?8[\"']", re.I)
ANY_DECLARED_ENCODING = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding=", re.I)


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
    root = refuse_entity_attacks(body)
    fast = parse_with_fastfeedparser(body, url, root) if root is not None else None
    return fast or parse_with_feedparser(body, url)


def _looks_like_json(body: bytes) -> bool:
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def refuse_entity_attacks(body: bytes) -> Element | None:
    """Raise FeedParseError for entity declarations (billion laughs) and external entities; return the
    document's root element when it is well-formed XML, else None.

    expat stops at the declaration, before any expansion, so memory stays flat. Other XML errors are
    left to feedparser, which can often still read a malformed feed."""
    try:
        return defusedxml.ElementTree.fromstring(body, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as error:
        raise FeedParseError(f"refused unsafe XML: {error}") from error
    except (defusedxml.ElementTree.ParseError, xml.parsers.expat.ExpatError, ValueError):
        return None


def fast_path_refusal(body: bytes, root: Element) -> str | None:
    """Why fastfeedparser might read this well-formed document differently from feedparser; None if it won't.

    fastfeedparser does not sanitize HTML, resolve xml:base, or tell a real <content> from one it made up from
    the description, and it invents a link from a GUID and a date from a date-like GUID; feedparser reads other
    encodings and feed versions its own way. So the fast path takes only documents where none of that can
    happen: UTF-8 RSS 2.0 or Atom 1.0 without xml:base, whose every entry has its own id, link and date and no
    content element. Markup in titles and summaries is checked on fastfeedparser's output."""
    if ANY_DECLARED_ENCODING.match(body) and not UTF8_DECLARATION.match(body):
        return "declares an encoding other than UTF-8"
    if b"xml:base" in body:
        return "uses xml:base"
    items = _items(root)
    if items is None:
        return "neither RSS 2.0 nor Atom 1.0"
    rss = root.tag == "rss"
    date_tags = ("pubDate",) if rss else (ATOM + "published", ATOM + "updated")
    content_tags = (CONTENT_ENCODED, "content") if rss else (ATOM + "content",)
    for item in items:
        guid = item.find("guid") if rss else None
        if not (item.findtext("guid" if rss else ATOM + "id") or "").strip():
            return "an entry has no id of its own"
        if guid is not None and guid.get("isPermaLink", "true") not in ("true", "false"):
            return "an entry's isPermaLink is neither true nor false"
        if not _link_element_text(item, rss):
            return "an entry has no link of its own"
        if not any((item.findtext(tag) or "").strip() for tag in date_tags):
            return "an entry has no date of its own"
        if any(item.find(tag) is not None for tag in content_tags):
            return "an entry has a content element"
    return None


def _items(root: Element) -> list[Element] | None:
    if root.tag == "rss" and root.get("version") == "2.0" and root.find("channel") is not None:
        return root.find("channel").findall("item")
    if root.tag == ATOM + "feed":
        return root.findall(ATOM + "entry")
    return None


def _link_element_text(item: Element, rss: bool) -> str:
    if rss:
        return (item.findtext("link") or "").strip()
    return next((link.get("href", "").strip() for link in item.findall(ATOM + "link")
                 if link.get("rel", "alternate") == "alternate"), "")


def _feedparser_id(item: Element, rss: bool, url: str) -> str:
    """The entry's id as feedparser gives it: a permalink GUID or an Atom id is resolved against the feed URL."""
    guid = item.find("guid") if rss else None
    if guid is not None and guid.get("isPermaLink") == "false":
        return (guid.text or "").strip()
    return urljoin(url, (item.findtext("guid" if rss else ATOM + "id") or "").strip())


def parse_with_fastfeedparser(body: bytes, url: str, root: Element) -> ParsedFeed | None:
    """The feed as fastfeedparser reads it, or None when it could differ from what feedparser reads.

    `root` is the document's root element, as `refuse_entity_attacks` returned it."""
    if fast_path_refusal(body, root) is not None:
        return None
    try:
        document = fastfeedparser.parse(body, include_tags=False, include_media=False, include_enclosures=False)
    except ValueError:
        return None
    items = _items(root)
    rss = root.tag == "rss"
    feed_title = document.feed.get("title") or None
    if len(document.entries) != len(items) or (feed_title and "<" in feed_title):
        return None
    entries = []
    for entry, item in zip(document.entries, items):
        title, summary = entry.get("title") or None, entry.get("description") or None
        if any("<" in text for text in (title, summary) if text):
            return None  # markup: feedparser would sanitize it
        if (entry.get("link") or "").strip() != _link_element_text(item, rss):
            return None
        link = urljoin(url, entry["link"].strip())
        published = entry.get("published") or entry.get("updated")
        entries.append(FeedEntry(
            guid=_feedparser_id(item, rss, url),
            link=link,
            title=title,
            summary=summary,
            content=None,
            published_at=_iso_datetime(published),
        ))
    channel = root.find("channel") if rss else root
    declared = {"ttl": channel.findtext("ttl"), "sy_updateperiod": channel.findtext(SY + "updatePeriod"),
                "sy_updatefrequency": channel.findtext(SY + "updateFrequency")}
    return ParsedFeed(title=feed_title, entries=entries, min_interval=_declared_interval(declared))


def _iso_datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(timezone.utc) if value else None


def parse_with_feedparser(body: bytes, url: str) -> ParsedFeed:
    """Any XML feed feedparser can read, malformed ones too (the fallback; call after refuse_entity_attacks)."""
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


def _declared_interval(channel: dict) -> timedelta | None:
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
