"""trafilatura's XPath expressions that read ids and classes, answered in Python several times faster.

trafilatura's main extractor finds a page's body (`BODY_XPATH`) and prunes it (`OVERALL_DISCARD_XPATH`,
`TEASER_DISCARD_XPATH`, `DISCARD_IMAGE_ELEMENTS`), and its baseline extractor cleans a page (`BASIC_CLEAN_XPATH`),
with XPath expressions that test the id, class and a few other attributes of every div, section, paragraph and
span, most of them with `re:test` calls back into Python: about a sixth of a page's processing, more on the pages
that get a second opinion, which extracts several times. Here one walk per expression reads the attributes of each
element of its tags once and tests them with the same patterns and XPath's rules: a missing attribute reads as "",
`translate` is a character swap, and `@id|@class` reads whichever of the two comes first in the tag. A page
repeats its elements' attributes (and a site its pages'), so each test remembers its answers; a search of the long
alternations costs several microseconds, as does each attribute lxml reads.

Each function returns the elements its expression returns, in document order, so trafilatura's
`prune_unwanted_nodes` treats them as it treats the expressions' results (the guard against pruning too much
included); for `BODY_XPATH`, whose results the extractor reads only the first of, just that first element. A test
holds them to trafilatura's own expressions on every branch and on whole pages, so a release that changes the
expressions fails it. Measured on fundus-eval's cleaned pages: the discard expressions 0.8 against 5.3 ms a page;
in lockstep, a page's processing 33.60 -> 27.93 ms with all of them (bench/README.md).
"""
from __future__ import annotations

import importlib
import re
from contextlib import contextmanager
from functools import lru_cache
from itertools import islice
from types import ModuleType
from typing import Callable, Iterator, Sequence

from lxml.etree import Element
from lxml.html import HtmlElement
from trafilatura import external, main_extractor, xpaths

# The module: the package's `trafilatura.baseline` is the function of that name.
baseline = importlib.import_module("trafilatura.baseline")
Attributes = tuple[tuple[str, str], ...]
Selector = Callable[[HtmlElement], list[HtmlElement]]
ATTRIBUTE_LISTS_REMEMBERED = 1 << 12
BLOCK_TAGS = ("div", "item", "list", "p", "section", "span")
BODY_TAGS = ("article", "div", "main", "section")

CONSENT = re.compile("cookie")
BOILERPLATE_ID = re.compile(
    "^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author|^(?:jp-|dpsp-content)"
    "|bmdh|footer|Footer|share|Share|nav|Nav|menu|related|message-container|premium|^ad-"
)
BOILERPLATE_CLASS = re.compile(
    "^shar|social|viral|newsletter|syndication|tags|sidebar|banner|bread-?crumb|button|author"
    "|^(?:nav|post-nav|ZendeskForm)|subnav|avigation|navbar|navbox|menu|bar| ad |-ad-|(?:^| )ad-|dfp[Aa]d|outbrain"
    "|taboola|criteo|paid-?content|widget|footer|Footer|byline|Byline|share-|sociable|embedded|embed|tag-list"
    "|consent|modal-content|permission|elated|next-|-stories|most-popular|more-on|meta|rating|attachment|timestamp"
    "|user-info|user-profile|-icon|article-infos|message-container|slide|viewport|overlay|options|expand|obfuscated"
    "|blurred|mol-factbox|yin|zlylin|nfoline"
)
HIDDEN_ID = re.compile("reader-comments|akismet")
HIDDEN_CLASS = re.compile(
    "^hide-|comments-title|nocomments|-reply-|message|akismet|suggest-links|-hide-|hide-print| hidden| hide|noprint"
    "|notloaded"
)
ARTICLE_BODY_ID = re.compile(
    "(?:entry|article|art)-content|article__content|article(?:-|__)?body|articleBody|body-text"
)
ARTICLE_BODY_CLASS = re.compile(
    "post[-_]text|post-body|post-?entry|post[-_]?content|postContent|post_inner_wrapper|article-?text|articleText"
    "|(?:entry|page|text|article|art)-content|article__content|article(?:-|__)?body|articleBody|ArticleContent"
    "|body-text|article__container"
)
STORY_ID = re.compile("^primary|story-body")
STORY_CLASS = re.compile(
    "^article |post-bodycopy|story-?content|(?:theme|blog|section|single)-content|single-post|main-column"
    "|wpb_text_column|story-body|field-body"
)
FULLTEXT = re.compile("fulltext", re.IGNORECASE)
MAIN_CONTENT_ID = re.compile("content-main|content-body|contentBody")
MAIN_CONTENT_CLASS = re.compile("content[-_]main|content(?:-|__)body")
CLEANED_TAGS = frozenset({"aside", "fencedframe", "footer", "script", "style", "svg", "template"})
COOKIE_CONSENT = re.compile(
    "cookie[-_]?(?:banner|bar|consent|law|notice|policy|description)|notice[-_]{0,2}cookie"
    "|consent[-_]?(?:banner|manager|sdk)|borlabs|cookiebot|cmplz|onetrust|moove[-_]?gdpr",
    re.IGNORECASE,
)


