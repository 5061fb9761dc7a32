"""Page blocks: what each piece of a page's text is, so cleaning can tell the publisher's template and
teasers for other stories from the article.

A block is an element that holds text (a paragraph, list item, heading, link, a div with text of its own).
Its fingerprint hashes where it sits (the tags and classes of its ancestors, no positions) with its text:
the newsletter box or the "More to read" header on every article of a site has one fingerprint across them,
while the same words elsewhere on the page do not. Which fingerprints are a publisher's template is learned
in Postgres (pipeline.learned.known_templates / record_template_blocks); the decisions here are pure.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

from lxml.etree import tostring
from lxml.html import HtmlElement


# Bump when fingerprints change meaning: blocks learned under another version are not used.
TEMPLATE_VERSION = 1
BLOCK_TAGS = frozenset({
    "p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figcaption", "dt", "dd", "td", "th", "pre",
    "caption", "summary", "address",
})
# These hold a block only when they carry text of their own (not just other elements' text).
CONTAINER_TAGS = frozenset({"div", "a"})
SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe", "button", "select", "form"})
PATH_DEPTH = 6
LIST_BULLETS = frozenset({"-", "•", "*"})
# A block longer than this, unless it is mostly link text, is article prose and never learned as template.
MAX_TEMPLATE_WORDS = 40
# Teasers: a linked headline or lead of another story.
TEASER_LINK_SHARE = 0.8
MAX_TEASER_WORDS = 60


@dataclass(frozen=True)
class PageBlock:
    """Every place one text appears on a page, and how much of it is link text (the least linked place)."""

    fingerprints: frozenset[int]
    link_share: float
    words: int
    # Where the text first appears: the place of its first element among the page's blocks, in document order.
    position: int = 0

    @property
    def is_template_candidate(self) -> bool:
        """Short lines and link lists may be template; article prose never is."""
        return self.words <= MAX_TEMPLATE_WORDS or self.link_share >= 0.5

    @property
    def is_linked_teaser(self) -> bool:
        """All link, and short: another story's headline or lead."""
        return self.link_share >= TEASER_LINK_SHARE and self.words <= MAX_TEASER_WORDS


@dataclass(frozen=True)
class TemplatePolicy:
    """When a block is the publisher's template: seen on at least `min_articles` distinct articles, and on at
    least `min_share` of the publisher's articles recorded since the block was first seen."""

    min_articles: int = 3
    min_share: float = 0.3


DEFAULT_TEMPLATE_POLICY = TemplatePolicy()


def block_key(text: str) -> str:
    """How an extracted line finds its block: list bullet off (a bullet and the space after it), all whitespace
    out, case folded (trafilatura joins and spaces inline text its own way, so the words in order are what must
    match). Called for about 500 texts a page, so it splits once and drops the bullet as a word of its own."""
    words = text.split()
    if len(words) > 1 and words[0] in LIST_BULLETS:
        del words[0]
    return "".join(words).casefold()


def fingerprint(path: str, key: str) -> int:
    """A signed 64-bit hash of a block's place and text (fits a Postgres bigint)."""
    digest = hashlib.blake2b(f"{TEMPLATE_VERSION}\n{path}\n{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def page_blocks(tree: HtmlElement, lines: Iterable[str]) -> dict[str, PageBlock]:
    """The blocks of a parsed page whose text is one of `lines` (the extracted text), by `block_key`.

    Only elements that can hold a block are read, and only a match costs a path and a link count, so this
    stays a small part of extracting the page."""
    wanted = {block_key(line) for line in lines} - {""}
    places: dict[str, tuple[set[int], float, int, int]] = {}
    root = tree.find("body")
    for position, element in enumerate((root if root is not None else tree).iter(*BLOCK_TAGS, *CONTAINER_TAGS)):
        if element.tag in CONTAINER_TAGS and not _has_own_text(element):
            continue
        text = element_text(element)
        key = block_key(text)
        if key not in wanted:
            continue
        ancestors = [a for a in element.iterancestors() if isinstance(a.tag, str)]
        if any(a.tag in SKIPPED_TAGS for a in ancestors):
            continue
        path = "/".join(_step(e) for e in reversed([element, *ancestors[:PATH_DEPTH - 1]]))
        if element.tag == "a" or any(a.tag == "a" for a in ancestors):
            share = 1.0
        else:
            linked = sum(len(element_text(a).strip()) for a in element.iter("a"))
            share = min(linked / max(len(text.strip()), 1), 1.0)
        prints, known_share, words, first = places.get(key, (set(), 1.0, len(text.split()), position))
        prints.add(fingerprint(path, key))
        places[key] = (prints, min(known_share, share), words, first)
    return {key: PageBlock(frozenset(prints), share, words, first)
            for key, (prints, share, words, first) in places.items()}


def element_text(element: HtmlElement) -> str:
    """All the text inside an element, as `text_content()` gives it (the same string on every element of the
    1,070 dev pages), in a third of its time: lxml serializes the text in C, where `text_content()` evaluates
    an XPath expression per call, and page_blocks reads the text of about 500 elements a page."""
    return tostring(element, method="text", encoding=str, with_tail=False)


def _step(element: HtmlElement) -> str:
    return element.tag + "".join(f".{c}" for c in sorted((element.get("class") or "").split())[:3])


def _has_own_text(element: HtmlElement) -> bool:
    return bool((element.text or "").strip()) or any((c.tail or "").strip() for c in element)


def template_fingerprints(blocks: dict[str, PageBlock], lines: list[str]) -> list[int]:
    """The fingerprints to count for a page: those of its extracted lines that may be template, sorted (so
    concurrent writers lock counter rows in one order)."""
    prints: set[int] = set()
    for line in lines:
        block = blocks.get(block_key(line))
        if block is not None and block.is_template_candidate:
            prints.update(block.fingerprints)
    return sorted(prints)


def is_template(block: PageBlock | None, templates: frozenset[int] | set[int]) -> bool:
    return block is not None and block.is_template_candidate and not block.fingerprints.isdisjoint(templates)


def teaser_runs(lines: list[str], blocks: dict[str, PageBlock]) -> set[int]:
    """Indexes of the lines that are runs of teasers for other stories.

    A teaser is a line that is all link and short: a headline or lead pointing elsewhere. A run is two or
    more teasers, each possibly followed by one short unlinked line (its lead); a lead ends a run only at the
    end of the text, so the body's next short paragraph is never taken for one. One linked line alone, and
    short unlinked paragraphs anywhere else, stay."""
    teasers = [is_linked_teaser(blocks.get(block_key(line))) for line in lines]
    drop: set[int] = set()
    run: list[int] = []
    for index, line in enumerate(lines):
        if teasers[index]:
            run.append(index)
        elif run and run[-1] == index - 1 and teasers[index - 1] and len(line.split()) <= MAX_TEASER_WORDS:
            run.append(index)
        else:
            drop.update(_complete_run(run, teasers, at_end=False))
            run = []
    drop.update(_complete_run(run, teasers, at_end=True))
    return drop


def _complete_run(run: list[int], teasers: list[bool], at_end: bool) -> list[int]:
    if run and not teasers[run[-1]] and not at_end:
        run = run[:-1]
    return run if sum(teasers[i] for i in run) >= 2 else []


def is_linked_teaser(block: PageBlock | None) -> bool:
    return block is not None and block.is_linked_teaser
