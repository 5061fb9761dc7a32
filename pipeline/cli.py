"""The `feedpipe` command line.

Exit statuses: 0 done; 1 the run or command failed (storage or database fault, every feed failed, an unusable feed
list); 2 a setting feedpipe cannot use (named in one line); 130/143 interrupted by SIGINT/SIGTERM."""
from __future__ import annotations

import csv
import json
import logging
import socket
from dataclasses import asdict
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from enum import Enum
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Callable, Iterator, NoReturn, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from pipeline import db, store
from pipeline import feeds as registry
from pipeline.archive import ArchiveError
from pipeline.config import ConfigurationError, Settings
from pipeline.extract import UnreadableDocument
from pipeline.normalize import Article
from pipeline.article import article_from_document
from pipeline import stages
from pipeline.run import RunSummary, run_batch, run_steps
from pipeline.stages import open_pipeline
from pipeline.sample_site import serve_sample
from pipeline.signals import Interrupted, raise_on_stop_signals

app = typer.Typer(help="Ingest syndicated news into Postgres.", no_args_is_help=True, add_completion=False,
                  rich_markup_mode=None)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
feeds_app = typer.Typer(help="The feed registry: add, list, import, export, enable, disable, remove.",
                        no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
console = Console()
errors = Console(stderr=True)
EXIT_FAILED, EXIT_CONFIGURATION = 1, 2
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _verbose(enabled: bool) -> None:
    """-v, before or after the command: feedpipe's own stages log their work (other libraries stay at WARNING)."""
    if enabled:
        logging.getLogger("pipeline").setLevel(logging.INFO)


# Help texts name variables in parentheses: rich reads [square brackets] as markup and would swallow them.
DatabaseUrl = Annotated[
    Optional[str], typer.Option("--database-url", help="Postgres URL (env FEEDPIPE_DATABASE_URL; default: embedded)")
]
ArchiveUrl = Annotated[
    Optional[str], typer.Option("--archive-url", help="s3://bucket/prefix or file:///path (env FEEDPIPE_ARCHIVE_URL)")
]
S3Endpoint = Annotated[
    Optional[str], typer.Option("--s3-endpoint-url", help="S3-compatible endpoint (env FEEDPIPE_S3_ENDPOINT_URL)")
]
Home = Annotated[Optional[Path], typer.Option("--home", help="State folder (env FEEDPIPE_HOME)")]
AllowPrivate = Annotated[
    Optional[bool],
    typer.Option(
        "--allow-private-addresses/--refuse-private-addresses",
        help="Fetch from loopback and private addresses (env FEEDPIPE_ALLOW_PRIVATE_ADDRESSES)",
        show_default=False,
    ),
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log each stage's work.", callback=_verbose)]
AsJson = Annotated[bool, typer.Option("--json", help="Print a JSON object instead of text.")]


def main() -> None:
    """The `feedpipe` script: errors an operator can act on end in one line and an exit status that says which."""
    raise_on_stop_signals()
    try:
        app()
    except ConfigurationError as error:
        _exit(str(error), EXIT_CONFIGURATION)
    except (ArchiveError, *db.DATABASE_FAULTS) as error:
        _exit(one_line(error), EXIT_FAILED)
    except Interrupted as interrupt:
        _exit(str(interrupt), interrupt.exit_status)


def one_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _exit(message: str, status: int) -> NoReturn:
    errors.print(f"feedpipe: {message}", style="red", soft_wrap=True, markup=False, highlight=False)
    sys.exit(status)


def fail(error: Exception) -> NoReturn:
    """End the command on an error the user can fix: its message in red on stderr, exit status 1."""
    errors.print(str(error), style="red", soft_wrap=True, markup=False, highlight=False)
    raise typer.Exit(EXIT_FAILED) from error


def settings_from(**overrides: object) -> Settings:
    return Settings.from_env().with_overrides(**overrides)


def _show_version(show: bool) -> None:
    if show:
        typer.echo(f"feedpipe {version('feedpipe')}")
        raise typer.Exit()


@app.callback()
def main_options(
    verbose: Verbose = False,
    show_version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                               callback=_show_version)] = False,
) -> None:
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S%z")
    _verbose(verbose)


