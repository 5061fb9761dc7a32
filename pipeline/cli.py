"""The `feedpipe` command line."""
from __future__ import annotations

import json
import logging
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from pipeline import db, store
from pipeline import feeds as registry
from pipeline.archive import ArchiveUrlError
from pipeline.config import Settings
from pipeline.extract import UnreadableDocument
from pipeline.normalize import Article
from pipeline.article import article_from_document
from pipeline.run import RunSummary, run_batch
from pipeline.stages import open_pipeline
from pipeline.sample_site import serve_sample

app = typer.Typer(help="Ingest syndicated news into Postgres.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
feeds_app = typer.Typer(help="The feed registry: add, list, import, export, enable, disable.", no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
console = Console()

DatabaseUrl = Annotated[
    Optional[str], typer.Option("--database-url", help="Postgres URL [env FEEDPIPE_DATABASE_URL; default: embedded]")
]
ArchiveUrl = Annotated[
    Optional[str], typer.Option("--archive-url", help="s3://bucket/prefix or file:///path [env FEEDPIPE_ARCHIVE_URL]")
]
S3Endpoint = Annotated[
    Optional[str], typer.Option("--s3-endpoint-url", help="S3-compatible endpoint [env FEEDPIPE_S3_ENDPOINT_URL]")
]
Home = Annotated[Optional[Path], typer.Option("--home", help="State folder [env FEEDPIPE_HOME]")]
AllowPrivate = Annotated[
    Optional[bool],
    typer.Option(
        "--allow-private-addresses/--refuse-private-addresses",
        help="Fetch from loopback and private addresses [env FEEDPIPE_ALLOW_PRIVATE_ADDRESSES]",
        show_default=False,
    ),
]


def fail(error: Exception) -> NoReturn:
    """End the command on an error the user can fix: its message in red, exit status 1."""
    console.print(f"[red]{error}[/red]", soft_wrap=True)
    raise typer.Exit(1) from error


def settings_from(**overrides: object) -> Settings:
    return Settings.from_env().with_overrides(**overrides)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each stage's work.")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s")


def print_summary(summary: RunSummary) -> None:
    console.print(
        f"run {summary.run_id}: {summary.feeds_polled} feeds polled, {summary.feeds_failed} failed, "
        f"{summary.new_entries} new entries, {summary.articles_loaded} articles loaded"
        f" ({summary.articles_failed} failed), {summary.bytes_archived:,} bytes archived",
        soft_wrap=True,
    )


@app.command()
def run(
    feeds: Annotated[Optional[Path], typer.Option("--feeds", help="YAML feed list to register first.")] = None,
    database_url: DatabaseUrl = None,
    archive_url: ArchiveUrl = None,
    s3_endpoint_url: S3Endpoint = None,
    home: Home = None,
    allow_private_addresses: AllowPrivate = None,
    poll_all: Annotated[bool, typer.Option("--all", help="Poll every enabled feed, due or not.")] = False,
) -> None:
    """Poll the feeds that are due, load new articles into Postgres and archive every response."""
    settings = settings_from(
        database_url=database_url, archive_url=archive_url, s3_endpoint_url=s3_endpoint_url, home=home,
        allow_private_addresses=allow_private_addresses,
    )
    try:
        summary = run_batch(settings, feeds, poll_all=poll_all)
    except (registry.FeedListError, ArchiveUrlError) as error:
        fail(error)
    print_summary(summary)


@db_app.command("migrate")
def db_migrate(database_url: DatabaseUrl = None, home: Home = None) -> None:
    """Apply the schema migrations this database lacks."""
    settings = settings_from(database_url=database_url, home=home)
    applied = db.migrate(db.resolve_database_url(settings))
    console.print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))


