"""The `feedpipe` script: for a command that starts child processes, the fork server starts first thing.

The command line's imports take about 1 s of one core, and the fork server's about 2 s (the same modules, the
language model and datasketch). Started one after the other, they left the second core idle and the batch's
crawler waiting 3 s before its first poll; started together, the first poll comes about 1 s sooner."""
from __future__ import annotations

import sys

COMMANDS_WITH_CHILD_PROCESSES = frozenset({
    ("run",), ("poll",), ("fetch",), ("process",), ("reprocess",), ("demo",), ("feeds", "add"),
})


def starts_child_processes(arguments: list[str]) -> bool:
    """Whether the command in `arguments` (the script's, without its name) forks a crawler or process workers."""
    words = tuple(argument for argument in arguments if not argument.startswith("-"))
    return words[:1] in COMMANDS_WITH_CHILD_PROCESSES or words[:2] in COMMANDS_WITH_CHILD_PROCESSES


def main() -> None:
    if starts_child_processes(sys.argv[1:]):
        from pipeline.children import start_fork_server

        start_fork_server()
    from pipeline.cli import main as command_line

    command_line()
