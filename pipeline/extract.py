"""Extract: the main text and metadata of one document, HTML (trafilatura) or plain text."""
from __future__ import annotations

import json
import re
from copy import copy
from dataclasses import dataclass, field
from functools import cache
from itertools import chain
from typing import Callable, Iterable
from urllib.parse import urljoin

import lxml.html
import trafilatura
from lxml.cssselect import CSSSelector
from lxml.etree import ElementDefaultClassLookup, XPath
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HTMLParser, HtmlProcessingInstruction, fromstring
from trafilatura import external
from trafilatura.htmlprocessing import convert_tags, tree_cleaning
from trafilatura.main_extractor import extract_content
from trafilatura.metadata import examine_meta, extract_meta_json, extract_sitename, extract_title
from trafilatura.settings import Document as PageMetadata
from trafilatura.settings import Extractor
from trafilatura.utils import DOCTYPE_TAG, decode_file, is_dubious_html, repair_faulty_html
from trafilatura.xml import delete_element, xmltotxt

from pipeline.template import PageBlock, block_key, element_text, page_blocks
from pipeline.xpaths_in_python import replaced_globals, trafilatura_xpaths_in_python

# The method as well as the library: trafilatura's main extractor, its default mode only on doubtful pages, the
# standfirst and key points the page prints before the body, the live blog entries its JSON-LD lists that the
# extractor missed, and no text drawn for screen readers only.
EXTRACTOR_VERSION = (
    f"trafilatura-{trafilatura.__version__}+second-opinion-1+standfirst-1+key-points-1+live-blog-1+no-sr-text-1"
)

HTML_SNIFF = re.compile(r"<(?:!doctype\s+html|html|head|body|article|meta|title|p|div)[\s>/]", re.IGNORECASE)
# The meta tags that give the publication time: (attribute, value) pairs.
PUBLISHED_META = frozenset({
    ("property", "article:published_time"), ("name", "article:published_time"), ("itemprop", "datePublished"),
    ("property", "og:published_time"),
})
JSON_LD_PUBLISHED = re.compile(r'"datePublished"\s*:\s*"([^"]+)"')
# What trafilatura's repair_faulty_html takes out of a page besides tab and line breaks (utils.INVALID_XML_CHARS):
# the ASCII control characters, as UTF-8 bytes, and two noncharacters.
CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
NONCHARACTERS = ("\ufffe", "\uffff")


# The main extractor's result is doubtful when short, a small share of the page's text, or mostly link text.
MIN_CONFIDENT_CHARS = 250
MIN_CONFIDENT_PAGE_SHARE = 0.1
MAX_CONFIDENT_LINK_SHARE = 0.3
# How much of a live blog entry's text (as a block key) must be in the extracted text for the entry to count as found.
UPDATE_PROBE_CHARS = 60
MIN_STANDFIRST_WORDS = 6
# The headers of a box of summary points above an article, in the languages feedpipe reads most.
SUMMARY_HEADERS = (
    "Key Points", "Key points:", "Key takeaways", "Takeaways", "Highlights", "Summary", "In brief", "At a glance",
    "What you need to know", "Das Wichtigste in Kürze", "Das Wichtigste", "Auf einen Blick", "In Kürze", "En bref",
    "L'essentiel", "Lo más importante", "Lo esencial", "In breve", "W skrócie", "Najważniejsze",
)
SUMMARY_HEADER_KEYS = frozenset(block_key(h) for h in SUMMARY_HEADERS)
MAX_SUMMARY_HEADER_CHARS = 60
MAX_KEY_POINTS = 6
MIN_KEY_POINT_WORDS = 5
MAX_STANDFIRST_LINK_SHARE = 0.5
# Text drawn for screen readers only, under the accessibility classes of the common CSS frameworks (Bootstrap's
# sr-only, WordPress's screen-reader-text, visually-hidden): a second copy of a headline or a label no reader sees.
SCREEN_READER_CLASSES = frozenset({
    "sr-only", "screen-reader-text", "visually-hidden", "visuallyhidden", "screenreader-only",
})
HIDDEN_TAGS = frozenset({"script", "style", "noscript", "template"})
TEXT_NODES = XPath(".//text()", smart_strings=False)
# The tests of trafilatura's raw-tree prunes (`xpaths.RAW_TREE_PRUNE_XPATH`, then
# `REMOVE_COMMENTS_AND_LISTS_XPATH`), for `prune_raw_tree`: the patterns of their `re:test` calls and their tags.
APPENDED_ARTICLE_TAGS = frozenset({"div", "section", "aside"})
COMMENTS_TAGS = frozenset({"div", "list", "section", "details", "ol", "ul"})
INFINITE_SCROLL = re.compile(r"mvp-post-add-(?:box|wrap)|infinite-?scroll")
APPENDED_ARTICLE = re.compile(r"mvp-post-add-(?:box|wrap)")
SHARE_BUTTONS_CLASS = "elementor-share-buttons"
COMMENTS_ID = re.compile(r"^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)")
COMMENT_LIST_ID = re.compile(r"^(?:[Cc]omment(?!ary)|comol)")
COMMENTS_CLASS = re.compile(r"^[Cc]omment(?!ary)|(?:article|post)-comments")


