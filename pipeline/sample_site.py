"""The bundled demo sample: four fictional news sites with RSS, Atom and JSON feeds, served on 127.0.0.1.

`pipeline/sample/manifest.yaml` lists the sites, their feeds and their article pages: one wire story republished by
every site under its own headline and boilerplate, and one ordinary article per site. Pages are rendered from each
site's `layout.html`; feed files are hand-written templates whose `{base}` becomes the server's base URL.

The seed story (`shared/seed/ndtv-syndicated.txt`) is third-party text, so it is read at run time when present and
never committed: it becomes one original page, printed line by line as its publisher printed it, plus syndicated
copies of its paragraphs on the other sites, and its entries are added where feed templates say `{seed_items}`.
"""
from __future__ import annotations

import html
import json
import math
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import takewhile
from pathlib import Path
from string import Template
from typing import Any, Iterator

import yaml

SAMPLE_DIR = Path(__file__).with_name("sample")
DEFAULT_SEED_PATH = Path(__file__).resolve().parents[2] / "shared" / "seed" / "ndtv-syndicated.txt"

HTML_TYPE = "text/html; charset=utf-8"
FEED_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "jsonfeed": "application/feed+json; charset=utf-8",
}
DATELINE = re.compile(r"([A-Z][A-Za-z .'-]{1,40}):")
FIRST_SENTENCE = re.compile(r"(.+?[.!?])(?=\s|$)")
WORDS_PER_MINUTE = 200


@dataclass(frozen=True)
class WireStory:
    """A story as the agency sent it: headline, dateline city and paragraphs, no boilerplate."""

    title: str
    dateline: str
    paragraphs: tuple[str, ...]

    @property
    def read_time_minutes(self) -> int:
        return max(1, math.ceil(sum(len(p.split()) for p in self.paragraphs) / WORDS_PER_MINUTE))

    @property
    def pull_quote(self) -> str | None:
        """The first sentence of the first paragraph that opens with a quotation, as sites print it large."""
        for paragraph in self.paragraphs:
            if paragraph.startswith(('"', "\u201c")):
                match = FIRST_SENTENCE.match(paragraph)
                return match.group(1) if match else paragraph
        return None


@dataclass(frozen=True)
class Site:
    key: str
    name: str
    feed_name: str
    feed_path: str
    feed_format: str
    feed_template: str

    def url(self, base_url: str) -> str:
        return f"{base_url}/{self.key}/"


@dataclass(frozen=True)
class Page:
    """One article page of one site, its body already in HTML."""

    site: Site
    path: str
    headline: str
    author: str
    published: datetime
    section: str
    description: str
    body_html: str


@dataclass(frozen=True)
class Document:
    body: bytes
    content_type: str


@dataclass
class SampleSite:
    """The running sample: where it is, its feeds (as the YAML registry lists them) and its article pages."""

    base_url: str
    feeds: list[dict[str, str]]
    article_urls: list[str]
    seed_included: bool
    documents: dict[str, Document] = field(repr=False)

    def write_feeds_yaml(self, path: Path) -> None:
        """Write the feed list in the registry format `feedpipe run --feeds` reads."""
        path.write_text(yaml.safe_dump({"feeds": self.feeds}, sort_keys=False, allow_unicode=True), encoding="utf-8")


