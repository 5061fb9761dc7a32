"""The child processes feedpipe starts (the crawler, the process workers) fork from one fork server.

Started with "spawn", every child imported feedpipe anew: about 1.6 s of CPU each, because a spawned child also
re-runs the calling program, and the `feedpipe` script imports the whole command line. On a 2,000-article batch
(a crawler and two workers), feedpipe's processes spent 88 s of CPU spawned and 70 s forked, side by side. A fork
server is a fresh, single-threaded process that imports this code once; each child is forked from it, so it
starts at once, holds none of the caller's threads or connections (which a plain fork would copy), and shares
the imported code's memory.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from multiprocessing.context import BaseContext

# What the fork server imports before forking: `__main__` (multiprocessing's own default; the `feedpipe` script
# imports only pipeline.launch); the stages, and through them the crawler and the processing code children run;
# the language model and datasketch, which process workers need and the command line's own process does not load.
# Not the command line (typer, rich), which no child uses.
PRELOADED_MODULES = ["__main__", "pipeline.stages", "pipeline.language", "datasketch"]


def child_process_context() -> BaseContext:
    """The multiprocessing context every feedpipe child process is started from."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED_MODULES)
    return context


def start_fork_server() -> None:
    """Start the fork server now, without waiting for it: it imports the modules above (about 2 s of one core)
    while the caller goes on, and the first child forked waits only for what is left of that."""
    child_process_context()  # sets the modules the server preloads
    multiprocessing.forkserver.ensure_running()
