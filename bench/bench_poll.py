"""Benchmark: one polling round over 5,000 feeds on 200 hosts.

A server process binds 127.0.0.1 ... 127.0.0.200 on one port (Linux routes all of 127.0.0.0/8 to loopback),
delays every response by 100 ms, answers 304 to 90% of conditional requests (a new body to the rest), and
counts requests in flight per host. feedpipe polls through its real crawler, politeness budget (2 per host,
no delay), archive folder and embedded Postgres. A first round fetches every feed unconditionally and stores
the validators; the timed round is the steady state that follows.

Targets: the timed round under 10 s on 2 cores, never more than 2 requests in flight per host, peak memory
(RSS of this process plus the crawler's process) under 300 MB. Usage: python bench/bench_poll.py [--feeds 5000 --hosts 200]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import db  # noqa: E402
from pipeline.archive import LocalArchive  # noqa: E402
from pipeline.crawler import Crawler  # noqa: E402
from pipeline.feeds import due_feeds  # noqa: E402
from pipeline.fetch import FetchPolicy  # noqa: E402
from pipeline.polling import PollContext, poll_feeds  # noqa: E402
from pipeline.politeness import BudgetSettings  # noqa: E402
from pipeline.schedule import ScheduleSettings  # noqa: E402

DELAY = 0.1
PER_HOST = 2
TARGET_SECONDS = 10.0
TARGET_MB = 300


def feed_document(path: str, version: int) -> bytes:
    items = "".join(
        f"<item><guid>{path}-{n}</guid><link>https://news.example.org{path}/{n}</link><title>Story {n}</title>"
        f"<pubDate>Wed, 01 May 2024 {n % 24:02d}:00:00 GMT</pubDate></item>"
        for n in range(version, version + 10)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{path}</title>{items}</channel></rss>'.encode()


class FeedServer:
    """HTTP/1.1 with keep-alive; every response after DELAY; 304 to 9 in 10 conditional requests (by path)."""

    def __init__(self) -> None:
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.requests = Counter()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                path = request_line.split(" ")[1]
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
                if path == "/__stats":
                    body = json.dumps({"max_in_flight": self.max_in_flight, "requests": self.requests}).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                    await writer.drain()
                    continue
                self.in_flight[host] += 1
                self.max_in_flight[host] = max(self.max_in_flight[host], self.in_flight[host])
                try:
                    await asyncio.sleep(DELAY)
                    writer.write(self.response(path, headers))
                    await writer.drain()
                finally:
                    self.in_flight[host] -= 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def response(self, path: str, headers: dict[str, str]) -> bytes:
        conditional = "if-none-match" in headers
        self.requests["conditional" if conditional else "unconditional"] += 1
        changes = zlib.crc32(path.encode()) % 10 == 0
        version = 2 if conditional and changes else 1
        if conditional and not changes and headers["if-none-match"] == f'"{version}"':
            self.requests["304"] += 1
            return b'HTTP/1.1 304 Not Modified\r\nETag: "1"\r\n\r\n'
        body = feed_document(path, version)
        return (b'HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: "%d"\r\nContent-Length: %d\r\n\r\n%s'
                % (version, len(body), body))


def serve(hosts: int, port_queue: multiprocessing.Queue) -> None:
    async def main() -> None:
        server = FeedServer()
        first = await asyncio.start_server(server.handle, "127.0.0.1", 0, backlog=1024)
        port = first.sockets[0].getsockname()[1]
        for n in range(2, hosts + 1):
            await asyncio.start_server(server.handle, f"127.0.0.{n}", port, backlog=1024)
        port_queue.put(port)
        await asyncio.Event().wait()

    asyncio.run(main())


def register(conn, urls: list[str]) -> None:
    with db.transaction(conn) as cur:
        cur.execute("INSERT INTO feeds (url) SELECT unnest(%s::text[])", (urls,))


def poll_round(conn, crawler: Crawler, archive: LocalArchive) -> tuple[float, object]:
    with db.transaction(conn) as cur:
        feeds = due_feeds(cur, include_not_due=True)
    started = time.perf_counter()
    counts = poll_feeds(PollContext(conn, archive, crawler, ScheduleSettings(), 0.0, None), feeds)
    return time.perf_counter() - started, counts


def server_stats(port: int) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__stats", timeout=10) as response:
        return json.loads(response.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=5000)
    parser.add_argument("--hosts", type=int, default=200)
    args = parser.parse_args()

    port_queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(args.hosts, port_queue), daemon=True)
    server.start()
    port = port_queue.get(timeout=30)
    with tempfile.TemporaryDirectory(prefix="feedpipe-bench-") as folder:
        url = db.embedded_database_url(Path(folder))
        db.migrate(url)
        conn = db.connect(url)
        urls = [f"http://127.0.0.{n % args.hosts + 1}:{port}/feed/{n}.xml" for n in range(args.feeds)]
        register(conn, urls)
        archive = LocalArchive(Path(folder) / "archive")
        policy = FetchPolicy("feedpipe-bench/1 (+https://example.org/feedpipe)", allow_private_addresses=True)
        budget = BudgetSettings(per_domain=PER_HOST, min_delay=0.0, global_limit=PER_HOST * args.hosts)
        with Crawler(policy, budget) as crawler:
            first_seconds, first = poll_round(conn, crawler, archive)
            seconds, counts = poll_round(conn, crawler, archive)
        crawler_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the only child ended so far
        conn.close()
    stats = server_stats(port)
    server.terminate()
    main_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_mb = main_mb + crawler_mb
    max_per_host = max(stats["max_in_flight"].values())
    floor = args.feeds / args.hosts / PER_HOST * DELAY
    print(f"first round (unconditional, {first.polled} feeds, {first.new_entries} entries): {first_seconds:.2f} s")
    print(f"timed round: {counts.polled} feeds on {args.hosts} hosts in {seconds:.2f} s "
          f"(latency floor {floor:.1f} s; {stats['requests'].get('304', 0)} answered 304, {counts.failed} failed, "
          f"{counts.new_entries} new entries)")
    print(f"most requests in flight on one host: {max_per_host} (limit {PER_HOST})")
    print(f"peak memory (RSS): {peak_mb:.0f} MB ({main_mb:.0f} MB this process + {crawler_mb:.0f} MB crawler process)")
    ok = seconds < TARGET_SECONDS and max_per_host <= PER_HOST and peak_mb < TARGET_MB and counts.failed == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
