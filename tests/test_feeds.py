"""The feed registry: OPML and YAML lists, autodiscovery, and the `feedpipe feeds` commands."""
from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from pipeline import cli as cli_module
from pipeline import db
from pipeline.cli import app
from pipeline.feeds import (FeedListError, FeedSpec, discover_feed_links, export_opml, export_yaml, feed_specs,
                            load_feed_list, register_feeds)

SPECS = [
    FeedSpec("https://city.example.org/rss.xml", "City Post", "City Post Media"),
    FeedSpec("https://city.example.org/sport.xml", "City Post Sport", "City Post Media"),
    FeedSpec("https://wire.example.net/feed.json", "Wire", None),
]


def test_opml_round_trips(tmp_path: Path):
    path = tmp_path / "feeds.opml"
    path.write_text(export_opml(SPECS), encoding="utf-8")
    assert sorted(load_feed_list(path), key=lambda s: s.url) == sorted(SPECS, key=lambda s: s.url)


def test_yaml_round_trips(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_text(export_yaml(SPECS), encoding="utf-8")
    assert load_feed_list(path) == SPECS


def test_opml_from_another_reader_is_imported(tmp_path: Path):
    path = tmp_path / "subscriptions.opml"
    path.write_text("""<?xml version="1.0"?><opml version="1.0"><head><title>Mine</title></head><body>
        <outline text="News"><outline type="rss" text="City Post" xmlUrl="https://city.example.org/rss.xml"/></outline>
        <outline type="rss" title="Wire" xmlUrl="https://wire.example.net/feed.json"/></body></opml>""")
    assert load_feed_list(path) == [FeedSpec("https://city.example.org/rss.xml", "City Post", category="News"),
                                    FeedSpec("https://wire.example.net/feed.json", "Wire")]


def test_unreadable_lists_are_clear_errors(tmp_path: Path):
    broken = tmp_path / "broken.opml"
    broken.write_text("<opml><body><outline")
    with pytest.raises(FeedListError, match="broken.opml"):
        load_feed_list(broken)
    laughs = tmp_path / "laughs.opml"
    laughs.write_text('<!DOCTYPE o [<!ENTITY a "aaaa">]><opml><body><outline xmlUrl="&a;"/></body></opml>')
    with pytest.raises(FeedListError, match="laughs.opml"):
        load_feed_list(laughs)


def test_autodiscovery_finds_announced_feeds_in_order():
    page = b"""<html><head><link rel="stylesheet" href="/site.css">
        <link rel="alternate" type="application/rss+xml" title="All" href="/rss.xml">
        <link rel="alternate" type="application/atom+xml" href="https://city.example.org/atom.xml">
        <link rel="alternate" type="text/html" hreflang="fr" href="/fr/"></head><body></body></html>"""
    assert discover_feed_links(page, "https://city.example.org/news/") == [
        "https://city.example.org/rss.xml", "https://city.example.org/atom.xml"]


@pytest.fixture
def cli(database_url: str, feedpipe_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FEEDPIPE_DATABASE_URL", database_url)
    monkeypatch.setenv("FEEDPIPE_HOME", str(feedpipe_home))
    monkeypatch.setattr(cli_module, "console", Console(width=400))  # the health table, unwrapped
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def test_feeds_add_discovers_the_feed_of_a_web_page(cli, conn, web):
    web.route("/feed.xml", b'<?xml version="1.0"?><rss version="2.0"><channel><title>Site</title></channel></rss>')
    web.route("/index.html", b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml">'
                             b"</head><body>home</body></html>", headers={"Content-Type": "text/html"})
    output = cli("feeds", "add", web.url("/index.html"), "--name", "Site", "--allow-private-addresses")
    assert "announces 1 feed" in output and web.url("/feed.xml") in output
    with db.transaction(conn) as cur:
        assert feed_specs(cur) == [FeedSpec(web.url("/feed.xml"), "Site", None)]


def test_feeds_add_refuses_a_page_without_a_feed(database_url, feedpipe_home, monkeypatch, web):
    monkeypatch.setenv("FEEDPIPE_DATABASE_URL", database_url)
    monkeypatch.setenv("FEEDPIPE_HOME", str(feedpipe_home))
    web.route("/plain.html", b"<html><body>nothing here</body></html>", headers={"Content-Type": "text/html"})
    result = CliRunner().invoke(app, ["feeds", "add", web.url("/plain.html"), "--allow-private-addresses"])
    assert result.exit_code == 1
    assert "announces none" in result.output


def test_import_export_disable_enable_and_list(cli, conn, tmp_path: Path):
    path = tmp_path / "feeds.opml"
    path.write_text(export_opml(SPECS), encoding="utf-8")
    assert "3 new" in cli("feeds", "import", str(path))
    assert "0 new" in cli("feeds", "import", str(path))

    exported = tmp_path / "exported.yaml"
    exported.write_text(cli("feeds", "export", "--format", "yaml"), encoding="utf-8")
    assert sorted(load_feed_list(exported), key=lambda s: s.url) == sorted(SPECS, key=lambda s: s.url)

    cli("feeds", "disable", "2", "--reason", "paywalled")
    with db.transaction(conn) as cur:
        cur.execute("SELECT enabled, disabled_reason FROM feeds WHERE id = 2")
        assert cur.fetchone() == (False, "paywalled")
    assert "disabled: paywalled" in cli("feeds", "list")
    cli("feeds", "enable", "2")
    with db.transaction(conn) as cur:
        cur.execute("SELECT enabled, disabled_reason, next_poll_at <= now() FROM feeds WHERE id = 2")
        assert cur.fetchone() == (True, None, True)


def test_register_keeps_state_of_known_feeds(conn):
    with db.transaction(conn) as cur:
        assert register_feeds(cur, SPECS) == 3
        assert register_feeds(cur, [FeedSpec(SPECS[0].url, None, "Renamed Media")]) == 0
        assert feed_specs(cur)[0] == FeedSpec(SPECS[0].url, "City Post", "Renamed Media")
