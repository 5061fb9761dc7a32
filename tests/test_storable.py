"""The pure decisions behind hostile inputs: what Postgres can store, which links are fetchable, which new
entries a capped poll keeps."""
from datetime import datetime, timezone

import pytest

from pipeline.parse import FeedEntry, in_its_real_encoding
from pipeline.polling import newest_first
from pipeline.stages import unfetchable_link
from pipeline.storable import MAX_GUID_CHARS, storable_entry, storable_text


def entry(guid: str, day: int | None = None, **fields) -> FeedEntry:
    published = datetime(2026, 1, day, tzinfo=timezone.utc) if day else None
    return FeedEntry(guid, fields.get("link"), fields.get("title"), fields.get("summary"), None, published)


def test_nul_and_lone_surrogates_are_stripped_and_fields_capped():
    assert storable_text("a\x00b\ud800c") == "abc"
    assert len(storable_text("t" * 10_000, "title")) == 2_000


def test_an_overlong_guid_is_kept_as_its_hash_and_an_overlong_link_dropped():
    stored = storable_entry(entry("g" * 5_000, link="http://example.org/" + "p" * 3_000))
    assert stored.guid.startswith("sha256:") and len(stored.guid) <= MAX_GUID_CHARS
    assert stored.link is None
    assert storable_entry(entry("g" * 5_000)).guid == stored.guid  # the same GUID keeps the same identity


@pytest.mark.parametrize("link, reason", [
    ("javascript:alert(1)", "not fetched: javascript: links are never fetched (only http and https)"),
    ("file:///etc/passwd", "not fetched: file: links are never fetched (only http and https)"),
    ("data:text/html,hi", "not fetched: data: links are never fetched (only http and https)"),
    ("/relative/path", "not fetched: relative: links are never fetched (only http and https)"),
    (None, "the entry has no link to fetch"),
    ("https://example.org/a", None),
])
def test_only_http_links_with_a_host_are_fetchable(link, reason):
    assert unfetchable_link(link) == reason


def test_newest_first_puts_dated_entries_newest_first_then_undated_in_document_order():
    entries = [entry("undated-1"), entry("jan-2", 2), entry("jan-9", 9), entry("undated-2"), entry("jan-5", 5)]
    assert [e.guid for e in newest_first(entries)] == ["jan-9", "jan-5", "jan-2", "undated-1", "undated-2"]


def test_a_feed_its_label_does_not_decode_is_read_in_its_real_encoding_and_relabelled():
    feed = '<?xml version="1.0" encoding="utf-8"?><rss><channel><title>Новости города и области</title></channel></rss>'
    assert in_its_real_encoding(feed.encode("cp1251")).decode("utf-8") == feed
    assert in_its_real_encoding(feed.encode("utf-8")) == feed.encode("utf-8")