@feeds_app.command("add")
def feeds_add(
    url: Annotated[str, typer.Argument(help="A feed URL, or a web page that announces its feed.")],
    name: Annotated[Optional[str], typer.Option("--name")] = None,
    publisher: Annotated[Optional[str], typer.Option("--publisher")] = None,
    database_url: DatabaseUrl = None,
    home: Home = None,
    allow_private_addresses: AllowPrivate = None,
) -> None:
    """Register a feed; given a web page, find its feed through <link rel="alternate"> autodiscovery."""
    settings = settings_from(database_url=database_url, home=home, allow_private_addresses=allow_private_addresses)
    with open_pipeline(settings, crawl=True) as pipe:
        try:
            found = registry.discover_feed(pipe.crawler, url)
        except registry.FeedDiscoveryError as error:
            fail(error)
        with db.transaction(pipe.conn) as cur:
            added = registry.register_feeds(cur, [registry.FeedSpec(found.feed_url, name, publisher)])
    if found.announced:
        console.print(f"{url} is a page; it announces {len(found.announced)} feed(s): {', '.join(found.announced)}",
                      soft_wrap=True)
    console.print(f"{'added' if added else 'already registered'}: {found.feed_url}", soft_wrap=True)


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@feeds_app.command("list")
def feeds_list(database_url: DatabaseUrl = None, home: Home = None) -> None:
    """Every feed with its health: last success, last error, failures, next poll, and why it is disabled."""
    feeds = _with_cursor(database_url, home, registry.all_feeds)
    table = Table("id", "url", "name", "status", "last success", "last error", "failures", "next poll",
                  "conditional GET", "entry identity")
    for feed in feeds:
        status = "enabled" if feed.enabled else f"disabled: {feed.disabled_reason}"
        error = f"{_when(feed.last_error_at)} {feed.last_error}" if feed.last_error else "-"
        conditional = "on" if feed.conditional_get else f"off ({feed.conditional_get_note})"
        identity = feed.entry_identity + (f" ({feed.entry_identity_note})" if feed.entry_identity_note else "")
        table.add_row(str(feed.id), feed.url, feed.name or feed.title or "", status, _when(feed.last_success_at),
                      error, f"{feed.consecutive_failures} (score {feed.failure_score:g})",
                      _when(feed.next_poll_at) if feed.enabled else "-", conditional, identity)
    console.print(table)


@feeds_app.command("import")
def feeds_import(
    file: Annotated[Path, typer.Argument(help="An OPML file or a YAML feed list.")],
    database_url: DatabaseUrl = None,
    home: Home = None,
) -> None:
    """Register every feed of an OPML or YAML list (known feeds keep their state)."""
    try:
        specs = registry.load_feed_list(file)
    except registry.FeedListError as error:
        fail(error)
    added = _with_cursor(database_url, home, lambda cur: registry.register_feeds(cur, specs))
    console.print(f"{len(specs)} feed(s) in {file}: {added} new, {len(specs) - added} already registered")


@feeds_app.command("export")
def feeds_export(
    format: Annotated[str, typer.Option("--format", help="opml or yaml")] = "opml",
    database_url: DatabaseUrl = None,
    home: Home = None,
) -> None:
    """Print the registry as OPML or as a YAML feed list."""
    writers = {"opml": registry.export_opml, "yaml": registry.export_yaml}
    if format not in writers:
        raise typer.BadParameter("use opml or yaml", param_hint="--format")
    specs = _with_cursor(database_url, home, registry.feed_specs)
    typer.echo(writers[format](specs), nl=False)


@feeds_app.command("enable")
def feeds_enable(feed_id: int, database_url: DatabaseUrl = None, home: Home = None) -> None:
    """Enable a feed again: clears the disabled reason and failure history and makes it due now."""
    _switch(feed_id, True, None, database_url, home)
    console.print(f"feed {feed_id} enabled")


@feeds_app.command("disable")
def feeds_disable(
    feed_id: int,
    reason: Annotated[Optional[str], typer.Option("--reason")] = None,
    database_url: DatabaseUrl = None,
    home: Home = None,
) -> None:
    """Stop polling a feed, recording why."""
    _switch(feed_id, False, reason, database_url, home)
    console.print(f"feed {feed_id} disabled")


def _switch(feed_id: int, enabled: bool, reason: str | None, database_url: str | None, home: Path | None) -> None:
    try:
        _with_cursor(database_url, home, lambda cur: registry.set_enabled(cur, feed_id, enabled, reason))
    except LookupError as error:
        fail(error)


def _with_cursor(database_url: str | None, home: Path | None, work):
    """Run `work(cursor)` in one transaction on the migrated database."""
    settings = settings_from(database_url=database_url, home=home)
    url = db.resolve_database_url(settings)
    db.migrate(url)
    conn = db.connect(url)
    try:
        with db.transaction(conn) as cur:
            return work(cur)
    finally:
        conn.close()


