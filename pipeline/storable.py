"""Storable: text from the outside world made fit for Postgres, with a size cap per field.

Postgres text cannot hold U+0000, and psycopg2 cannot encode lone surrogates (which JSON's \\ud800 escapes and
lenient decoders produce); one such character would fail the statement that carries it. The caps bound what one
entry can cost in memory and in a database row, whatever a feed sends.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.parse import FeedEntry

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
FIELD_CAPS = {  # characters kept per field of an entry
    "title": 2_000,
    "summary": 1_000_000,
    "content": 1_000_000,
}
MAX_LINK_CHARS = 2_048  # longer links are dropped: no server serves them, and (feed, link) is indexed
MAX_GUID_CHARS = 512  # longer identities are kept as their hash: (feed, guid) is a unique btree index


def storable_text(value: str | None, field: str | None = None) -> str | None:
    """`value` without characters Postgres cannot store, cut to its field's cap."""
    if value is None:
        return None
    value = UNSTORABLE.sub("", value)
    return value[:FIELD_CAPS[field]] if field else value


def storable_guid(guid: str) -> str:
    guid = UNSTORABLE.sub("", guid)
    if len(guid) <= MAX_GUID_CHARS:
        return guid
    return "sha256:" + hashlib.sha256(guid.encode("utf-8", "surrogatepass")).hexdigest()


def storable_entry(entry: "FeedEntry") -> "FeedEntry":
    link = storable_text(entry.link)
    return replace(
        entry,
        guid=storable_guid(entry.guid),
        link=link if link and len(link) <= MAX_LINK_CHARS else None,
        title=storable_text(entry.title, "title"),
        summary=storable_text(entry.summary, "summary"),
        content=storable_text(entry.content, "content"),
    )
