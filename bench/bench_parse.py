"""Feed parsing speed: `parse_feed` (fastfeedparser where it reads a feed as feedparser would) against feedparser.

Times both (each after defusedxml's entity check, as parse_feed runs it) on the feeds the benchmarks serve (bench_poll's 10-item RSS, bench_e2e's RSS and Atom at 40 and 400
items) and on every feed of the demo sample, after checking that both give the same entries. Reports
milliseconds per document and which path `parse_feed` took. Exits 1 if an entry differs.

    python bench/bench_parse.py [--repeat 20]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_poll  # noqa: E402  (bench/ is this script's folder)
import loopback_news  # noqa: E402
from pipeline.parse import (parse_feed, parse_with_fastfeedparser, parse_with_feedparser,  # noqa: E402
                            refuse_entity_attacks)
from pipeline.sample_site import DEFAULT_SEED_PATH, build_sample  # noqa: E402

URL = "http://127.0.0.2:8000/feeds/1.xml"


def documents() -> dict[str, bytes]:
    docs = {"bench_poll RSS, 10 items": bench_poll.feed_document("/feed/1", 1)}
    for items in (40, 400):
        titles = [(n, f"Story number {n}: ministers agree on the budget") for n in range(items)]
        for feed, kind in ((0, "RSS"), (1, "Atom")):
            text = loopback_news.feed_document(feed, titles).replace("{base}", "http://127.0.0.2:8000")
            docs[f"bench_e2e {kind}, {items} items"] = text.encode("utf-8")
    seed = DEFAULT_SEED_PATH.read_text(encoding="utf-8") if DEFAULT_SEED_PATH.is_file() else None
    for path, doc in build_sample("http://127.0.0.1:8000", seed).documents.items():
        if "xml" in doc.content_type:
            docs[f"sample {path}"] = doc.body
    return docs


def feedparser_only(body: bytes, url: str) -> None:
    """What parse_feed did before the fast path: refuse entity attacks, then feedparser."""
    refuse_entity_attacks(body)
    parse_with_feedparser(body, url)


def milliseconds(parse, body: bytes, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        parse(body, URL)
    return (time.perf_counter() - started) / repeat * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    differ = 0
    print(f"{'feed':<32} {'path':<15} {'parse_feed ms':>13} {'feedparser ms':>13} {'speed-up':>8}")
    for name, body in documents().items():
        fast = parse_with_fastfeedparser(body, URL, refuse_entity_attacks(body)) is not None
        same = parse_feed(body, URL).entries == parse_with_feedparser(body, URL).entries
        differ += not same
        ours = milliseconds(parse_feed, body, args.repeat)
        reference = milliseconds(feedparser_only, body, args.repeat)
        print(f"{name:<32} {'fastfeedparser' if fast else 'feedparser':<15} {ours:>13.2f} {reference:>13.2f} "
              f"{reference / ours:>7.1f}x{'' if same else '  ENTRIES DIFFER'}")
    print("PASS" if not differ else f"FAIL: {differ} feed(s) parse to other entries")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
