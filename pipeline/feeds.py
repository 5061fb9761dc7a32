"""Feeds: the registry of feeds to poll and each feed's polling state, kept in Postgres.

Feed lists come in and go out as YAML (`feeds:` list of url/name/publisher) or OPML 2.0 (outlines with
`xmlUrl`, grouped under one outline per publisher). `discover_feed_links` finds the feeds a web page
announces with <link rel="alternate">.
"""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import urljoin

import defusedxml
import defusedxml.ElementTree
import lxml.html
import yaml

from pipeline.crawler import Crawler, PollRequest
from pipeline.parse import FeedParseError, parse_feed

FEED_TYPES = {"application/rss+xml", "application/atom+xml", "application/feed+json", "application/json",
              "application/rdf+xml", "text/xml", "application/xml"}


class FeedListError(ValueError):
    """A feed list that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class FeedSpec:
    url: str
    name: str | None = None
    publisher: str | None = None


@dataclass(frozen=True)
class Feed:
    """A feed and its polling state (the columns of `feeds`)."""

    id: int
    url: str
    name: str | None = None
    publisher: str | None = None
    title: str | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    conditional_get: bool = True
    conditional_get_note: str | None = None
    last_audit_at: datetime | None = None
    entry_identity: str = "guid"
    entry_identity_note: str | None = None
    failure_score: float = 0.0
    consecutive_failures: int = 0
    poll_interval_seconds: int | None = None
    declared_interval_seconds: int | None = None
    redirect_target: str | None = None
    redirect_confirmations: int = 0
    next_poll_at: datetime | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


FEED_COLUMNS = [f.name for f in fields(Feed)]
STATE_COLUMNS = set(FEED_COLUMNS) - {"id", "name", "publisher"}


# -- feed lists: YAML and OPML ---------------------------------------------------------------------------

def load_feed_list(path: Path) -> list[FeedSpec]:
    """Read a feed list file: OPML when it looks like XML, else YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FeedListError(f"{path}: {error}") from error
    if text.lstrip().startswith("<"):
        return read_opml(text, path)
    return read_yaml_feed_list(text, path)


def read_yaml_feed_list(text: str, path: Path) -> list[FeedSpec]:
    """A top-level `feeds:` list of mappings with `url`, `name`, `publisher`."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
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


def read_opml(text: str, path: Path) -> list[FeedSpec]:
    """Every outline with an xmlUrl; a publisher is the enclosing outline's text (or a `publisher` attribute)."""
    try:
        root = defusedxml.ElementTree.fromstring(text)
    except (ElementTree.ParseError, defusedxml.DefusedXmlException) as error:
        raise FeedListError(f"{path}: not readable OPML: {error}") from error
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise FeedListError(f"{path}: not OPML (expected <opml><body>)")
    return list(_opml_specs(body, publisher=None))