@app.command()
def demo(
    database_url: DatabaseUrl = None,
    archive_url: ArchiveUrl = None,
    s3_endpoint_url: S3Endpoint = None,
    home: Home = None,
) -> None:
    """Serve the bundled sample feeds on 127.0.0.1, run a batch over them, and show what was loaded."""
    settings = settings_from(
        database_url=database_url, archive_url=archive_url, s3_endpoint_url=s3_endpoint_url, home=home,
        allow_private_addresses=True,
    )
    with serve_sample() as site:
        feeds_file = settings.home / "demo-feeds.yaml"
        settings.home.mkdir(parents=True, exist_ok=True)
        site.write_feeds_yaml(feeds_file)
        console.print(f"serving {len(site.feeds)} sample feeds at {site.base_url}", soft_wrap=True)
        first = run_batch(settings, feeds_file)
        print_summary(first)
        print_articles(settings, first.run_id)
        console.print("the same batch again, every feed polled:")
        print_summary(run_batch(settings, feeds_file, poll_all=True))
    console.print(f"data: {settings.database_url or settings.home / 'pg'}; raw archive: {settings.effective_archive_url}",
                  soft_wrap=True)


def print_articles(settings: Settings, run_id: int) -> None:
    with open_pipeline(settings) as pipe, pipe.conn.cursor() as cur:
        rows = store.article_overview(cur, run_id)
    table = Table(title="Articles loaded", show_lines=False)
    for column in ("story", "publisher", "headline", "words", "dateline", "wire"):
        table.add_column(column, overflow="fold")
    for row in rows:
        wire = row.agency or ("syndicated" if row.is_syndicated else "")
        table.add_row(str(row.story_id), row.publisher or "", row.title or "", str(row.words or 0),
                      row.dateline or "", wire)
    console.print(table)


class OutputFormat(str, Enum):
    json = "json"
    text = "text"


@app.command()
def extract(
    paths: Annotated[list[str], typer.Argument(help="Saved HTML pages or plain-text articles, gzipped or not; - reads stdin.")],
    url: Annotated[Optional[str], typer.Option("--url", help="The page's address (one file only): publisher rules, canonical URL.")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", help="json: one object per file; text: for reading.")] = OutputFormat.json,
) -> None:
    """Extract, clean and normalize documents and print each result, as the batch would store it.

    One file prints one JSON object; several print one JSON object per line, each with its `path`."""
    if url and len(paths) > 1:
        raise typer.BadParameter("--url applies to one file; give one path with it", param_hint="--url")
    failures = 0
    for path in paths:
        try:
            article = article_from_document(_read_input(path), url)
        except (OSError, UnreadableDocument) as error:
            failures += 1
            _report_failure(path, error, several=len(paths) > 1, output_format=output_format)
            continue
        _print_article(path, article, several=len(paths) > 1, output_format=output_format)
    if failures:
        raise typer.Exit(1)


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _report_failure(path: str, error: Exception, *, several: bool, output_format: OutputFormat) -> None:
    message = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    if several and output_format is OutputFormat.json:
        print(json.dumps({"path": path, "error": message}, ensure_ascii=False))
    else:
        print(f"feedpipe extract: {path}: {message}", file=sys.stderr)


def _print_article(path: str, article: Article, *, several: bool, output_format: OutputFormat) -> None:
    if output_format is OutputFormat.json:
        if several:
            print(json.dumps({"path": path, **article.as_json()}, ensure_ascii=False))
        else:
            print(json.dumps(article.as_json(), ensure_ascii=False, indent=2))
        return
    doc = article.as_json()
    syndication = doc["syndication"]
    if several:
        console.rule(path)
    console.print(f"[bold]{doc['title'] or '(no title)'}[/bold]", soft_wrap=True)
    for label in ("dateline", "authors", "published_at", "language", "canonical_url"):
        if doc[label]:
            value = ", ".join(doc[label]) if isinstance(doc[label], list) else doc[label]
            console.print(f"{label}: {value}", soft_wrap=True, markup=False)
    if syndication["syndicated"] or syndication["agency"]:
        console.print(f"syndicated: {syndication['syndicated']}  agency: {syndication['agency']}"
                      f"  notice: {syndication['notice']}", soft_wrap=True, markup=False)
    console.print()
    for paragraph in doc["paragraphs"]:
        console.print(paragraph, soft_wrap=True, markup=False)
        console.print()
    if doc["removed"]:
        table = Table("rule", "removed text", title=f"{len(doc['removed'])} removed")
        for removal in doc["removed"]:
            table.add_row(removal["rule"], removal["text"])
        console.print(table)
