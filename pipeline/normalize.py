"""Normalize: the final, comparable form of an article (text, title, URL, date, language)."""
from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pipeline.clean import CleanedPage, Removal, Syndication, RULES_VERSION
from pipeline.extract import EXTRACTOR_VERSION


@dataclass
class Article:
    """A clean article, as stored in `articles` and printed by `feedpipe extract`."""

    title: str | None
    paragraphs: list[str]
    url: str | None
    canonical_url: str | None
    dateline: str | None = None
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    language: str | None = None
    syndication: Syndication = field(default_factory=Syndication)
    removed: list[Removal] = field(default_factory=list)
    extractor_version: str = EXTRACTOR_VERSION
    rules_version: str = RULES_VERSION

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def content_sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def normalize_article(
    cleaned: CleanedPage, url: str | None, fallback_published: datetime | None = None
) -> Article:
    """Unicode NFC and collapsed whitespace; the cleaning issue adds URLs, dates and language."""
    paragraphs = [" ".join(unicodedata.normalize("NFC", p).split()) for p in cleaned.paragraphs]
    title = " ".join(unicodedata.normalize("NFC", cleaned.page.title).split()) if cleaned.page.title else None
    published = fallback_published
    return Article(
        title=title,
        paragraphs=[p for p in paragraphs if p],
        url=url,
        canonical_url=cleaned.page.canonical_url or url,
        dateline=cleaned.dateline,
        authors=list(dict.fromkeys(cleaned.page.authors)),
        published_at=published.astimezone(timezone.utc) if published else None,
        syndication=cleaned.syndication,
        removed=cleaned.removed,
    )
