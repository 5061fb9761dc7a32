"""The `feedpipe` command line."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from pipeline import db
from pipeline.config import Settings
from pipeline.run import RunSummary, run_batch

app = typer.Typer(help="Ingest syndicated news into Postgres.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
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
) -> None:
    """Poll the feeds, load new articles into Postgres and archive every response."""
    settings = settings_from(
        database_url=database_url, archive_url=archive_url, s3_endpoint_url=s3_endpoint_url, home=home,
        allow_private_addresses=allow_private_addresses,
    )
    print_summary(run_batch(settings, feeds))


@db_app.command("migrate")
def db_migrate(database_url: DatabaseUrl = None, home: Home = None) -> None:
    """Apply the schema migrations this database lacks."""
    settings = settings_from(database_url=database_url, home=home)
    applied = db.migrate(db.resolve_database_url(settings))
    console.print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
