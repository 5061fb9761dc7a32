"""A news site of any size on loopback hosts, built at run time for the end-to-end benchmark.

Pages come from real ones: `../shared/dev` (fundus-eval's news pages and trafilatura-eval's pages, read at run
time, never copied into the repository), the repository's syndicated fixtures and the demo sample's rendered pages.
Article number i is either an original or, every fifth article, a syndicated copy of the original seven places
before it, served by another host under another headline with an "Advertisement" line between its paragraphs.
Originals cycle through the real pages; past the first round each page comes back as a new variant whose words are
swapped for other words of the same page (seeded by the variant), so the markup, the language and the length stay
those of a real page while the text, and so its story, is new. Canonical links are dropped so every article keeps
the address it was served at.

Feeds alternate RSS 2.0 and Atom 1.0. Feed f is served by host f mod hosts; article i is listed in feed i mod feeds.
A server process binds every host on one port and serves the built files (HTTP/1.1, keep-alive).
"""
from __future__ import annotations

import asyncio
import gzip
import multiprocessing
import random
import re
import signal
from dataclasses import dataclass
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from html import escape, unescape
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_DEV = REPO.parent / "shared" / "dev"
COPY_EVERY = 5  # every fifth article is a syndicated copy
COPY_OF = 7  # ... of the article this many places before it (on another host, since hosts cycle by 10 or fewer)
FIRST_HOST = 2  # hosts are 127.0.0.2, 127.0.0.3, ...
PUBLISHED_FROM = datetime(2026, 11, 1, tzinfo=timezone.utc)

SCRIPT_OR_STYLE = re.compile(r"(<(script|style)\b.*?</\2\s*>)", re.S | re.I)
TEXT_BETWEEN_TAGS = re.compile(r">([^<]+)<")
WORD = re.compile(r"[^\W\d_]{4,}")
CANONICAL_HINTS = re.compile(
    r"<link\b[^>]*\brel=[\"']?canonical[^>]*>|<meta\b[^>]*\b(?:property|name)=[\"']?(?:og:url|twitter:url)[^>]*>",
    re.I,
)
TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.S | re.I)
PARAGRAPH_END = re.compile(r"</p\s*>", re.I)


