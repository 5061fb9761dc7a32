"""Lockstep A/B: the CPU time of processing a page (extract → clean → normalize) in two or more checkouts of
feedpipe, and of raw `trafilatura.extract`, page by page in turn.

On a shared or virtual 2-core machine the CPU's speed swings by 15% from one minute to the next, so runs of one
version after another cannot tell a 5% change. Here each side runs in a process of its own (its checkout first on
PYTHONPATH) and they take turns on the same page, one page at a time, so every swing lands on all of them alike.
The pages are the end-to-end benchmark's (`loopback_news.build_site`), built once at run time.

    .venv/bin/python bench/ab_processing.py /path/to/checkout-a /path/to/checkout-b [--trafilatura] [--pages 600]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import loopback_news

TRAFILATURA = "trafilatura"


def serve(side: str, folder: Path) -> None:
    """In a side's process: announce readiness, then time one page per index read from stdin."""
    import trafilatura

    from pipeline.article import NoArticleText, article_from_response
    from pipeline.extract import UnreadableDocument
    from pipeline.clean import PUBLISHER_RULES_FILE, load_rules

    pages = [(path.read_bytes(), f"http://127.0.0.2/{path.name}") for path in sorted(folder.rglob("*.html"))]
    rules = load_rules(PUBLISHER_RULES_FILE)

    def process(index: int) -> None:
        body, url = pages[index % len(pages)]
        if side == TRAFILATURA:
            trafilatura.extract(body)
            return
        try:
            article_from_response(200, "OK", body, url, entry_link=url, feed_text=None, rules=rules)
        except (NoArticleText, UnreadableDocument):  # a page without article text costs what it cost
            pass

    for index in range(10):  # warm up: lazy imports, jusText's stoplists, the language model
        process(index)
    print("ready", flush=True)
    for line in sys.stdin:
        started = time.process_time()
        process(int(line))
        print(time.process_time() - started, flush=True)


def start_side(side: str, folder: Path) -> subprocess.Popen:
    checkout = str(Path(side).resolve()) if side != TRAFILATURA else str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([checkout, str(Path(__file__).resolve().parent)])}
    command = [sys.executable, __file__, "--serve", side, "--folder", str(folder)]
    return subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkouts", nargs="*", help="feedpipe checkouts to compare")
    parser.add_argument("--trafilatura", action="store_true", help="raw trafilatura.extract as one more side")
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.folder)
        return 0
    sides = [*args.checkouts, *([TRAFILATURA] if args.trafilatura else [])]
    if len(sides) < 2:
        parser.error("give two checkouts, or one and --trafilatura")
    with tempfile.TemporaryDirectory(prefix="feedpipe-ab-") as workdir:
        folder = Path(workdir) / "site"
        loopback_news.build_site(folder, args.pages, feeds=50, hosts=10)
        processes = [start_side(side, folder) for side in sides]
        for process in processes:
            if process.stdout.readline().strip() != "ready":
                raise SystemExit(f"a side did not start: {process.args}")
        seconds = [0.0] * len(sides)
        for index in range(args.pages):
            for number, process in enumerate(processes):
                process.stdin.write(f"{index}\n")
                process.stdin.flush()
                seconds[number] += float(process.stdout.readline())
        for process in processes:
            process.stdin.close()
            process.wait()
    first = seconds[0]
    for side, total in zip(sides, seconds):
        print(f"{side}: {1000 * total / args.pages:.2f} ms of CPU per page ({total / first:.3f}× the first)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