def first_of(attributes: Attributes, names: tuple[str, str]) -> str:
    """XPath's string value of `@a|@b`: the value of whichever of the two attributes comes first in the tag."""
    for name, value in attributes:
        if name in names:
            return value
    return ""


def selector(tags: tuple, test: Callable[[str, Attributes], bool], first_only: bool = False) -> Selector:
    """The descendants of a tree with one of `tags` (lxml's `Element` for any element) that pass `test`, in
    document order; with `first_only`, the first of them alone."""
    remembered = lru_cache(maxsize=ATTRIBUTE_LISTS_REMEMBERED)(test)

    def select(tree: HtmlElement) -> list[HtmlElement]:
        matches = (element for element in tree.iterdescendants(*tags)
                   if remembered(element.tag, tuple(element.items())))
        return list(islice(matches, 1)) if first_only else list(matches)

    return select


def _boilerplate(tag: str, attributes: Attributes) -> bool:
    """OVERALL_DISCARD_XPATH's first expression: navigation, consent, share, ad, related and meta blocks."""
    values = dict(attributes)
    return ("data-lp-replacement-content" in values
            or "nav" in values.get("role", "").replace("N", "n")
            or "MostPopularStories" in values.get("data-component", "")
            or CONSENT.search(first_of(attributes, ("id", "class"))) is not None
            or BOILERPLATE_ID.search(values.get("id", "")) is not None
            or BOILERPLATE_CLASS.search(values.get("class", "")) is not None)


def _hidden(tag: str, attributes: Attributes) -> bool:
    """OVERALL_DISCARD_XPATH's second expression: hidden elements, comment titles and replies, print-only and
    unloaded blocks."""
    values = dict(attributes)
    class_, style = values.get("class", ""), values.get("style", "")
    return (class_ == "comments-title"
            or first_of(attributes, ("id", "class")).startswith("reply-")
            or "hidden" in first_of(attributes, ("id", "style"))
            or "display:none" in style or "display: none" in style
            or HIDDEN_ID.search(values.get("id", "")) is not None
            or HIDDEN_CLASS.search(class_) is not None
            or values.get("aria-hidden") == "true")


def _teaser(tag: str, attributes: Attributes) -> bool:
    """TEASER_DISCARD_XPATH: teaser blocks."""
    values = dict(attributes)
    return "teaser" in values.get("id", "").replace("T", "t") or "teaser" in values.get("class", "").replace("T", "t")


def _caption(tag: str, attributes: Attributes) -> bool:
    """DISCARD_IMAGE_ELEMENTS: image captions."""
    values = dict(attributes)
    return "caption" in values.get("id", "") or "caption" in values.get("class", "")


def _article_body(tag: str, attributes: Attributes) -> bool:
    """BODY_XPATH's first expression: the containers CMSs mark as the article's body."""
    values = dict(attributes)
    id_, class_ = values.get("id", ""), values.get("class", "")
    return (class_ in ("post", "entry") or values.get("itemprop") == "articleBody" or id_ == "articleContent"
            or ARTICLE_BODY_ID.search(id_) is not None or ARTICLE_BODY_CLASS.search(class_) is not None)


