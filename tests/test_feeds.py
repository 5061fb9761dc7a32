"""The feed registry: OPML and YAML lists, autodiscovery, and the `feedpipe feeds` commands."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pgserver
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


def write(tmp_path: Path, text: str, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, message", [
    ("feeds:\n  - url: https://city.example.org/rss.xml\n    nme: City Post\n",
     "feeds.yaml:3: unknown key 'nme' (expected url, name, publisher, category, enabled, disabled_reason)"),
    ("feeds:\n  - url: https://city.example.org/rss.xml\n  - url: https://wire.example.net/feed.json\n"
     "    publisher: [a, b]\n", "feeds.yaml:4: publisher: input should be a valid string, got list ['a', 'b']"),
    ("feeds:\n  - url: not a url\n", "feeds.yaml:2: url 'not a url': expected an http:// or https:// URL with a host"),
    ('feeds:\n  - name: x\n    url: ""\n', "feeds.yaml:3: url '': expected an http:// or https:// URL with a host"),
    ("feeds:\n  - url: ftp://x\n", "feeds.yaml:2: url 'ftp://x': expected an http:// or https:// URL"),
    ("feeds:\n  - url: http:///nohost\n", "feeds.yaml:2: url 'http:///nohost': expected an http:// or https:// URL"),
    ("feeds:\n  - name: no url\n", "feeds.yaml:2: feed has no 'url'"),
    ("feed:\n  - url: https://city.example.org/rss.xml\n", "feeds.yaml: expected a top-level 'feeds:' list"),
    ("feeds:\n  - url: https://a.example/rss\nextra: 1\n", "feeds.yaml:3: unknown key 'extra' (expected only 'feeds:')"),
])
def test_a_bad_feed_list_is_refused_with_the_line_of_each_problem(tmp_path: Path, text: str, message: str):
    with pytest.raises(FeedListError) as refused:
        load_feed_list(write(tmp_path, text))
    assert message in str(refused.value)


def test_every_problem_of_a_list_is_named_before_anything_is_registered(cli, conn, tmp_path: Path):
    path = write(tmp_path, "feeds:\n  - url: https://ok.example/rss\n  - url: ftp://x\n  - url: https://b.example/rss\n"
                           "    nme: B\n")
    result = CliRunner().invoke(app, ["feeds", "import", str(path)])
    assert result.exit_code == 1
    assert "feeds.yaml:3: url 'ftp://x'" in result.output and "feeds.yaml:5: unknown key 'nme'" in result.output
    with db.transaction(conn) as cur:
        assert feed_specs(cur) == []


def test_opml_folders_are_categories_and_never_overwrite_the_publisher(tmp_path: Path):
    path = write(tmp_path, """<?xml version="1.0"?><opml version="2.0"><body>
        <outline text="World"><outline text="Europe">
          <outline type="rss" text="City Post" publisher="City Post Media" xmlUrl="https://city.example.org/rss.xml"/>
        </outline></outline></body></opml>""", "feeds.opml")
    assert load_feed_list(path) == [FeedSpec("https://city.example.org/rss.xml", "City Post", "City Post Media",
                                             category="World/Europe")]


def test_export_then_import_is_a_round_trip_with_categories_and_disabled_feeds(cli, conn, tmp_path: Path):
    listed = [FeedSpec("https://city.example.org/rss.xml", "City Post", "City Post Media", "World"),
              FeedSpec("https://wire.example.net/feed.json", "Wire", None, None, False, "paywalled")]
    with db.transaction(conn) as cur:
        register_feeds(cur, listed)
    for format, name in (("yaml", "feeds.yaml"), ("opml", "feeds.opml")):
        exported = write(tmp_path, cli("feeds", "export", "--format", format), name)
        assert load_feed_list(exported) == listed, format
    with db.transaction(conn) as cur:
        cur.execute("TRUNCATE feeds CASCADE")
    cli("feeds", "import", str(tmp_path / "feeds.yaml"))
    with db.transaction(conn) as cur:
        assert feed_specs(cur) == listed
        cur.execute("SELECT enabled, disabled_reason FROM feeds WHERE url LIKE '%wire%'")
        assert cur.fetchone() == (False, "paywalled")


def test_feeds_remove_deletes_the_feed_and_its_entries(cli, conn):
    with db.transaction(conn) as cur:
        register_feeds(cur, SPECS)
        cur.execute("INSERT INTO entries (feed_id, guid, link) VALUES (2, 'g', 'https://city.example.org/a')")
    assert "feed 2 removed: https://city.example.org/sport.xml (1 entries" in cli("feeds", "remove", "2")
    with db.transaction(conn) as cur:
        assert [spec.url for spec in feed_specs(cur)] == [SPECS[0].url, SPECS[2].url]
        cur.execute("SELECT count(*) FROM entries")
        assert cur.fetchone() == (0,)
    assert CliRunner().invoke(app, ["feeds", "remove", "2"]).exit_code == 1


def test_feeds_list_fits_80_columns_and_prints_json_and_csv(cli, conn, monkeypatch):
    long_url = "https://a-very-long-publisher-name.example.org/sections/world/europe/politics/feeds/rss-2.0.xml"
    with db.transaction(conn) as cur:
        register_feeds(cur, [FeedSpec(long_url, "Politics"), *SPECS])
        cur.execute("UPDATE feeds SET last_error = 'HTTP 503 Service Unavailable after three attempts, backing off',"
                    " consecutive_failures = 3 WHERE id = 1")
    monkeypatch.setattr(cli_module, "console", Console(width=80))

    table = cli("feeds", "list")
    rows = json.loads(cli("feeds", "list", "--json"))
    records = list(csv.DictReader(io.StringIO(cli("feeds", "list", "--csv"))))

    assert max(len(line) for line in table.splitlines()) <= 80
    assert "HTTP 503" in table and "Politics" in table
    assert [row["url"] for row in rows] == [long_url] + [spec.url for spec in SPECS]
    assert rows[0]["consecutive_failures"] == 3 and rows[0]["entry_identity"] == "guid"
    assert [record["url"] for record in records] == [row["url"] for row in rows]


def test_db_url_prints_a_url_the_embedded_server_answers_on_after_the_command_ends(postgres_home):
    home = postgres_home()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDPIPE_")} | {"FEEDPIPE_HOME": str(home)}
    result = subprocess.run([str(Path(sys.executable).with_name("feedpipe")), "db", "url"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM feeds")
            assert cur.fetchone() == (0,)
    finally:
        conn.close()
        pgserver.get_server(home / "pg").cleanup()  # join the server left running, then stop it as its last user