class PageElement(HtmlElement):
    """An element of a parsed page: lxml.html's, with its `text_content()` read by lxml's C text serializer.

    lxml.html evaluates an XPath expression (`string()`) at each call, about three times the cost; trafilatura's
    pruning and readability ask for the text of about 200 elements a page. Both give libxml2's content of the
    element (its text nodes, in order): the same string on every element of the dev pages."""

    def text_content(self) -> str:
        return element_text(self)


def _page_parser() -> HTMLParser:
    """trafilatura's HTML parser, except that every element's Python class is chosen in C.

    lxml.html's own parser calls a Python method (`HtmlElementClassLookup.lookup`) each time any code reaches
    an element it has no live Python object for, which trafilatura's passes and ours do thousands of times a
    page: about a tenth of processing a page (bench/README.md). Here every element is a PageElement (lxml.html's
    form elements lose their form helpers, which nothing here uses); the trees, and so the extracted text, are
    the same."""
    parser = HTMLParser(collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True,
                        remove_pis=True)
    parser.set_element_class_lookup(ElementDefaultClassLookup(
        element=PageElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity))
    return parser


PAGE_PARSER = _page_parser()


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
    # Whether the main extractor's result was doubtful and trafilatura's default mode gave the text instead.
    second_opinion: bool = False
    # The summary printed between the headline and the body, when the extractor left it out (`page_standfirst`).
    standfirst: str | None = None
    # The points of a "Key Points" box above the body, when the extractor left them out (`page_key_points`).
    key_points: list[str] = field(default_factory=list)


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


def parse_page(html: str) -> HtmlElement | None:
    """The page's tree as trafilatura's `load_html` parses a decoded page (its repair of faulty markup, its
    retry with bytes, its rejection of what is not HTML), with PAGE_PARSER; None when it is not HTML.

    Most pages need no repair, and telling so (`needs_repair`) costs a quarter of the repair's regular
    expression search of the whole page for the characters XML forbids (about 1.2 ms on a news page)."""
    beginning = html[:50].lower()
    if needs_repair(html, beginning):
        html = repair_faulty_html(html, beginning)
    try:
        tree = fromstring(html, parser=PAGE_PARSER)
    except Exception:  # noqa: BLE001 - as load_html: a string lxml refuses (one declaring its encoding) goes as bytes
        tree = None
    if tree is None or len(tree) < 1:
        tree = _parse_bytes(html)
    if tree is not None and is_dubious_html(beginning) and len(tree) < 2:
        return None
    return tree


