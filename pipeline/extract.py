"""Extract: the main text and metadata of one document, HTML (trafilatura) or plain text."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import trafilatura

EXTRACTOR_VERSION = f"trafilatura-{trafilatura.__version__}"


@dataclass
class ExtractedPage:
    """What a page says about itself, before any cleaning."""

    title: str | None
    paragraphs: list[str]
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    canonical_url: str | None = None
    site_name: str | None = None


def extract_html(html: str | bytes, url: str | None = None) -> ExtractedPage:
    """Run trafilatura on a page; paragraphs are the lines of its main text."""
    result = trafilatura.extract(
        html, url=url, output_format="json", with_metadata=True, include_comments=False, favor_precision=False
    )
    if not result:
        metadata = trafilatura.extract_metadata(html, default_url=url)
        return ExtractedPage(title=metadata.title if metadata else None, paragraphs=[])
    doc = json.loads(result)
    paragraphs = [line.strip() for line in (doc.get("text") or "").splitlines() if line.strip()]
    authors = [a.strip() for a in (doc.get("author") or "").split(";") if a.strip()]
    return ExtractedPage(
        title=doc.get("title"),
        paragraphs=paragraphs,
        authors=authors,
        published=doc.get("date"),
        canonical_url=doc.get("source"),
        site_name=doc.get("sitename"),
    )


def extract_text(text: str) -> ExtractedPage:
    """A plain-text article: the first non-empty line is its title, every other line a paragraph."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ExtractedPage(title=None, paragraphs=[])
    return ExtractedPage(title=lines[0], paragraphs=lines[1:])
