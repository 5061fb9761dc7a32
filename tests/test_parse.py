"""Feed documents of every supported format, defects feedparser works around, and XML attacks refused."""
from __future__ import annotations

import json
import tracemalloc
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.parse import FeedParseError, canonical_link, parse_feed, with_link_identity

BASE = "https://news.example.org/feeds/main.xml"

RSS_091 = b"""<?xml version="1.0"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>Old News</title><link>https://news.example.org/</link>
<item><title>First</title><link>https://news.example.org/first</link></item></channel></rss>"""

RSS_10 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
  <channel rdf:about="https://news.example.org/"><title>RDF News</title>
    <sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency></channel>
  <item rdf:about="https://news.example.org/rdf-1"><title>Budget passes</title>
    <link>https://news.example.org/rdf-1</link><dc:date>2024-05-01T10:00:00Z</dc:date></item>
  <item rdf:about="https://news.example.org/rdf-2"><title>Rain expected</title>
    <link>https://news.example.org/rdf-2</link></item>
</rdf:RDF>"""

RSS_20 = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Main</title><ttl>90</ttl>
<item><guid isPermaLink="false">story-17</guid><title>Port reopens</title><link>/2024/port-reopens</link>
<description>The port reopened.</description><pubDate>Wed, 01 May 2024 10:00:00 GMT</pubDate></item>
<item><title>No guid here</title><link>https://News.Example.org:443/no-guid#comments</link></item>
<item><title>Neither guid nor link</title><pubDate>Wed, 01 May 2024 09:00:00 GMT</pubDate></item>
</channel></rss>"""

ATOM_10 = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://news.example.org/atom/"><title>Atom News</title>
<entry><id>tag:news.example.org,2024:1</id><title>Bridge opens</title><link href="bridge-opens"/>
<updated>2024-05-01T10:00:00Z</updated><content type="html">&lt;p&gt;It opened.&lt;/p&gt;</content></entry></feed>"""

ATOM_03 = b"""<?xml version="1.0" encoding="utf-8"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>Atom 0.3 News</title>
<entry><id>tag:news.example.org,2004:1</id><title>Old format</title>
<link rel="alternate" type="text/html" href="https://news.example.org/old-format"/>
<issued>2004-05-01T10:00:00Z</issued></entry></feed>"""


def json_feed(version: str, items: list[dict]) -> bytes:
    return json.dumps({"version": f"https://jsonfeed.org/version/{version}", "title": "JSON News",
                       "feed_url": BASE, "items": items}).encode()


def test_rss_091_with_its_netscape_doctype_parses():
    feed = parse_feed(RSS_091, BASE)
    assert feed.title == "Old News"
    assert [e.link for e in feed.entries] == ["https://news.example.org/first"]


def test_rss_10_parses_with_its_declared_update_period():
    feed = parse_feed(RSS_10, BASE)
    assert feed.title == "RDF News"
    assert [e.title for e in feed.entries] == ["Budget passes", "Rain expected"]
    assert feed.entries[0].published_at == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert feed.min_interval == timedelta(hours=6)  # daily, four times


def test_rss_20_identity_falls_back_from_guid_to_canonical_link_to_hash():
    feed = parse_feed(RSS_20, BASE)
    with_guid, with_link, with_neither = feed.entries
    assert with_guid.guid == "story-17"
    assert with_link.guid == canonical_link("https://news.example.org/no-guid")
    assert with_neither.guid.startswith("sha256:")
    assert feed.min_interval == timedelta(minutes=90)


def test_relative_links_resolve_against_the_feed_url_and_xml_base():
    assert parse_feed(RSS_20, BASE).entries[0].link == "https://news.example.org/2024/port-reopens"
    assert parse_feed(ATOM_10, BASE).entries[0].link == "https://news.example.org/atom/bridge-opens"


def test_atom_10_and_03_parse():
    atom = parse_feed(ATOM_10, BASE).entries[0]
    assert (atom.guid, atom.title, atom.content) == ("tag:news.example.org,2024:1", "Bridge opens", "<p>It opened.</p>")
    old = parse_feed(ATOM_03, BASE)
    assert old.title == "Atom 0.3 News"
    assert old.entries[0].link == "https://news.example.org/old-format"


@pytest.mark.parametrize("version", ["1", "1.1"])
def test_json_feed_parses(version):
    body = json_feed(version, [
        {"id": 42, "url": "/stories/42", "title": "Council votes", "content_html": "<p>It voted.</p>",
         "summary": "A vote.", "date_published": "2024-05-01T10:00:00+02:00"},
        {"id": "43", "external_url": "https://elsewhere.example.com/43", "content_text": "Plain text."},
    ])
    feed = parse_feed(body, BASE)
    first, second = feed.entries
    assert feed.title == "JSON News"
    assert (first.guid, first.link, first.content) == ("42", "https://news.example.org/stories/42", "<p>It voted.</p>")
    assert first.published_at == datetime(2024, 5, 1, 8, tzinfo=timezone.utc)
    assert (second.guid, second.link, second.content) == ("43", "https://elsewhere.example.com/43", "Plain text.")


def test_json_without_a_json_feed_version_is_an_error():
    with pytest.raises(FeedParseError, match="not a JSON Feed"):
        parse_feed(b'{"items": []}', BASE)


def test_malformed_but_readable_xml_is_accepted_with_the_problem_recorded():
    broken = RSS_20.replace(b"</channel></rss>", b"<item><title>AT&T</title><link>/att</link></item></channel></rss>")
    feed = parse_feed(broken, BASE)
    assert len(feed.entries) == 4
    assert feed.problem


def test_unreadable_document_is_an_error():
    with pytest.raises(FeedParseError, match="not a readable feed"):
        parse_feed(b"<html><body><p>This is a web page, not a feed.</p></body></html>", BASE)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
""" + b"".join(
    b'<!ENTITY lol%d "%s">\n' % (n, b"".join(b"&lol%d;" % (n - 1) for _ in range(10))) for n in range(2, 10)
) + b"""]><rss version="2.0"><channel><title>&lol9;</title></channel></rss>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>&secret;</title><item><title>x</title></item></channel></rss>"""