def print_summary(summary: RunSummary, as_json: bool = False) -> None:
    if as_json:
        typer.echo(json.dumps(asdict(summary)))
        return
    joined = f", {summary.entries_joined_known_article} joined an article already stored" \
        if summary.entries_joined_known_article else ""
    console.print(
        f"run {summary.run_id}: {summary.feeds_polled} feeds polled, {summary.feeds_failed} failed, "
        f"{summary.new_entries} new entries, {summary.articles_loaded} articles loaded"
        f" ({summary.articles_failed} failed{joined}), {summary.bytes_archived:,} bytes archived",
        soft_wrap=True, markup=False, highlight=False,
    )
    for url, error in summary.failed_feeds:
        console.print(f"  feed failed: {url}: {error}", soft_wrap=True, markup=False, highlight=False)
    for link, error in summary.failed_entries:
        console.print(f"  entry failed: {link}: {error}", soft_wrap=True, markup=False, highlight=False)


class RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "", style="progress.data.speed")


@contextmanager
def progress_bars(shown: bool) -> Iterator[Callable[[str, int, int | None], None] | None]:
    """On a terminal, a bar per stage with counts and rates; elsewhere nothing (the summary says it all)."""
    if not shown:
        yield None
        return
    with Progress(TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                  TimeElapsedColumn(), console=errors, transient=False) as progress:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        yield on_progress


@app.command()
def run(
    feeds: Annotated[Optional[Path], typer.Option("--feeds", help="YAML feed list to register first.")] = None,
    database_url: DatabaseUrl = None,
    archive_url: ArchiveUrl = None,
    s3_endpoint_url: S3Endpoint = None,
    home: Home = None,
    allow_private_addresses: AllowPrivate = None,
    poll_all: Annotated[bool, typer.Option("--all", help="Poll every enabled feed, due or not.")] = False,
    as_json: AsJson = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
    verbose: Verbose = False,
) -> None:
    """Poll the feeds that are due, load new articles into Postgres and archive every response.

    Exits 1 when storage or the database fails, or when every feed polled failed."""
    settings = settings_from(
        database_url=database_url, archive_url=archive_url, s3_endpoint_url=s3_endpoint_url, home=home,
        allow_private_addresses=allow_private_addresses,
    )
    with progress_bars(errors.is_terminal and not quiet and not as_json) as on_progress:
        try:
            summary = run_batch(settings, feeds, poll_all=poll_all, on_progress=on_progress)
        except registry.FeedListError as error:
            fail(error)
    if not quiet:
        print_summary(summary, as_json)
    if summary.feeds_polled and summary.feeds_failed == summary.feeds_polled:
        raise typer.Exit(EXIT_FAILED)


Workers = Annotated[
    Optional[int], typer.Option("--workers", min=1, help="Processes that process articles (env FEEDPIPE_PROCESS_WORKERS; default: one per core)")
]


def _run_stages(steps, **overrides) -> RunSummary:
    return run_steps(settings_from(**overrides), steps)


@app.command("poll")
def poll_command(
    poll_all: Annotated[bool, typer.Option("--all", help="Poll every enabled feed, due or not.")] = False,
    database_url: DatabaseUrl = None, archive_url: ArchiveUrl = None, s3_endpoint_url: S3Endpoint = None,
    home: Home = None, allow_private_addresses: AllowPrivate = None,
) -> None:
    """Stage 1 alone: poll the feeds that are due and record their new entries."""
    print_summary(_run_stages([partial(stages.poll, include_not_due=poll_all)], database_url=database_url,
                              archive_url=archive_url, s3_endpoint_url=s3_endpoint_url, home=home,
                              allow_private_addresses=allow_private_addresses))


@app.command("fetch")
def fetch_command(
    database_url: DatabaseUrl = None, archive_url: ArchiveUrl = None, s3_endpoint_url: S3Endpoint = None,
    home: Home = None, allow_private_addresses: AllowPrivate = None,
) -> None:
    """Stage 2 alone: fetch the pending entries' pages and archive them (entries become 'fetched')."""
    print_summary(_run_stages([stages.fetch], database_url=database_url, archive_url=archive_url,
                              s3_endpoint_url=s3_endpoint_url, home=home,
                              allow_private_addresses=allow_private_addresses))


@app.command("process")
def process_command(
    workers: Workers = None, database_url: DatabaseUrl = None, archive_url: ArchiveUrl = None,
    s3_endpoint_url: S3Endpoint = None, home: Home = None,
) -> None:
    """Stage 3 alone: process the fetched entries from the archive into articles and stories."""
    print_summary(_run_stages([partial(stages.process, workers=workers)], database_url=database_url,
                              archive_url=archive_url, s3_endpoint_url=s3_endpoint_url, home=home))


