"""The `feedpipe` script: for a command that starts process workers, the fork server starts first thing.

The command line's imports take about 1 s of one core, and the fork server's about 2 s (the processing code,
the language model and datasketch). Started one after the other, they left the second core idle; started
together, a batch's first article is loaded about 1 s sooner. The crawler does not wait for the fork server
(it is spawned: pipeline.children), so the commands that only poll or fetch start none."""
from __future__ import annotations

import sys

COMMANDS_WITH_PROCESS_WORKERS = frozenset({("run",), ("process",), ("reprocess",), ("demo",)})


def starts_process_workers(arguments: list[str]) -> bool:
    """Whether the command in `arguments` (the script's, without its name) starts process workers."""
    words = tuple(argument for argument in arguments if not argument.startswith("-"))
    return words[:1] in COMMANDS_WITH_PROCESS_WORKERS


def main() -> None:
    if starts_process_workers(sys.argv[1:]):
        from pipeline.children import start_fork_server

        start_fork_server()
    from pipeline.cli import main as command_line

    command_line()
