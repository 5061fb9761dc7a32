"""The `feedpipe` command as an operator meets it: one-line errors with telling exit statuses, help that names the
variables, progress on a terminal and clean output when piped."""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_batch import city_post, city_post_documents, feed_list  # noqa: F401 (fixtures)

FEEDPIPE = str(Path(sys.executable).with_name("feedpipe"))


def feedpipe(*args: str, env: dict[str, str], **extra) -> subprocess.CompletedProcess:
    return subprocess.run([FEEDPIPE, *args], env=env, capture_output=True, text=True, timeout=120, **extra)


def clean_env(**variables: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FEEDPIPE_")} | variables


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("variables, message", [
    ({"FEEDPIPE_PER_DOMAIN_DELAY": "1s"}, "FEEDPIPE_PER_DOMAIN_DELAY=1s: expected a number of seconds, 0 or more"),
    ({"FEEDPIPE_ALLOW_PRIVATE_ADDRESSES": "enable"},
     "FEEDPIPE_ALLOW_PRIVATE_ADDRESSES=enable: expected true or false (1/0, yes/no, on/off)"),
    ({"FEEDPIPE_IGNORE_ROBOTS": "sometimes"}, "FEEDPIPE_IGNORE_ROBOTS='sometimes': expected true or false"),
    ({"FEEDPIPE_FETCH_CONCURRENCY": "0"}, "FEEDPIPE_FETCH_CONCURRENCY=0: expected a whole number of requests, 1 or more"),
    ({"FEEDPIPE_DATABASE_URL": "mysql://news@db/news"},
     "FEEDPIPE_DATABASE_URL=mysql://news@db/news: expected a Postgres URL"),
    ({"FEEDPIPE_DATABASE_URL": "postgresql://news:secret@127.0.0.1:9/news"},
     "cannot connect to the database postgresql://news:***@127.0.0.1:9/news (FEEDPIPE_DATABASE_URL or --database-url)"),
    ({"FEEDPIPE_DATABASE_URL": "postgresql://news@127.0.0.1:port/news"},
     'invalid integer value "port" for connection option "port"'),
    ({"FEEDPIPE_ARCHIVE_URL": "ftp://archive.example/raw"},
     "FEEDPIPE_ARCHIVE_URL=ftp://archive.example/raw: expected s3://bucket/prefix or file:///path"),
])
def test_a_bad_setting_is_one_line_naming_the_variable_and_exit_status_2(variables, message):
    result = feedpipe("run", env=clean_env(FEEDPIPE_HOME="/nonexistent-home-never-made", **variables))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_an_unwritable_home_is_one_line_and_exit_status_2(a_file: Path):
    result = feedpipe("run", env=clean_env(FEEDPIPE_HOME=str(a_file / "home")))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"feedpipe: FEEDPIPE_HOME (or --home) {a_file / 'home'}: expected a folder "
                                     "feedpipe can write to (Not a directory)")


def test_a_bad_flag_value_names_the_flag():
    result = feedpipe("run", "--database-url", "sqlite:///news.db", env=clean_env(FEEDPIPE_HOME="/nonexistent"))
    assert result.returncode == 2
    assert result.stderr.startswith("feedpipe: --database-url=sqlite:///news.db: expected a Postgres URL")


def test_help_names_the_environment_variables_and_version_is_printed():
    help_text = feedpipe("run", "--help", env=clean_env(COLUMNS="80")).stdout
    for variable in ("FEEDPIPE_DATABASE_URL", "FEEDPIPE_ARCHIVE_URL", "FEEDPIPE_S3_ENDPOINT_URL", "FEEDPIPE_HOME",
                     "FEEDPIPE_ALLOW_PRIVATE_ADDRESSES"):
        assert variable in help_text
    assert max(len(line) for line in help_text.splitlines()) <= 80
    assert feedpipe("--version", env=clean_env()).stdout.strip() == "feedpipe 0.1.0"


def test_piped_run_prints_one_summary_line_or_json_and_accepts_verbose_after_the_command(city_post, tmp_path,
                                                                                        postgres_home):
    env = clean_env(FEEDPIPE_HOME=str(postgres_home()), FEEDPIPE_ALLOW_PRIVATE_ADDRESSES="1")
    feeds = str(feed_list(tmp_path, city_post.url("/city/rss.xml")))

    piped = feedpipe("run", "--feeds", feeds, env=env)
    as_json = feedpipe("run", "--all", "--json", "-v", env=env)

    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout.splitlines() == [piped.stdout.strip()] and "2 articles loaded" in piped.stdout
    summary = json.loads(as_json.stdout)
    assert summary["feeds_polled"] == 1 and summary["articles_loaded"] == 0 and summary["run_id"] == 2
    log_lines = as_json.stderr.strip().splitlines()
    assert log_lines and all(line.startswith("20") and " INFO pipeline." in line for line in log_lines)


def test_a_run_on_a_terminal_shows_progress_bars_per_stage(city_post, tmp_path, postgres_home):
    env = clean_env(FEEDPIPE_HOME=str(postgres_home()), FEEDPIPE_ALLOW_PRIVATE_ADDRESSES="1", TERM="xterm",
                    COLUMNS="100")
    controller, terminal = pty.openpty()
    process = subprocess.Popen([FEEDPIPE, "run", "--feeds", str(feed_list(tmp_path, city_post.url("/city/rss.xml")))],
                               env=env, stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    screen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        screen += chunk
    assert process.wait(timeout=120) == 0
    text = screen.decode("utf-8", "replace")
    assert "poll" in text and "1/1" in text
    assert "fetch" in text and "process" in text and "2 articles loaded" in text


def test_the_command_line_does_not_load_what_only_process_workers_need():
    """datasketch (which imports scipy) and the language model (pipeline.language reads it) load in the fork
    server, not in every command."""
    loaded = subprocess.run(
        [sys.executable, "-c",
         "import sys, pipeline.cli; print(sorted({'datasketch', 'scipy', 'pipeline.language'} & set(sys.modules)))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert loaded == "[]"