def parse_story(text: str, source: str) -> WireStory:
    """Read a story laid out as the seed is: headline first, then a 'City:' line, then its paragraphs.

    Lines before the dateline (a repeated lead, a pull-quote, page furniture) are skipped, and the paragraphs end at
    the first 'Advertisement' line or syndication notice.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    dateline_at = next((i for i, line in enumerate(lines) if DATELINE.fullmatch(line)), None)
    if not lines or dateline_at is None:
        raise ValueError(f"{source}: expected a headline, then a 'City:' dateline line, then paragraphs")
    paragraphs = tuple(takewhile(lambda line: not _is_page_furniture(line), lines[dateline_at + 1 :]))
    if not paragraphs:
        raise ValueError(f"{source}: no paragraphs follow the dateline {lines[dateline_at]!r}")
    return WireStory(title=lines[0], dateline=lines[dateline_at].rstrip(":"), paragraphs=paragraphs)


def _is_page_furniture(line: str) -> bool:
    return line == "Advertisement" or line.startswith("(Except for the headline")


@contextmanager
def serve_sample(seed_path: Path | None = DEFAULT_SEED_PATH, port: int = 0) -> Iterator[SampleSite]:
    """Serve the sample on 127.0.0.1 until the block exits, on `port` (0: an ephemeral one). The feeds' and
    articles' URLs carry the port, so serving on the same port again serves the same feeds and articles.

    The seed story is included when `seed_path` names a file that exists; None leaves it out.
    """
    seed_text = seed_path.read_text(encoding="utf-8") if seed_path is not None and seed_path.is_file() else None
    with _SampleServer(("127.0.0.1", port), _SampleRequestHandler) as server:
        sample = build_sample(f"http://127.0.0.1:{server.server_address[1]}", seed_text)
        server.documents = sample.documents
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        try:
            yield sample
        finally:
            server.shutdown()
            thread.join()


def build_sample(base_url: str, seed_text: str | None) -> SampleSite:
    """Render every page and feed of the sample for a server at `base_url`."""
    manifest = yaml.safe_load((SAMPLE_DIR / "manifest.yaml").read_text(encoding="utf-8"))
    sites = {entry["key"]: _site(entry) for entry in manifest["sites"]}
    pages = _article_pages(manifest, sites) + _wire_copy_pages(manifest, sites, base_url)
    seed_pages = _seed_pages(manifest["seed"], sites, base_url, seed_text) if seed_text is not None else []
    documents: dict[str, Document] = {}
    for page in pages + seed_pages:
        siblings = [p for p in pages + seed_pages if p.site == page.site and p is not page]
        documents[page.path] = Document(_render_page(page, siblings, base_url).encode("utf-8"), HTML_TYPE)
    for site in sites.values():
        own_seed_pages = [p for p in seed_pages if p.site == site]
        documents[site.feed_path] = Document(_render_feed(site, own_seed_pages, base_url), FEED_TYPES[site.feed_format])
    return SampleSite(
        base_url=base_url,
        feeds=[
            {"url": base_url + site.feed_path, "name": site.feed_name, "publisher": site.name}
            for site in sites.values()
        ],
        article_urls=[base_url + page.path for page in pages + seed_pages],
        seed_included=seed_text is not None,
        documents=documents,
    )


def _site(entry: dict[str, Any]) -> Site:
    feed = entry["feed"]
    return Site(entry["key"], entry["name"], feed["name"], feed["path"], feed["format"], feed["template"])


def _page(spec: dict[str, Any], sites: dict[str, Site], description: str, body_html: str) -> Page:
    return Page(
        site=sites[spec["site"]],
        path=spec["path"],
        headline=spec["headline"],
        author=spec["author"],
        published=datetime.fromisoformat(spec["published"]),
        section=spec["section"],
        description=description,
        body_html=body_html,
    )


def _article_pages(manifest: dict[str, Any], sites: dict[str, Site]) -> list[Page]:
    return [
        _page(spec, sites, spec["description"], (SAMPLE_DIR / spec["body"]).read_text(encoding="utf-8"))
        for spec in manifest["articles"]
    ]


def _wire_copy_pages(manifest: dict[str, Any], sites: dict[str, Site], base_url: str) -> list[Page]:
    pages = []
    for wire in manifest["wire_stories"]:
        story = parse_story((SAMPLE_DIR / wire["text"]).read_text(encoding="utf-8"), wire["text"])
        pages += [_copy_page(story, wire["credit"], copy, sites, base_url) for copy in wire["copies"]]
    return pages


def _seed_pages(seed: dict[str, Any], sites: dict[str, Site], base_url: str, seed_text: str) -> list[Page]:
    story = parse_story(seed_text, "seed story")
    original_spec = {**seed["original"], "headline": story.title}
    lines = [line.strip() for line in seed_text.splitlines()[1:] if line.strip()]
    original = _page(original_spec, sites, lines[0], _as_printed(lines, story))
    return [original] + [_copy_page(story, seed["credit"], copy, sites, base_url) for copy in seed["copies"]]


def _copy_page(story: WireStory, credit: str, copy: dict[str, Any], sites: dict[str, Site], base_url: str) -> Page:
    """A site's republication of a wire story, with that site's headline and boilerplate style."""
    site = sites[copy["site"]]
    published = datetime.fromisoformat(copy["published"])
    if copy["style"] == "agency_dateline":
        body = _agency_dateline_body(story, credit, site)
    elif copy["style"] == "split_dateline":
        body = _split_dateline_body(story, site, copy["video"])
    elif copy["style"] == "trimmed":
        body = _trimmed_body(story, credit, published, copy["keep"])
    else:
        raise ValueError(f"unknown copy style {copy['style']!r} for {copy['path']}")
    return _page(copy, sites, story.paragraphs[0], body)


def _p(text: str, css_class: str | None = None) -> str:
    attribute = f' class="{css_class}"' if css_class else ""
    return f"<p{attribute}>{html.escape(text, quote=False)}</p>"


def _agency_dateline_body(story: WireStory, credit: str, site: Site) -> str:
    """Wire style: 'CITY (Agency) - ' opens the first paragraph, adverts every third paragraph, a credit line."""
    blocks = [_p(f"{story.dateline.upper()} ({credit}) - {story.paragraphs[0]}")]
    for number, paragraph in enumerate(story.paragraphs[1:], start=2):
        blocks.append(_p(paragraph))
        if number % 3 == 0 and number < len(story.paragraphs):
            blocks.append('<div class="advert">Advertisement</div>')
    blocks.append(_p(f"(Reporting by {credit}; editing by {site.name} world desk)", "credit"))
    return "\n".join(blocks)


def _split_dateline_body(story: WireStory, site: Site, video: str) -> str:
    """The seed's layout: lead and pull-quote printed above the text, 'City:' on its own line, adverts, the
    syndication notice, and a featured video unrelated to the story."""
    blocks = [
        _p(story.paragraphs[1], "standfirst"),
        '<div class="ad-label">Advertisement</div>',
        f'<span class="read-time">Read Time: {story.read_time_minutes} mins</span>',
    ]
    if story.pull_quote:
        blocks.append(f'<blockquote class="pull-quote">{html.escape(story.pull_quote, quote=False)}</blockquote>')
    blocks.append(f'<p><b class="place">{html.escape(story.dateline)}:</b></p>')
    blocks += [_p(paragraph) for paragraph in story.paragraphs]
    blocks += [
        '<div class="ad-label">Advertisement</div>',
        _p(
            f"(Except for the headline, this story has not been edited by {site.name} staff and is published from a "
            "syndicated feed.)"
        ),
        _p("Featured Video Of The Day", "featured-video"),
        _p(video, "video-title"),
    ]
    return "\n".join(blocks)


def _trimmed_body(story: WireStory, credit: str, published: datetime, keep: int) -> str:
    """Cut to the first `keep` paragraphs, 'City, Mon D (Agency):' dateline, a read time and a disclaimer."""
    first = f"{story.dateline}, {published:%b} {published.day} ({credit}): {story.paragraphs[0]}"
    blocks = [f'<p class="read-time">Read Time: {story.read_time_minutes} mins</p>', _p(first)]
    blocks += [_p(paragraph) for paragraph in story.paragraphs[1:keep]]
    blocks.append(
        _p(
            "This story has been published from a wire agency feed without modifications to the text. "
            "Only the headline has been changed.",
            "disclaimer",
        )
    )
    return "\n".join(blocks)


def _as_printed(lines: list[str], story: WireStory) -> str:
    """The original page: every line of the seed after its headline, in order, as its publisher laid it out."""
    blocks = [_p(lines[0], "sp-descp")]
    after_video_heading = False
    for line in lines[1:]:
        text = html.escape(line, quote=False)
        if after_video_heading:
            blocks.append(_p(line, "video-title"))
        elif line == "Advertisement":
            blocks.append('<div class="ad-label">Advertisement</div>')
        elif line.startswith("Read Time:"):
            blocks.append(f'<span class="read-time">{text}</span>')
        elif line == f"{story.dateline}:":
            blocks.append(f'<p><b class="place_cont">{text}</b></p>')
        elif line == "Featured Video Of The Day":
            blocks.append(_p(line, "featured-video"))
        else:
            blocks.append(f"<p>{text}</p>")
        after_video_heading = line == "Featured Video Of The Day"
    return "\n".join(blocks)


def _render_page(page: Page, siblings: list[Page], base_url: str) -> str:
    layout = Template((SAMPLE_DIR / page.site.key / "layout.html").read_text(encoding="utf-8"))
    related = "\n".join(
        f'<li><a href="{base_url}{other.path}">{html.escape(other.headline)}</a></li>' for other in siblings
    )
    return layout.substitute(
        url=base_url + page.path,
        site_url=page.site.url(base_url),
        feed_url=base_url + page.site.feed_path,
        headline=html.escape(page.headline),
        description=html.escape(page.description),
        author=html.escape(page.author),
        published=page.published.isoformat(),
        published_display=f"{page.published:%b %d, %Y %H:%M %z}",
        section=html.escape(page.section),
        section_slug=page.section.lower().replace(" ", "-"),
        body=page.body_html,
        related=related,
    )


def _render_feed(site: Site, seed_pages: list[Page], base_url: str) -> bytes:
    template = (SAMPLE_DIR / site.feed_template).read_text(encoding="utf-8")
    seed_items = "".join(_feed_item(site.feed_format, page, base_url) for page in seed_pages)
    return template.replace("{base}", base_url).replace("{seed_items}", seed_items).encode("utf-8")


def _feed_item(feed_format: str, page: Page, base_url: str) -> str:
    """One feed entry for a seed page, in the feed's own format, to be placed after the template's last entry."""
    url, title, summary = base_url + page.path, html.escape(page.headline), html.escape(page.description)
    if feed_format == "rss":
        return (
            f"\n    <item>\n      <title>{title}</title>\n      <link>{url}</link>\n"
            f'      <guid isPermaLink="true">{url}</guid>\n      <description>{summary}</description>\n'
            f"      <pubDate>{format_datetime(page.published)}</pubDate>\n    </item>"
        )
    if feed_format == "atom":
        return (
            f"\n  <entry>\n    <title>{title}</title>\n    <id>{url}</id>\n"
            f'    <link rel="alternate" type="text/html" href="{url}"/>\n'
            f"    <published>{page.published.isoformat()}</published>\n"
            f"    <updated>{page.published.isoformat()}</updated>\n"
            f"    <author><name>{html.escape(page.author)}</name></author>\n"
            f"    <summary>{summary}</summary>\n  </entry>"
        )
    if feed_format == "jsonfeed":
        item = {
            "id": url,
            "url": url,
            "title": page.headline,
            "summary": page.description,
            "date_published": page.published.isoformat(),
            "authors": [{"name": page.author}],
        }
        return ",\n    " + json.dumps(item, ensure_ascii=False)
    raise ValueError(f"unknown feed format {feed_format!r}")


class _SampleServer(ThreadingHTTPServer):
    daemon_threads = True
    documents: dict[str, Document]  # set once the base URL, hence the port, is known


class _SampleRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _SampleServer

    def do_GET(self) -> None:
        document = self.server.documents.get(self.path.split("?", 1)[0])
        if document is None:
            document = Document(b"not found\n", "text/plain; charset=utf-8")
            self.send_response(404)
        else:
            self.send_response(200)
        self.send_header("Content-Type", document.content_type)
        self.send_header("Content-Length", str(len(document.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(document.body)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the demo prints its own summary."""