def base_pages() -> list[str]:
    """Every real page available: shared/dev pages (when present), the syndicated fixtures, the demo sample."""
    pages = []
    for folder in ("fundus-eval", "trafilatura-eval"):
        for path in sorted((SHARED_DEV / folder / "html").glob("*.html.gz")):
            pages.append(gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace"))
    pages += [path.read_text(encoding="utf-8") for path in sorted((REPO / "tests/fixtures/syndicated").glob("*.html"))]
    pages += sample_pages()
    pages = [page for page in pages if len(PARAGRAPH_END.findall(page)) >= 3]
    random.Random(0).shuffle(pages)  # so that the first N articles of any run are a fair mix of the sources
    return pages


def sample_pages() -> list[str]:
    from pipeline.sample_site import DEFAULT_SEED_PATH, build_sample

    seed = DEFAULT_SEED_PATH.read_text(encoding="utf-8") if DEFAULT_SEED_PATH and DEFAULT_SEED_PATH.is_file() else None
    sample = build_sample("http://127.0.0.1:1", seed)
    return [doc.body.decode("utf-8") for doc in sample.documents.values() if doc.content_type.startswith("text/html")]


def variant(page: str, number: int) -> str:
    """The page with its canonical hints dropped and, for number > 0, its words permuted within the page."""
    page = CANONICAL_HINTS.sub("", page)
    if number == 0:
        return page
    rng = random.Random(number)
    vocabulary = sorted(set(WORD.findall(" ".join(TEXT_BETWEEN_TAGS.findall(page)))))
    shuffled = vocabulary[:]
    rng.shuffle(shuffled)
    swap = dict(zip(vocabulary, shuffled))

    def swap_words(match: re.Match) -> str:
        return ">" + WORD.sub(lambda word: swap[word.group()], match.group(1)) + "<"

    parts = SCRIPT_OR_STYLE.split(page)
    # split() with two groups yields [text, whole tag, tag name, text, ...]: rewrite only the text parts.
    return "".join(
        TEXT_BETWEEN_TAGS.sub(swap_words, part) if index % 3 == 0 else part for index, part in enumerate(parts)
    )


def syndicated_copy(page: str) -> str:
    """Another publisher's copy: a new headline and an advertisement line after the second paragraph."""
    page = TITLE.sub(lambda m: "<title>Wire copy: " + m.group(1) + "</title>", page, count=1)
    ends = list(PARAGRAPH_END.finditer(page))
    cut = ends[1].end() if len(ends) > 1 else ends[0].end()
    return page[:cut] + "\n<p>Advertisement</p>\n" + page[cut:]


def page_title(page: str, fallback: str) -> str:
    match = TITLE.search(page)
    title = " ".join(unescape(match.group(1)).split()) if match else ""
    return title or fallback


@dataclass(frozen=True)
class Site:
    """The built site: where its files are, and what it serves."""

    folder: Path
    articles: int
    feeds: int
    hosts: int

    def host(self, number: int) -> str:
        return f"127.0.0.{FIRST_HOST + number % self.hosts}"

    def feed_host(self, feed: int) -> str:
        return self.host(feed)

    def article_host(self, article: int) -> str:
        return self.host(article % self.feeds)

    def page_path(self, article: int) -> Path:
        return self.folder / "articles" / f"{article}.html"

    def feed_urls(self, port: int) -> list[str]:
        return [f"http://{self.feed_host(feed)}:{port}/feeds/{feed}.xml" for feed in range(self.feeds)]

    def page_files(self) -> list[Path]:
        return [self.page_path(article) for article in range(self.articles)]


def build_site(folder: Path, articles: int, feeds: int, hosts: int) -> Site:
    """Write the pages of `articles` articles and the feeds listing them.

    Feeds hold links with a {base} placeholder; the server fills in the address of the host serving them."""
    bases = base_pages()
    site = Site(folder, articles, feeds, hosts)
    (folder / "articles").mkdir(parents=True, exist_ok=True)
    (folder / "feeds").mkdir(parents=True, exist_ok=True)
    items: list[list[tuple[int, str]]] = [[] for _ in range(feeds)]
    originals: dict[int, str] = {}
    for article in range(articles):
        source = originals.pop(article - COPY_OF, None)
        if article % COPY_EVERY == COPY_EVERY - 1 and source is not None:
            page = syndicated_copy(source)
        else:
            page = variant(bases[article % len(bases)], article // len(bases))
            originals[article] = page
        site.page_path(article).write_text(page, encoding="utf-8")
        items[article % feeds].append((article, page_title(page, f"Article {article}")))
    for feed in range(feeds):
        path = folder / "feeds" / f"{feed}.xml"
        path.write_text(feed_document(feed, items[feed]), encoding="utf-8")
    return site


def feed_document(feed: int, items: list[tuple[int, str]]) -> str:
    """RSS 2.0 for even feeds, Atom 1.0 for odd ones; links relative to {base}, the serving host."""
    if feed % 2 == 0:
        entries = "".join(
            f"<item><title>{escape(title)}</title><link>{{base}}/articles/{article}.html</link>"
            f"<guid isPermaLink=\"false\">article-{article}</guid>"
            f"<pubDate>{format_datetime(PUBLISHED_FROM + timedelta(minutes=article))}</pubDate>"
            f"<description>{escape(title)}</description></item>"
            for article, title in items
        )
        return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Bench feed {feed}</title>'
                f"<link>{{base}}/</link><ttl>5</ttl>{entries}</channel></rss>")
    entries = "".join(
        f"<entry><title>{escape(title)}</title><link href=\"{{base}}/articles/{article}.html\"/>"
        f"<id>urn:bench:article-{article}</id>"
        f"<updated>{(PUBLISHED_FROM + timedelta(minutes=article)).isoformat()}</updated>"
        f"<summary>{escape(title)}</summary></entry>"
        for article, title in items
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Bench feed {feed}</title><id>urn:bench:feed-{feed}</id>"
            f"<updated>{PUBLISHED_FROM.isoformat()}</updated>{entries}</feed>")


class _Server:
    """HTTP/1.1 with keep-alive over the built files; feeds get their host's address filled in."""

    def __init__(self, folder: Path, port_holder: list[int]):
        self.folder = folder
        self.port_holder = port_holder

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode("latin-1").split("?", 1)[0]
                writer.write(self.response(host, path))
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    def response(self, host: str, path: str) -> bytes:
        kind, _, name = path.lstrip("/").partition("/")
        file = self.folder / kind / name
        if kind not in ("articles", "feeds") or "/" in name or not file.is_file():
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        body = file.read_bytes()
        if kind == "feeds":
            body = body.replace(b"{base}", f"http://{host}:{self.port_holder[0]}".encode())
            content_type = b"application/rss+xml" if body.find(b"<rss") >= 0 else b"application/atom+xml"
        else:
            content_type = b"text/html; charset=utf-8"
        return b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s" % (content_type, len(body), body)


def _serve(folder: Path, hosts: int, port_queue: multiprocessing.Queue) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the handler the benchmark installed before forking

    async def main() -> None:
        port_holder = [0]
        server = _Server(folder, port_holder)
        first = await asyncio.start_server(server.handle, f"127.0.0.{FIRST_HOST}", 0, backlog=1024)
        port_holder[0] = first.sockets[0].getsockname()[1]
        for number in range(1, hosts):
            await asyncio.start_server(server.handle, f"127.0.0.{FIRST_HOST + number}", port_holder[0], backlog=1024)
        port_queue.put(port_holder[0])
        await asyncio.Event().wait()

    asyncio.run(main())


def start_server(folder: Path, hosts: int) -> tuple[multiprocessing.Process, int]:
    """Serve `folder` on hosts 127.0.0.2 ... in a daemon process; returns it and the port."""
    port_queue: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=_serve, args=(folder, hosts, port_queue), daemon=True)
    process.start()
    return process, port_queue.get(timeout=30)
