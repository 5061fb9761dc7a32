"""The `feedpipe` script starts the fork server first thing for the commands that start process workers, so its
imports run beside the command line's instead of after them."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.launch import starts_process_workers

# Runs the script's entry point with the given arguments and reports, for each fork server start, whether the
# command line had been imported by then; and whether the command ran (its --help exits 0).
PROBE = """
import json, sys
import multiprocessing.forkserver as forkserver
starts = []
real_start = forkserver.ensure_running
def recording_start():
    starts.append("pipeline.cli" in sys.modules)
    real_start()
forkserver.ensure_running = recording_start
sys.argv = ["feedpipe", *json.loads(sys.argv[1])]
from pipeline.launch import main
try:
    main()
except SystemExit as leaving:
    status = leaving.code
print(json.dumps({"starts": starts, "status": status}))
"""


def launch(*arguments: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(arguments)], capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("arguments", [["run", "--help"], ["--verbose", "process", "--help"], ["reprocess", "--help"]])
def test_a_command_that_starts_process_workers_starts_the_fork_server_before_importing_the_command_line(arguments):
    assert launch(*arguments) == {"starts": [False], "status": 0}


@pytest.mark.parametrize("arguments", [
    ["extract", "--help"], ["db", "migrate", "--help"], ["--version"], ["poll", "--help"], ["fetch", "--help"],
])
def test_other_commands_start_no_fork_server(arguments):
    assert launch(*arguments) == {"starts": [], "status": 0}


@pytest.mark.parametrize("arguments, starts_workers", [
    (["run", "--feeds", "feeds.yaml"], True),
    (["process", "--workers", "2"], True),
    (["reprocess", "--since", "2026-01-01"], True),
    (["demo"], True),
    (["-v", "run"], True),
    (["poll"], False),
    (["fetch"], False),
    (["feeds", "add", "https://example.com/"], False),
    (["extract", "page.html"], False),
    (["feeds", "list"], False),
    (["db", "url"], False),
    (["--help"], False),
    ([], False),
])
def test_which_commands_start_process_workers(arguments, starts_workers):
    assert starts_process_workers(arguments) is starts_workers