def _opml_specs(parent: ElementTree.Element, publisher: str | None) -> Iterator[FeedSpec]:
    for outline in parent.findall("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if url:
            name = outline.get("text") or outline.get("title")
            yield FeedSpec(url=url, name=name, publisher=outline.get("publisher") or publisher)
        yield from _opml_specs(outline, publisher=outline.get("text") if not url else publisher)


def export_yaml(specs: Iterable[FeedSpec]) -> str:
    items = [{k: v for k, v in (("url", s.url), ("name", s.name), ("publisher", s.publisher)) if v} for s in specs]
    return yaml.safe_dump({"feeds": items}, sort_keys=False, allow_unicode=True)


def export_opml(specs: Iterable[FeedSpec]) -> str:
    """OPML 2.0 with one outline per publisher holding its feeds; feeds without a publisher sit at the top."""
    root = ElementTree.Element("opml", version="2.0")
    ElementTree.SubElement(ElementTree.SubElement(root, "head"), "title").text = "feedpipe feeds"
    body = ElementTree.SubElement(root, "body")
    groups: dict[str, ElementTree.Element] = {}
    for spec in specs:
        parent = body
        if spec.publisher:
            if spec.publisher not in groups:
                groups[spec.publisher] = ElementTree.SubElement(body, "outline", text=spec.publisher)
            parent = groups[spec.publisher]
        attributes = {"type": "rss", "text": spec.name or spec.url, "xmlUrl": spec.url}
        if spec.name:
            attributes["title"] = spec.name
        ElementTree.SubElement(parent, "outline", attributes)
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def discover_feed_links(html: bytes, base_url: str) -> list[str]:
    """The feed URLs a page announces with <link rel="alternate" type="...feed type...">, absolute, in order."""
    try:
        root = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return []
    found = []
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            url = urljoin(base_url, href)
            if url not in found:
                found.append(url)
    return found


# -- the registry ---------------------------------------------------------------------------------------

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


def _select(where: str) -> str:
    return f"SELECT {', '.join(FEED_COLUMNS)} FROM feeds WHERE {where}"


def all_feeds(cur) -> list[Feed]:
    cur.execute(_select("true") + " ORDER BY id")
    return [Feed(*row) for row in cur.fetchall()]


def get_feed(cur, feed_id: int) -> Feed:
    cur.execute(_select("id = %s"), (feed_id,))
    row = cur.fetchone()
    if row is None:
        raise LookupError(f"no feed {feed_id}")
    return Feed(*row)


def due_feeds(cur, include_not_due: bool = False) -> list[Feed]:
    """Enabled feeds whose next poll time has come (all enabled feeds with `include_not_due`), most overdue first."""
    cur.execute(_select("enabled AND (%s OR next_poll_at <= now())") + " ORDER BY next_poll_at, id",
                (include_not_due,))
    return [Feed(*row) for row in cur.fetchall()]


def feed_specs(cur) -> list[FeedSpec]:
    cur.execute("SELECT url, name, publisher FROM feeds ORDER BY id")
    return [FeedSpec(*row) for row in cur.fetchall()]


def update_feed_statement(cur, feed_id: int, changes: dict[str, object]) -> bytes:
    """The UPDATE that writes polling-state columns of one feed."""
    unknown = set(changes) - STATE_COLUMNS
    if unknown or not changes:
        raise ValueError(f"not feed state columns: {sorted(unknown) or 'none given'}")
    assignments = ", ".join(f"{column} = %({column})s" for column in changes)
    return cur.mogrify(f"UPDATE feeds SET {assignments} WHERE id = %(feed_id)s", {**changes, "feed_id": feed_id})


def set_enabled(cur, feed_id: int, enabled: bool, reason: str | None = None) -> None:
    """Operator switch: disabling records the reason; enabling clears it with the failure history and
    schedules the feed at once."""
    if enabled:
        cur.execute(
            """UPDATE feeds SET enabled = true, disabled_reason = NULL, disabled_at = NULL, failure_score = 0,
                      consecutive_failures = 0, next_poll_at = now() WHERE id = %s""",
            (feed_id,),
        )
    else:
        cur.execute(
            "UPDATE feeds SET enabled = false, disabled_reason = %s, disabled_at = now() WHERE id = %s",
            (reason or "disabled by operator", feed_id),
        )
    if cur.rowcount == 0:
        raise LookupError(f"no feed {feed_id}")


def links_already_seen(cur, feed_id: int, links: list[str]) -> set[str]:
    cur.execute("SELECT link FROM entries WHERE feed_id = %s AND link = ANY(%s)", (feed_id, links))
    return {row[0] for row in cur.fetchall()}


def reappearing_link(cur, feed_id: int, guids_by_link: dict[str, str]) -> tuple[str, str, str] | None:
    """A link stored under another GUID than the one it carries now: (link, old guid, new guid), or None."""
    if not guids_by_link:
        return None
    cur.execute(
        """SELECT e.link, e.guid, incoming.guid FROM entries e
           JOIN unnest(%s::text[], %s::text[]) AS incoming (link, guid) ON incoming.link = e.link
           WHERE e.feed_id = %s AND e.guid <> incoming.guid LIMIT 1""",
        (list(guids_by_link), list(guids_by_link.values()), feed_id),
    )
    return cur.fetchone()


# -- adding one feed ------------------------------------------------------------------------------------

class FeedDiscoveryError(ValueError):
    """A URL that is neither a feed nor a page announcing one."""


@dataclass(frozen=True)
class Discovery:
    feed_url: str
    announced: list[str]  # every feed the page announced (empty when the URL was a feed itself)


def discover_feed(crawler: Crawler, url: str) -> Discovery:
    """The URL itself when it serves a readable feed, else the first feed its page announces."""
    result = crawler.poll(PollRequest(url)).result()
    if result.error is not None:
        raise FeedDiscoveryError(f"cannot fetch {url}: {result.error}")
    page = result.fetched.response
    if page.status != 200:
        raise FeedDiscoveryError(f"{url} answered HTTP {page.status} {page.reason}".strip())
    try:
        parse_feed(page.body, page.url)
        return Discovery(url, [])
    except FeedParseError:
        announced = discover_feed_links(page.body, page.url)
    if not announced:
        raise FeedDiscoveryError(f"{url} is not a feed and announces none with <link rel=\"alternate\">")
    return Discovery(announced[0], announced)