def needs_repair(html: str, beginning: str) -> bool:
    """Whether trafilatura's `repair_faulty_html` changes the page: when it holds characters XML forbids
    (utils.INVALID_XML_CHARS: ASCII control characters, found among the page's UTF-8 bytes, where they stand
    for themselves only, and two noncharacters), a doctype it rewrites on the first line (or no line break,
    which the rewrite adds), or a self-closing <html/> tag in the first lines."""
    markup = html.encode("utf-8", "surrogatepass")
    if len(markup.translate(None, CONTROL_BYTES)) < len(markup) or any(c in html for c in NONCHARACTERS):
        return True
    if "doctype" in beginning:
        first_line_end = html.find("\n")
        if first_line_end < 0 or DOCTYPE_TAG.match(html, 0, first_line_end):
            return True
    return any("<html" in line and line.endswith("/>") for line in html[:4096].splitlines()[:4])


def _parse_bytes(html: str) -> HtmlElement | None:
    try:
        return fromstring(html.encode("utf-8", "surrogatepass"), parser=PAGE_PARSER)
    except Exception:  # noqa: BLE001 - as trafilatura's load_html: unparseable bytes are no page
        return None


def extract_html(html: str | bytes, url: str | None = None, drop_selectors: Iterable[str] = ()) -> ExtractedPage:
    """Run trafilatura on a page, after dropping the elements the publisher's CSS selectors name.

    The page is parsed once: the metadata is read from it first, then its scripts and styles go; trafilatura
    works on copies of that tree, and the tree itself gives the page's blocks (pipeline.template) that template
    and teaser detection look up. Paragraphs are the lines of trafilatura's main text, without reader comments:
    its main extractor alone first, and only when that result is doubtful (`is_doubtful`) its default mode,
    which compares the result with readability's and jusText's and keeps the one its heuristics support."""
    tree = parse_page(decode_file(html))
    if tree is None:
        raise UnreadableDocument("the HTML could not be parsed")
    for selector in drop_selectors:
        for element in CSSSelector(selector)(tree):
            element.drop_tree()
    metadata = page_metadata(tree)
    json_ld = drop_scripts_and_styles(tree)
    published = page_published(tree, json_ld)
    updates = live_blog_updates(json_ld)
    # The description and the headers of summary boxes are looked up among the page's blocks with the lines.
    wanted = [*([metadata.description] if metadata.description else []), *SUMMARY_HEADERS]
    lines = text_lines(main_text(tree, url))
    blocks = page_blocks(tree, [*lines, *wanted])
    doubtful = is_doubtful(extraction_signals(lines, blocks, tree))
    if doubtful:
        lines = text_lines(second_opinion(tree, url))
        blocks = page_blocks(tree, [*lines, *wanted])
    authors = [a.strip() for a in (metadata.author or "").split(";") if a.strip()]
    return ExtractedPage(
        title=metadata.title,
        paragraphs=[*lines, *missing_updates(lines, updates)],
        authors=authors,
        published=published,
        canonical_url=page_canonical_url(tree, url),
        site_name=metadata.sitename,
        blocks=blocks,
        second_opinion=doubtful,
        standfirst=page_standfirst(metadata.description, lines, blocks),
        key_points=page_key_points(tree, lines, blocks),
    )


def page_standfirst(description: str | None, lines: list[str], blocks: dict[str, PageBlock]) -> str | None:
    """The page's standfirst, when the extractor left it out: the summary the page's metadata gives as its
    description, printed word for word on the page as a text of its own (not a link) before the extracted body,
    and a sentence long at least. A description printed nowhere, or only inside the body, or after it, is not
    one."""
    if not description or not lines:
        return None
    key = block_key(description)
    block = blocks.get(key)
    if block is None or block.words < MIN_STANDFIRST_WORDS or block.link_share >= MAX_STANDFIRST_LINK_SHARE:
        return None
    line_keys = [block_key(line) for line in lines]
    body = body_position(line_keys, blocks)
    if key in line_keys or body is None or block.position >= body:
        return None
    return " ".join(description.split())


def body_position(line_keys: list[str], blocks: dict[str, PageBlock]) -> int | None:
    """Where the extracted body starts on the page: the first place of its first lines' blocks."""
    positions = [blocks[k].position for k in line_keys[:3] if k in blocks]
    return min(positions) if positions else None


