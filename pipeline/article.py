"""The processing core: one fetched document in, one clean article out (extract → clean → normalize).

The batch, `feedpipe extract`, replay and the evaluations all come through here. It imports only the
extract, clean and normalize stages, so using it never starts a crawler or touches a database."""
from __future__ import annotations

from datetime import datetime
from typing import Collection

import lxml.html

from pipeline.clean import RuleSet, clean_page, load_rules, publisher_domain
from pipeline.extract import ExtractedPage, extract_html, extract_text, read_document
from pipeline.normalize import Article, normalize_article
from pipeline.timing import StageClock

# A page that answers these will not come back: the feed's own text is all there is to load.
PAGE_GONE_STATUSES = frozenset({404, 410})


class NoArticleText(Exception):
    """Neither the page nor the feed entry had any article text."""


class PageUnavailable(Exception):
    """The page answered an HTTP error and the feed entry has no text to stand in for it."""


def article_from_document(
    body: bytes,
    url: str | None,
    *,
    fallback_published: datetime | None = None,
    fallback_html: str | None = None,
    fallback_title: str | None = None,
    rules: RuleSet | None = None,
    learned: Collection[str] = frozenset(),
    templates: Collection[int] = frozenset(),
    clock: StageClock | None = None,
) -> Article:
    """Extract, clean and normalize one document (HTML or plain text, gzipped or not).

    When the page yields no text, the feed's own content (`fallback_html`) stands in for it, and when it has
    no title, the feed entry's (`fallback_title`). `learned` holds the publisher's learned boilerplate lines
    (pipeline.learned.learned_lines), `templates` its learned template blocks (pipeline.learned.known_templates)."""
    rules = rules or load_rules()
    clock = clock or StageClock()
    page = ExtractedPage(title=None, paragraphs=[])
    with clock.measure("extract"):
        if body.strip():
            document = read_document(body)
            if document.is_html:
                publisher_rules = rules.for_url(url)
                page = extract_html(document.text, url, publisher_rules.drop_selectors if publisher_rules else ())
            else:
                page = extract_text(document.text)
        if not page.paragraphs and fallback_html:
            page.paragraphs = paragraphs_of_fragment(fallback_html)
        if not page.title and fallback_title:
            page.title = fallback_title
    with clock.measure("clean"):
        cleaned = clean_page(page, url=url, rules=rules, learned=learned, templates=templates)
    with clock.measure("normalize"):
        return normalize_article(cleaned, url, fallback_published, publisher=publisher_domain(url))


def article_from_response(
    status: int,
    reason: str,
    body: bytes,
    url: str,
    *,
    entry_link: str | None,
    feed_text: str | None,
    entry_title: str | None = None,
    fallback_published: datetime | None = None,
    rules: RuleSet | None = None,
    learned: Collection[str] = frozenset(),
    templates: Collection[int] = frozenset(),
    clock: StageClock | None = None,
) -> Article:
    """The article of one fetched page, with the page-gone policy: a page answering 404/410 is loaded from
    the feed's own text (and the entry's title) when the feed carries one; any other HTTP error raises
    PageUnavailable."""
    if status in PAGE_GONE_STATUSES and feed_text:
        body, url = b"", entry_link or url
    elif status >= 400:
        raise PageUnavailable(f"HTTP {status} {reason}".strip())
    article = article_from_document(
        body, url, fallback_published=fallback_published, fallback_html=feed_text, fallback_title=entry_title,
        rules=rules, learned=learned, templates=templates, clock=clock,
    )
    if not article.paragraphs:
        raise NoArticleText("no article text in the page or the feed entry")
    return article


def paragraphs_of_fragment(fragment: str) -> list[str]:
    """The paragraphs of an HTML fragment such as a feed entry's content."""
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    blocks = [p.text_content().strip() for p in root.iter("p", "li", "blockquote")]
    blocks = [b for b in blocks if b]
    return blocks or [line.strip() for line in root.text_content().splitlines() if line.strip()]