@app.command("reprocess")
def reprocess_command(
    since: Annotated[Optional[datetime], typer.Option("--since", help="Pages fetched at or after this time (UTC).")] = None,
    until: Annotated[Optional[datetime], typer.Option("--until", help="Pages fetched before this time (UTC).")] = None,
    feed: Annotated[Optional[str], typer.Option("--feed", help="Only this feed's entries (its URL).")] = None,
    publisher: Annotated[Optional[str], typer.Option("--publisher", help="Only this publisher's (domain or feed publisher).")] = None,
    workers: Workers = None, database_url: DatabaseUrl = None, archive_url: ArchiveUrl = None,
    s3_endpoint_url: S3Endpoint = None, home: Home = None,
) -> None:
    """Replay processing from the archive with today's rules, without touching the network; updates rows in place."""
    summary = _run_stages(
        [partial(stages.reprocess, since=_utc(since), until=_utc(until), feed=feed, publisher=publisher,
                 workers=workers)],
        database_url=database_url, archive_url=archive_url, s3_endpoint_url=s3_endpoint_url, home=home,
    )
    details = summary.details
    console.print(
        f"replay {summary.run_id}: {summary.articles_processed} articles replayed, {details.get('articles_changed', 0)}"
        f" changed, {summary.articles_failed} failed; stories: {details.get('stories_gained_copy', 0)} gained a copy,"
        f" {details.get('stories_lost_copy', 0)} lost one, {details.get('stories_merged', 0)} merged",
        soft_wrap=True,
    )


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment and moment.tzinfo is None else moment


@db_app.command("migrate")
def db_migrate(database_url: DatabaseUrl = None, home: Home = None, verbose: Verbose = False) -> None:
    """Apply the schema migrations this database lacks."""
    settings = settings_from(database_url=database_url, home=home)
    applied = db.migrate(db.resolve_database_url(settings))
    console.print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))


@db_app.command("url")
def db_url(database_url: DatabaseUrl = None, home: Home = None) -> None:
    """Print the database URL, for psql or any Postgres client; starts the embedded server if needed and leaves
    it running (it stops when the next feedpipe command that uses it ends)."""
    settings = settings_from(database_url=database_url, home=home)
    url = settings.database_url or db.embedded_database_url(settings.home, keep_running=True)
    db.migrate(url)
    typer.echo(url)