def page_key_points(tree: HtmlElement, lines: list[str], blocks: dict[str, PageBlock]) -> list[str]:
    """The points of a summary box above the body: a header such as "Key Points" or "Das Wichtigste in Kürze"
    (SUMMARY_HEADERS) on the page before the extracted body, and the first of the next lists whose items are
    all sentences (MIN_KEY_POINT_WORDS words or more) and not links, up to MAX_KEY_POINTS of them. Points the
    extracted text holds as lines of their own are not repeated. The tree is searched only when such a header
    came before the body among the page's blocks."""
    line_keys = [block_key(line) for line in lines]
    body = body_position(line_keys, blocks)
    headers = {k for k in SUMMARY_HEADER_KEYS if k in blocks and body is not None and blocks[k].position < body}
    if not headers:
        return []
    root = tree.find("body")
    for header in (root if root is not None else tree).iter():
        text = header.text
        if not text or len(text) > MAX_SUMMARY_HEADER_CHARS or not isinstance(header.tag, str):
            continue
        if block_key(text) not in headers:
            continue
        following_lists = header.xpath("following::*[self::ul or self::ol][position() <= 2]")
        for items in (list(found.iter("li")) for found in following_lists):
            points = [" ".join(element_text(item).split()) for item in items]
            linked = sum(len(" ".join(element_text(a).split())) for item in items for a in item.iter("a"))
            if (0 < len(points) <= MAX_KEY_POINTS and all(len(p.split()) >= MIN_KEY_POINT_WORDS for p in points)
                    and linked < MAX_STANDFIRST_LINK_SHARE * sum(len(p) for p in points)):
                return [p for p in points if block_key(p) not in line_keys]
        return []
    return []


@dataclass(frozen=True)
class LiveBlogUpdate:
    headline: str | None
    lines: list[str]


def live_blog_updates(json_ld: list[str]) -> list[LiveBlogUpdate]:
    """The entries of a live blog as the page's JSON-LD lists them (schema.org `LiveBlogPosting`, its
    `liveBlogUpdate` items: each one's headline and text)."""
    updates = []
    for script in json_ld:
        if "liveBlogUpdate" not in script:
            continue
        try:
            data = json.loads(script)
        except ValueError:
            continue
        for item in _json_ld_items(data):
            for update in item.get("liveBlogUpdate") or ():
                if not isinstance(update, dict) or not isinstance(body := update.get("articleBody"), str):
                    continue
                if "<" in body:
                    body = lxml.html.fragment_fromstring(body, create_parent="div").text_content()
                headline = update.get("headline")
                headline = headline.strip() if isinstance(headline, str) else None
                updates.append(LiveBlogUpdate(headline, text_lines(body)))
    return [u for u in updates if u.lines]


def _json_ld_items(data: object) -> list[dict]:
    """The objects of a JSON-LD document: itself, the items of a list, or its @graph."""
    items = data if isinstance(data, list) else [data]
    found = []
    for item in items:
        if isinstance(item, dict):
            found.append(item)
            found.extend(i for i in item.get("@graph") or () if isinstance(i, dict))
    return found


def missing_updates(lines: list[str], updates: list[LiveBlogUpdate]) -> list[str]:
    """The lines of a live blog's entries the extractor missed (the page often renders them apart from the
    article, where trafilatura does not look): each missing entry's headline and text, in the JSON-LD's order.
    An entry counts as found when the start of its text is in the extracted text."""
    extracted = block_key(" ".join(lines))
    missing = []
    for update in updates:
        if block_key(" ".join(update.lines))[:UPDATE_PROBE_CHARS] not in extracted:
            missing.extend([update.headline] if update.headline else [])
            missing.extend(update.lines)
    return missing


