"""Feeds: the registry of feeds to poll and each feed's polling state, kept in Postgres.

Feed lists come in and go out as YAML (`feeds:` list of url/name/publisher/category/enabled/disabled_reason) or
OPML 2.0 (outlines with `xmlUrl`, grouped in one folder outline per category; `publisher`, `enabled` and
`disabledReason` attributes). A list is validated whole before anything is registered: every problem is named
with its line. `discover_feed_links` finds the feeds a web page announces with <link rel="alternate">.
"""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import urljoin, urlsplit

import defusedxml
import defusedxml.ElementTree
import lxml.html
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

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
    category: str | None = None  # a folder of the list the feed came from; not the publisher
    enabled: bool | None = None  # None: not stated, a known feed keeps its state
    disabled_reason: str | None = None


class FeedListItem(BaseModel):
    """One feed of a YAML list: exactly these keys, each of its type."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str
    name: str | None = None
    publisher: str | None = None
    category: str | None = None
    enabled: bool | None = None
    disabled_reason: str | None = None


FEED_LIST_KEYS = ", ".join(FeedListItem.model_fields)


def feed_url_problem(url: str) -> str | None:
    """Why `url` cannot be a feed's address, or None when it can: http(s), a host, no spaces."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return f"url {url!r}: expected an http:// or https:// URL with a host"
    return None


@dataclass(frozen=True)
class Feed:
    """A feed and its polling state (the columns of `feeds`)."""

    id: int
    url: str
    name: str | None = None
    publisher: str | None = None
    category: str | None = None
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
STATE_COLUMNS = set(FEED_COLUMNS) - {"id", "name", "publisher", "category"}


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
    """A top-level `feeds:` list of mappings with the keys of FeedListItem; every problem is named with its line."""
    try:
        document = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise FeedListError(f"{path}: {' '.join(str(error).split())}") from error
    if not isinstance(document, dict) or not isinstance(document.get("feeds"), list):
        raise FeedListError(f"{path}: expected a top-level 'feeds:' list")
    top = dict((key.value, (key, value)) for key, value in root.value)
    problems = [f"{path}:{key.start_mark.line + 1}: unknown key {name!r} (expected only 'feeds:')"
                for name, (key, _) in top.items() if name != "feeds"]
    specs = []
    for item, node in zip(document["feeds"], top["feeds"][1].value):
        spec, item_problems = _yaml_feed(item, node, path)
        problems += item_problems
        if spec:
            specs.append(spec)
    if problems:
        raise FeedListError("\n".join(problems))
    return specs


def _yaml_feed(item: object, node: yaml.Node, path: Path) -> tuple[FeedSpec | None, list[str]]:
    line = node.start_mark.line + 1
    if not isinstance(item, dict):
        return None, [f"{path}:{line}: expected a mapping with 'url:' (and {FEED_LIST_KEYS})"]
    key_lines = {key.value: key.start_mark.line + 1 for key, _ in node.value}
    try:
        feed = FeedListItem.model_validate(item)
    except ValidationError as error:
        return None, [_item_problem(problem, key_lines, line, path) for problem in error.errors()]
    problem = feed_url_problem(feed.url)
    if problem:
        return None, [f"{path}:{key_lines.get('url', line)}: {problem}"]
    return FeedSpec(**feed.model_dump()), []


def _item_problem(problem: dict, key_lines: dict[str, int], line: int, path: Path) -> str:
    key = str(problem["loc"][0]) if problem["loc"] else ""
    where = f"{path}:{key_lines.get(key, line)}"
    if problem["type"] == "extra_forbidden":
        return f"{where}: unknown key {key!r} (expected {FEED_LIST_KEYS})"
    if problem["type"] == "missing":
        return f"{where}: feed has no {key!r}"
    return f"{where}: {key}: {problem['msg'].lower()}, got {type(problem['input']).__name__} {problem['input']!r}"


def read_opml(text: str, path: Path) -> list[FeedSpec]:
    """Every outline with an xmlUrl; the folder outlines around it are its category (kept apart from the
    publisher, which only a `publisher` attribute gives)."""
    try:
        root = defusedxml.ElementTree.fromstring(text)
    except (ElementTree.ParseError, defusedxml.DefusedXmlException) as error:
        raise FeedListError(f"{path}: not readable OPML: {error}") from error
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise FeedListError(f"{path}: not OPML (expected <opml><body>)")
    specs = list(_opml_specs(body, category=None))
    problems = [f"{path}: feed {number} ({spec.name or spec.url!r}): {problem}"
                for number, spec in enumerate(specs, 1) if (problem := feed_url_problem(spec.url))]
    if problems:
        raise FeedListError("\n".join(problems))
    return specs