@feeds_app.command("add")
def feeds_add(
    url: Annotated[str, typer.Argument(help="A feed URL, or a web page that announces its feed.")],
    name: Annotated[Optional[str], typer.Option("--name")] = None,
    publisher: Annotated[Optional[str], typer.Option("--publisher")] = None,
    category: Annotated[Optional[str], typer.Option("--category")] = None,
    database_url: DatabaseUrl = None,
    home: Home = None,
    allow_private_addresses: AllowPrivate = None,
    verbose: Verbose = False,
) -> None:
    """Register a feed; given a web page, find its feed through <link rel="alternate"> autodiscovery."""
    if problem := registry.feed_url_problem(url):
        raise typer.BadParameter(problem, param_hint="URL")
    settings = settings_from(database_url=database_url, home=home, allow_private_addresses=allow_private_addresses)
    with open_pipeline(settings, crawl=True) as pipe:
        try:
            found = registry.discover_feed(pipe.crawler, url)
        except registry.FeedDiscoveryError as error:
            fail(error)
        with db.transaction(pipe.conn) as cur:
            added = registry.register_feeds(cur, [registry.FeedSpec(found.feed_url, name, publisher, category)])
    if found.announced:
        console.print(f"{url} is a page; it announces {len(found.announced)} feed(s): {', '.join(found.announced)}",
                      soft_wrap=True)
    console.print(f"{'added' if added else 'already registered'}: {found.feed_url}", soft_wrap=True)


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def _plain(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value


@feeds_app.command("list")
def feeds_list(
    database_url: DatabaseUrl = None,
    home: Home = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array of every feed with every column.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV with a header row and every column.")] = False,
    verbose: Verbose = False,
) -> None:
    """Every feed with its health: status, last success, failures, next poll, last error; --json/--csv for all
    columns (conditional GET, entry identity, validators...)."""
    feeds = _with_cursor(database_url, home, registry.all_feeds)
    rows = [{column: _plain(getattr(feed, column)) for column in registry.FEED_COLUMNS} for feed in feeds]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=registry.FEED_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    console.print(feed_health_table(feeds))


def feed_health_table(feeds: list[registry.Feed]) -> Table:
    """Fits 80 columns: long URLs and errors fold onto further lines rather than widening the table."""
    table = Table(box=None, pad_edge=False, show_edge=False)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("feed", overflow="fold", ratio=3)
    table.add_column("status", overflow="fold", ratio=2)
    table.add_column("last ok", no_wrap=True)
    table.add_column("fails", justify="right", no_wrap=True)
    table.add_column("next poll", no_wrap=True)
    for feed in feeds:
        title = feed.name or feed.title
        status = "enabled" if feed.enabled else f"disabled: {feed.disabled_reason}"
        if feed.last_error:
            status += f"\nlast error: {feed.last_error}"
        if not feed.conditional_get:
            status += "\nconditional GET off"
        table.add_row(str(feed.id), f"{title}\n{feed.url}" if title else feed.url, status,
                      _when(feed.last_success_at), str(feed.consecutive_failures),
                      _when(feed.next_poll_at) if feed.enabled else "-")
    return table


@feeds_app.command("import")
def feeds_import(
    file: Annotated[Path, typer.Argument(help="An OPML file or a YAML feed list.")],
    database_url: DatabaseUrl = None,
    home: Home = None,
    verbose: Verbose = False,
) -> None:
    """Register every feed of an OPML or YAML list (known feeds keep their state). The list is checked whole
    first: any problem, named with its line, and nothing is registered."""
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
    """Print the registry as OPML or as a YAML feed list that `feeds import` reads back, disabled state included."""
    writers = {"opml": registry.export_opml, "yaml": registry.export_yaml}
    if format not in writers:
        raise typer.BadParameter("use opml or yaml", param_hint="--format")
    specs = _with_cursor(database_url, home, registry.feed_specs)
    for spec in specs:
        if problem := registry.feed_url_problem(spec.url):
            errors.print(f"left out a feed that cannot be imported back: {problem} (feedpipe feeds remove it)",
                         soft_wrap=True, markup=False, highlight=False)
    typer.echo(writers[format]([spec for spec in specs if not registry.feed_url_problem(spec.url)]), nl=False)


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


@feeds_app.command("remove")
def feeds_remove(feed_id: int, database_url: DatabaseUrl = None, home: Home = None) -> None:
    """Delete a feed with its entries and poll log; the articles it loaded stay."""
    try:
        url, entries = _with_cursor(database_url, home, lambda cur: registry.remove_feed(cur, feed_id))
    except LookupError as error:
        fail(error)
    console.print(f"feed {feed_id} removed: {url} ({entries} entries; its articles stay)", soft_wrap=True,
                  markup=False, highlight=False)


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
    verbose: Verbose = False,
) -> None:
    """Serve the bundled sample feeds on 127.0.0.1, run a batch over them, and show what was loaded.

    Run again in the same home, it serves the sample on the same port, so it finds the same feeds and articles."""
    settings = settings_from(
        database_url=database_url, archive_url=archive_url, s3_endpoint_url=s3_endpoint_url, home=home,
        allow_private_addresses=True,
    )
    settings.home.mkdir(parents=True, exist_ok=True)
    port_file = settings.home / "demo-port"
    with serve_sample(port=_sample_port(port_file)) as site:
        port_file.write_text(site.base_url.rsplit(":", 1)[1])
        feeds_file = settings.home / "demo-feeds.yaml"
        site.write_feeds_yaml(feeds_file)
        console.print(f"serving {len(site.feeds)} sample feeds at {site.base_url}", soft_wrap=True)
        first = run_batch(settings, feeds_file)
        print_summary(first)
        print_articles(settings, first.run_id)
        console.print("the same batch again, every feed polled:")
        print_summary(run_batch(settings, feeds_file, poll_all=True))
    console.print(f"data: {settings.database_url or settings.home / 'pg'}; raw archive: {settings.effective_archive_url}",
                  soft_wrap=True)


def _sample_port(port_file: Path) -> int:
    """The port an earlier demo in this home served the sample on, when it is free; else 0 (a new port)."""
    if not port_file.is_file():
        return 0
    port = int(port_file.read_text())
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            errors.print(f"port {port} of the earlier demo is taken ({error.strerror}): the sample gets a new port, "
                         "so its feeds and articles are registered again", soft_wrap=True, markup=False)
            return 0
    return port


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
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    verbose: Verbose = False,
) -> None:
    """Extract, clean and normalize documents and print each result, as the batch would store it.

    One file prints one JSON object; several print one JSON object per line, each with its `path`."""
    if url and len(paths) > 1:
        raise typer.BadParameter("--url applies to one file; give one path with it", param_hint="--url")
    if as_json:
        output_format = OutputFormat.json
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