def drop_scripts_and_styles(tree: HtmlElement) -> list[str]:
    """Take scripts, styles, inline SVG and the spans drawn for screen readers only out of the tree once the
    metadata has been read from it, in one pass, and return the texts of its JSON-LD scripts.

    No extractor keeps the text of scripts, styles or SVG, and without them every copy and pass over the tree is
    cheaper (about 3% of a page's cost, 13% of a second opinion's). JSON-LD stays: trafilatura tells a forum
    thread by it. Text for screen readers only (SCREEN_READER_CLASSES) would be printed beside the visible text
    ("Headline Headline") and hide that a teaser's headline is all link; only spans are looked at, as such text
    nearly always is one (a walk of every element for a class costs about 2 ms on a news page)."""
    json_ld = []
    for element in list(tree.iter("script", "style", "svg", "span")):
        if element.tag == "span":
            if not SCREEN_READER_CLASSES.isdisjoint((element.get("class") or "").split()):
                element.drop_tree()
        elif element.tag == "script" and element.get("type") == "application/ld+json":
            if element.text:
                json_ld.append(element.text)
        else:
            element.drop_tree()
    return json_ld


def main_text(tree: HtmlElement, url: str | None) -> str:
    """trafilatura's main extractor alone, on a copy of the tree: what `bare_extraction(fast=True,
    include_comments=False)` runs before its rescue stages (a baseline dump when the text is short, a
    recall-mode retry when it covers little of the page), which cost a copy of the tree each and are left to
    `second_opinion` on the pages `is_doubtful` picks. Two more copies of the tree that bare_extraction makes
    are saved too: about a quarter of its cost."""
    options = Extractor(fast=True, comments=False, url=url)
    work = prune_raw_tree(copy(tree))
    with trafilatura_xpaths_in_python():
        body, text = extract_content(convert_tags(tree_cleaning(work, options), options, url), options)
    return xmltotxt(body, options.formatting) if len(text) >= options.min_output_size else ""


def prune_raw_tree(tree: HtmlElement) -> HtmlElement:
    """What trafilatura's raw-tree prunes take out of a tree (`xpaths.RAW_TREE_PRUNE_XPATH`: containers of
    articles appended by infinite scrolling, Elementor's share buttons; then `REMOVE_COMMENTS_AND_LISTS_XPATH`:
    reader comments), each in turn, in a fifth of their time.

    Their XPath expressions call back into Python (`re:test`) on every div, section or list of the page (about
    3.4 ms of a 34 ms page); here one walk reads the id and class of those elements and the same patterns
    test them. The matches of each prune are taken before it deletes any, as XPath would; a later prune's
    matches inside a container an earlier one deleted are deleted from that detached container only, which
    leaves the tree as the XPath expressions, which no longer see them, leave it. A test holds the two to the
    same trees, so a trafilatura release that changes the expressions fails it."""
    candidates = ((element, element.get("id") or "", element.get("class") or "")
                  for element in tree.iterdescendants(*APPENDED_ARTICLE_TAGS, *COMMENTS_TAGS))
    named = [(element, id_, class_) for element, id_, class_ in candidates if id_ or class_]
    for prune in RAW_TREE_PRUNES:
        for element in [element for element, id_, class_ in named if prune(element, id_, class_)]:
            delete_element(element)
    return tree


def _is_appended_article(element: HtmlElement, id_: str, class_: str) -> bool:
    return (element.tag in APPENDED_ARTICLE_TAGS
            and bool(INFINITE_SCROLL.search(id_) or INFINITE_SCROLL.search(class_))
            and (next(element.iterdescendants("h1"), None) is None
                 or bool(APPENDED_ARTICLE.search(id_) or APPENDED_ARTICLE.search(class_))))


def _is_share_buttons(element: HtmlElement, id_: str, class_: str) -> bool:
    return element.tag in APPENDED_ARTICLE_TAGS and SHARE_BUTTONS_CLASS in class_


def _is_comments(element: HtmlElement, id_: str, class_: str) -> bool:
    return (element.tag in COMMENTS_TAGS
            and bool(COMMENTS_ID.search(id_) or COMMENTS_CLASS.search(class_))
            and (element.tag not in ("ol", "ul") or bool(COMMENT_LIST_ID.search(id_) or COMMENTS_CLASS.search(class_))))


RAW_TREE_PRUNES: tuple[Callable[[HtmlElement, str, str], bool], ...] = (
    _is_appended_article, _is_share_buttons, _is_comments,
)


