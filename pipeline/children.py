"""The child processes feedpipe starts: the process workers fork from one fork server; the crawler is spawned.

Started with "spawn", every process worker imported feedpipe anew: about 1.6 s of CPU each, and the language
model and datasketch were read once per worker. A fork server is a fresh, single-threaded process that imports
this code once; each worker is forked from it, so it starts at once, holds none of the caller's threads or
connections (which a plain fork would copy), and shares the imported code's memory.

The crawler needs none of that: it imports its own module (0.3 s), where the fork server first spends 2-2.5 s on
the processing code, the language model and datasketch. Spawned, the crawler polls while they load, about 1.7 s
sooner (timeline of 1,000-article runs, bench/README.md); forked, it waited for them with a core idle.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
from multiprocessing.context import BaseContext

# What the fork server imports before forking: `__main__` (multiprocessing's own default; the `feedpipe` script
# imports only pipeline.launch), and what the process workers need (pipeline.worker_preload), which the command
# line's own process does not load. Not the command line (typer, rich), which no child uses.
PRELOADED_MODULES = ["__main__", "pipeline.worker_preload"]


def worker_process_context() -> BaseContext:
    """The multiprocessing context the process workers start from."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED_MODULES)
    return context


def start_fork_server() -> None:
    """Start the fork server now, without waiting for it: it imports the modules above (about 2 s of one core)
    while the caller goes on, and the first child forked waits only for what is left of that."""
    worker_process_context()  # sets the modules the server preloads
    multiprocessing.forkserver.ensure_running()


def crawler_process_context() -> BaseContext:
    """The multiprocessing context the crawler process starts from (above: why not the fork server's)."""
    return multiprocessing.get_context("spawn")
