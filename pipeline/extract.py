"""Extract: the main text and metadata of one document, HTML (trafilatura) or plain text."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import urljoin

import trafilatura
from lxml.cssselect import CSSSelector
from lxml.html import HtmlElement
from trafilatura.metadata import examine_meta, extract_meta_json, extract_sitename, extract_title
from trafilatura.settings import Document as PageMetadata
from trafilatura.utils import decode_file, load_html

from pipeline.template import PageBlock, page_blocks

EXTRACTOR_VERSION = f"trafilatura-{trafilatura.__version__}"

HTML_SNIFF = re.compile(r"<(?:!doctype\s+html|html|head|body|article|meta|title|p|div)[\s>/]", re.IGNORECASE)
PUBLISHED_META_XPATH = (
    '//meta[@property="article:published_time" or @name="article:published_time" or @itemprop="datePublished"'
    ' or @property="og:published_time"]/@content'
)
JSON_LD_PUBLISHED = re.compile(r'"datePublished"\s*:\s*"([^"]+)"')


class UnreadableDocument(ValueError):
    """The bytes are neither HTML nor text that can be decoded."""


@dataclass
class ExtractedPage:
    """What a page says about itself, before any cleaning."""

    title: str | None
    paragraphs: list[str]
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    canonical_url: str | None = None
    site_name: str | None = None
    blocks: dict[str, PageBlock] = field(default_factory=dict)


@dataclass(frozen=True)
class Document:
    """A decoded document and whether it is HTML or plain text."""

    text: str
    is_html: bool


def read_document(body: bytes) -> Document:
    """Decompress (gzip and the like are detected by their magic numbers), decode, and tell HTML from plain text."""
    if not body.strip():
        raise UnreadableDocument("the document is empty")
    text = decode_file(body)
    if "\x00" in text:
        raise UnreadableDocument("the document is binary, not HTML or text")
    return Document(text=text, is_html=bool(HTML_SNIFF.search(text[:4096])))


def extract_html(html: str | bytes, url: str | None = None, drop_selectors: Iterable[str] = ()) -> ExtractedPage:
    """Run trafilatura on a page, after dropping the elements the publisher's CSS selectors name.

    The page is parsed once: trafilatura works on a copy of the tree, and the untouched tree gives the
    metadata and the page's blocks (pipeline.template) that template and teaser detection look up.
    Paragraphs are the lines of trafilatura's main text, without reader comments."""
    tree = load_html(html)
    if tree is None:
        raise UnreadableDocument("the HTML could not be parsed")
    for selector in drop_selectors:
        for element in CSSSelector(selector)(tree):
            element.drop_tree()
    metadata = page_metadata(tree)
    result = trafilatura.bare_extraction(tree, url=url, include_comments=False, with_metadata=False)
    lines = [line.strip() for line in ((result.text if result else None) or "").splitlines() if line.strip()]
    authors = [a.strip() for a in (metadata.author or "").split(";") if a.strip()]
    return ExtractedPage(
        title=metadata.title,
        paragraphs=lines,
        authors=authors,
        published=page_published(tree),
        canonical_url=page_canonical_url(tree, url),
        site_name=metadata.sitename,
        blocks=page_blocks(tree, lines),
    )


def page_metadata(tree: HtmlElement) -> PageMetadata:
    """Title, author and site name as trafilatura's `extract_metadata` finds them in the page's metadata, without
    the parts feedpipe does not use (its date search, categories, tags, licence, content hash) and without its
    search of the page body for a byline, which copies the whole tree (about 40 ms a page). A one-word author
    in the metadata ("GWS") is kept, where trafilatura would look for a longer one in the body."""
    metadata = examine_meta(tree)
    try:
        metadata = extract_meta_json(tree, metadata)
    except Exception:  # noqa: BLE001 - as in trafilatura's extract_metadata: malformed JSON-LD is skipped
        pass
    metadata.title = metadata.title or extract_title(tree)
    metadata.sitename = (metadata.sitename or extract_sitename(tree) or "").lstrip("@") or None
    return metadata


def page_canonical_url(tree: HtmlElement, url: str | None) -> str | None:
    """The address the page declares for itself: `<link rel=canonical>`, else `og:url`, made absolute."""
    for xpath in ('//link[@rel="canonical"]/@href', '//meta[@property="og:url"]/@content'):
        for value in tree.xpath(xpath):
            value = value.strip()
            if value:
                return urljoin(url, value) if url else value
    return None


def page_published(tree: HtmlElement) -> str | None:
    """The publication time in the page's metadata (article time tags, then JSON-LD), ISO 8601.

    Nothing is guessed from the text: without metadata the feed entry's date stands in (htmldate's search of
    the page cost about 25 ms on a third of the pages and is left out)."""
    for value in tree.xpath(PUBLISHED_META_XPATH):
        if value.strip():
            return value.strip()
    for script in tree.xpath('//script[@type="application/ld+json"]/text()'):
        match = JSON_LD_PUBLISHED.search(script)
        if match:
            return match.group(1)
    return None


def extract_text(text: str) -> ExtractedPage:
    """A plain-text article: the first non-empty line is its title, every other line a paragraph."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ExtractedPage(title=None, paragraphs=[])
    return ExtractedPage(title=lines[0], paragraphs=lines[1:])