def _opml_specs(parent: ElementTree.Element, category: str | None) -> Iterator[FeedSpec]:
    for outline in parent.findall("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if url:
            enabled = outline.get("enabled")
            yield FeedSpec(url=url, name=outline.get("title") or outline.get("text"),
                           publisher=outline.get("publisher"), category=category,
                           enabled=None if enabled is None else enabled.lower() != "false",
                           disabled_reason=outline.get("disabledReason"))
        else:
            folder = outline.get("text") or outline.get("title")
            yield from _opml_specs(outline, "/".join(filter(None, (category, folder))) or None)


def _stated(spec: FeedSpec) -> dict[str, object]:
    """The spec's fields a list writes: what is set, and the disabled state only for a disabled feed."""
    values = {"url": spec.url, "name": spec.name, "publisher": spec.publisher, "category": spec.category}
    if spec.enabled is False:
        values.update(enabled=False, disabled_reason=spec.disabled_reason)
    return {key: value for key, value in values.items() if value is not None}


def export_yaml(specs: Iterable[FeedSpec]) -> str:
    return yaml.safe_dump({"feeds": [_stated(spec) for spec in specs]}, sort_keys=False, allow_unicode=True)


def export_opml(specs: Iterable[FeedSpec]) -> str:
    """OPML 2.0 with one folder outline per category holding its feeds; feeds without one sit at the top."""
    root = ElementTree.Element("opml", version="2.0")
    ElementTree.SubElement(ElementTree.SubElement(root, "head"), "title").text = "feedpipe feeds"
    body = ElementTree.SubElement(root, "body")
    folders: dict[str, ElementTree.Element] = {}
    for spec in specs:
        parent = body
        if spec.category:
            if spec.category not in folders:
                folders[spec.category] = ElementTree.SubElement(body, "outline", text=spec.category)
            parent = folders[spec.category]
        attributes = {"type": "rss", "text": spec.name or spec.url, "xmlUrl": spec.url}
        if spec.name:
            attributes["title"] = spec.name
        if spec.publisher:
            attributes["publisher"] = spec.publisher
        if spec.enabled is False:
            attributes["enabled"] = "false"
            if spec.disabled_reason:
                attributes["disabledReason"] = spec.disabled_reason
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
    """Add feeds to the registry, updating name, publisher and category of known ones (and disabling them when
    the list says so); returns how many were new. Re-enabling is `set_enabled`: it also clears the history."""
    added = 0
    for spec in specs:
        problem = feed_url_problem(spec.url)
        if problem:
            raise FeedListError(problem)
        disabled = spec.enabled is False
        cur.execute(
            """INSERT INTO feeds (url, name, publisher, category, enabled, disabled_reason, disabled_at)
               VALUES (%(url)s, %(name)s, %(publisher)s, %(category)s, NOT %(disabled)s,
                       CASE WHEN %(disabled)s THEN %(reason)s END, CASE WHEN %(disabled)s THEN now() END)
               ON CONFLICT (url) DO UPDATE
               SET name = COALESCE(EXCLUDED.name, feeds.name),
                   publisher = COALESCE(EXCLUDED.publisher, feeds.publisher),
                   category = COALESCE(EXCLUDED.category, feeds.category),
                   enabled = feeds.enabled AND NOT %(disabled)s,
                   disabled_reason = CASE WHEN %(disabled)s AND feeds.enabled THEN %(reason)s
                                          ELSE feeds.disabled_reason END,
                   disabled_at = CASE WHEN %(disabled)s AND feeds.enabled THEN now() ELSE feeds.disabled_at END
               RETURNING (xmax = 0)""",
            {"url": spec.url, "name": spec.name, "publisher": spec.publisher, "category": spec.category,
             "disabled": disabled, "reason": spec.disabled_reason or "disabled in the feed list"},
        )
        added += cur.fetchone()[0]
    return added


def remove_feed(cur, feed_id: int) -> tuple[str, int]:
    """Delete a feed with its entries and poll log; its articles stay (their feed_id becomes NULL).
    Returns the feed's URL and how many entries went with it."""
    cur.execute("SELECT count(*) FROM entries WHERE feed_id = %s", (feed_id,))
    entries = cur.fetchone()[0]
    cur.execute("DELETE FROM feeds WHERE id = %s RETURNING url", (feed_id,))
    row = cur.fetchone()
    if row is None:
        raise LookupError(f"no feed {feed_id}")
    return row[0], entries


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
    """The registry as a feed list: what an export writes and an import reads back (a list states only a
    disabled state: an enabled feed's `enabled` is None)."""
    cur.execute("""SELECT url, name, publisher, category, CASE WHEN NOT enabled THEN false END, disabled_reason
                   FROM feeds ORDER BY id""")
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