def _story(tag: str, attributes: Attributes) -> bool:
    """BODY_XPATH's third expression: story containers."""
    values = dict(attributes)
    id_, class_ = values.get("id", ""), values.get("class", "")
    return (values.get("role") == "article" or id_ in ("article", "story")
            or class_ in ("postarea", "art-postcontent", "text", "cell", "story")
            or STORY_ID.search(id_) is not None or FULLTEXT.search(class_) is not None
            or STORY_CLASS.search(class_) is not None)


def _main_content(tag: str, attributes: Attributes) -> bool:
    """BODY_XPATH's fourth expression: main-content containers."""
    values = dict(attributes)
    id_, class_ = values.get("id", ""), values.get("class", "")
    return (id_ == "content" or class_ == "content"
            or MAIN_CONTENT_ID.search(id_) is not None or MAIN_CONTENT_CLASS.search(class_) is not None
            or "main-content" in id_.replace("C", "c").replace("M", "m")
            or "main-content" in class_.replace("C", "c").replace("M", "m")
            or "page-content" in class_.replace("C", "c").replace("P", "p"))


def _main(tag: str, attributes: Attributes) -> bool:
    """BODY_XPATH's last expression: the first <main>, or the first block whose class, id or role starts with
    "main", whichever comes first."""
    values = dict(attributes)
    return tag == "main" or any(values.get(name, "").startswith("main") for name in ("class", "id", "role"))


def _basic_clean(tag: str, attributes: Attributes) -> bool:
    """BASIC_CLEAN_XPATH (the baseline extractor's and the page measure's cleaning): asides, footers, scripts,
    styles, SVG, templates, and cookie banners."""
    values = dict(attributes)
    return (tag in CLEANED_TAGS
            or (tag == "div" and "footer" in first_of(attributes, ("class", "id")))
            or COOKIE_CONSENT.search(values.get("class", "")) is not None
            or COOKIE_CONSENT.search(values.get("id", "")) is not None)


OVERALL_DISCARD = [selector(BLOCK_TAGS, _boilerplate), selector((Element,), _hidden)]
TEASER_DISCARD = [selector(BLOCK_TAGS, _teaser)]
IMAGE_DISCARD = [selector(BLOCK_TAGS, _caption)]
BODY = [
    selector(BODY_TAGS, _article_body, first_only=True),
    xpaths.BODY_XPATH[1],  # `(.//article)[1]` reads no attribute: trafilatura's own is as fast
    selector(BODY_TAGS, _story, first_only=True),
    selector(BODY_TAGS, _main_content, first_only=True),
    selector(BODY_TAGS, _main, first_only=True),
]

BASIC_CLEAN = selector((Element,), _basic_clean)

# (module, global, what replaces it): the globals trafilatura's functions read at each call.
REPLACEMENTS: list[tuple[ModuleType, str, list[Selector] | Selector]] = [
    (main_extractor, "BODY_XPATH", BODY),
    (main_extractor, "OVERALL_DISCARD_XPATH", OVERALL_DISCARD),
    (external, "OVERALL_DISCARD_XPATH", OVERALL_DISCARD),
    (main_extractor, "TEASER_DISCARD_XPATH", TEASER_DISCARD),
    (main_extractor, "DISCARD_IMAGE_ELEMENTS", IMAGE_DISCARD),
    (baseline, "BASIC_CLEAN_XPATH", BASIC_CLEAN),
]


@contextmanager
def trafilatura_xpaths_in_python() -> Iterator[None]:
    """Within this block, trafilatura's main extractor and its jusText/readability comparison use the selectors
    above instead of their XPath expressions. Scoped, so raw trafilatura run elsewhere in the process, as the
    benchmarks' baselines are, stays trafilatura's own."""
    with replaced_globals(REPLACEMENTS):
        yield


@contextmanager
def replaced_globals(replacements: Sequence[tuple[ModuleType, str, object]]) -> Iterator[None]:
    """Within this block, each (module, global) reads as its replacement; the originals are back after it."""
    originals = [getattr(module, name) for module, name, _ in replacements]
    for module, name, replacement in replacements:
        setattr(module, name, replacement)
    try:
        yield
    finally:
        for (module, name, _), original in zip(replacements, originals, strict=True):
            setattr(module, name, original)