def test_billion_laughs_is_refused_without_expanding():
    tracemalloc.start()
    try:
        with pytest.raises(FeedParseError, match="unsafe XML"):
            parse_feed(BILLION_LAUGHS, BASE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024


def test_external_entity_is_refused():
    with pytest.raises(FeedParseError, match="unsafe XML"):
        parse_feed(EXTERNAL_ENTITY, BASE)


def test_link_identity_replaces_a_guid_with_the_canonical_link():
    entry = parse_feed(RSS_20, BASE).entries[0]
    assert with_link_identity(entry).guid == canonical_link("https://news.example.org/2024/port-reopens")


@pytest.mark.parametrize("first, second", [
    ("http://news.example.org/news.php?story=0", "http://news.example.org/news.php?story=1"),
    ("https://paper.example.com/article.asp?id=4411", "https://paper.example.com/article.asp?id=4412"),
    ("https://paper.example.com/view?articleid=77&section=world", "https://paper.example.com/view?articleid=78&section=world"),
    ("https://video.example.com/watch?v=dQw4w9WgXcQ", "https://video.example.com/watch?v=9bZkp7q19f0"),
    ("https://blog.example.net/?p=1201", "https://blog.example.net/?p=1202"),
    ("https://city.example.org/2026/11/council?page=1", "https://city.example.org/2026/11/council?page=2"),
])
def test_canonical_link_keeps_the_query_parameters_that_name_content(first, second):
    assert canonical_link(first) != canonical_link(second)


def test_canonical_link_drops_tracking_parameters_fragment_and_host_case():
    plain = canonical_link("https://paper.example.com/article.asp?id=4411")
    tracked = ("https://Paper.Example.com:443/article.asp?utm_source=rss&id=4411&fbclid=IwAR0x&gclid=Cj0K"
               "&utm_medium=feed#comments")
    assert canonical_link(tracked) == plain == "https://paper.example.com/article.asp?id=4411"


def test_entries_without_guids_that_differ_only_in_their_query_are_distinct():
    items = "".join(f"<item><title>Story {n}</title><link>http://news.example.org/news.php?story={n}</link></item>"
                    for n in range(3))
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>{items}</channel></rss>'.encode()
    assert len({entry.guid for entry in parse_feed(body, "http://news.example.org/rss.xml").entries}) == 3