def second_opinion(tree: HtmlElement, url: str | None) -> str:
    """trafilatura in its default mode: the main extractor's result compared with readability's and jusText's,
    rescued by a baseline dump or a recall-mode retry when short (on a copy of the tree)."""
    with trafilatura_xpaths_in_python(), replaced_globals([(external, "JT_STOPLIST", justext_stopwords())]):
        result = trafilatura.bare_extraction(tree, url=url, include_comments=False, with_metadata=False)
    return (result.text if result else None) or ""


@cache
def justext_stopwords() -> frozenset[str]:
    """All of jusText's stop words, for its classifier on pages of no known language, as the set it makes of them.

    trafilatura hands jusText a tuple of its 154,000 stop words (`external.JT_STOPLIST`), and jusText remembers
    the set it makes from a stop list by that list: it hashes the whole tuple on every call, 5 ms. A frozenset
    keeps its hash, and gives jusText the same set."""
    return frozenset(word.lower() for word in external.JT_STOPLIST or external.jt_stoplist_init())


def text_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class ExtractionSignals:
    """What cheaply tells a doubtful extraction: its length, the page's visible text, its link text."""

    text_chars: int
    page_chars: int
    link_share: float


def extraction_signals(lines: list[str], blocks: dict[str, PageBlock], tree: HtmlElement) -> ExtractionSignals:
    """The signals of an extraction: `link_share` weighs each line's words by how much of its block is link
    text (a line whose block was not found counts as unlinked)."""
    words = [len(line.split()) for line in lines]
    linked = sum(w * blocks[key].link_share for line, w in zip(lines, words) if (key := block_key(line)) in blocks)
    return ExtractionSignals(
        text_chars=sum(len(line) for line in lines),
        page_chars=visible_text_chars(tree),
        link_share=linked / sum(words) if words else 0.0,
    )


def is_doubtful(signals: ExtractionSignals) -> bool:
    """Whether the main extractor's result deserves a second opinion: under MIN_CONFIDENT_CHARS, under
    MIN_CONFIDENT_PAGE_SHARE of the page's visible text (the article was probably missed), or mostly link text
    (a list of links was probably taken for the article)."""
    return (
        signals.text_chars < MIN_CONFIDENT_CHARS
        or signals.text_chars < MIN_CONFIDENT_PAGE_SHARE * signals.page_chars
        or signals.link_share >= MAX_CONFIDENT_LINK_SHARE
    )


def visible_text_chars(tree: HtmlElement) -> int:
    """Characters of text in the page's body, outside scripts, styles and templates, without surrounding
    whitespace.

    The text nodes under the body are the texts and tails of its elements but its own tail; libxml2 lists them
    (TEXT_NODES) without a Python object for each element, in a third of the time of a walk of the elements."""
    body = tree.find("body")
    root = body if body is not None else tree
    chars = sum(map(len, map(str.strip, TEXT_NODES(root))))
    chars -= sum(len(element.text.strip()) for element in root.iter(*HIDDEN_TAGS) if element.text)
    return chars + len((root.tail or "").strip())


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
    """The address the page declares for itself: `<link rel=canonical>`, else `og:url`, made absolute.

    The page's links and metas are read by walking its elements of those tags, which lxml picks out in C: an
    XPath search of the whole document (`//link[@rel="canonical"]`) costs about three times as much."""
    declared = chain((link.get("href") for link in tree.iter("link") if link.get("rel") == "canonical"),
                     (meta.get("content") for meta in tree.iter("meta") if meta.get("property") == "og:url"))
    for value in declared:
        if value is not None and value.strip():
            return urljoin(url, value.strip()) if url else value.strip()
    return None


def page_published(tree: HtmlElement, json_ld: list[str]) -> str | None:
    """The publication time in the page's metadata (article time tags, then its JSON-LD scripts' texts), ISO
    8601.

    Nothing is guessed from the text: without metadata the feed entry's date stands in (htmldate's search of
    the page cost about 25 ms on a third of the pages and is left out)."""
    for meta in tree.iter("meta"):
        value = meta.get("content")
        if value is not None and value.strip() and any(pair in PUBLISHED_META for pair in meta.items()):
            return value.strip()
    for script in json_ld:
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
