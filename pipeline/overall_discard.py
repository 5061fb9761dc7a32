"""trafilatura's `OVERALL_DISCARD_XPATH` (navigation, ads, share bars, hidden blocks) answered 3-7 times faster.

trafilatura prunes every candidate body with two XPath expressions whose `re:test` calls go back into Python for
each div, paragraph, list and span (the first) and each element (the second), three calls an element: about a tenth
of a page's processing, more on the pages that get a second opinion, which prunes several trees. Here one walk per
expression reads the attributes of each element that has any, once, and tests them with the same patterns and
XPath's rules: a missing attribute reads as "", and `@id|@class` reads whichever of the two comes first in the
tag. Each function returns the elements its expression returns, in document order, so trafilatura's
`prune_unwanted_nodes` treats them as it treats the expressions' results (the guard against pruning too much
included): 0.8 against 5.3 ms on a cleaned fundus-eval page, 3.2 against 10.3 ms on a whole dev page seen first.
A test holds both to trafilatura's own expressions, so a release that changes them fails it.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

from lxml.etree import Element
from lxml.html import HtmlElement
from trafilatura import external, main_extractor

BOILERPLATE_TAGS = ("div", "item", "list", "p", "section", "span")
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


# A page repeats its elements' attributes (and a site its pages'), and a search of the long alternations costs
# several microseconds, as does each attribute lxml reads: each expression reads an element's attributes once, and
# remembers its answer for the attribute lists it has seen.
ATTRIBUTE_LISTS_REMEMBERED = 1 << 14
Attributes = tuple[tuple[str, str], ...]


def first_of(attributes: Attributes, names: tuple[str, str]) -> str:
    """XPath's string value of `@a|@b`: the value of whichever of the two attributes comes first in the tag."""
    for name, value in attributes:
        if name in names:
            return value
    return ""


def boilerplate_sections(tree: HtmlElement) -> list[HtmlElement]:
    """The first expression: navigation, consent, share, ad, related and meta blocks by their id, class or role."""
    return [element for element in tree.iterdescendants(*BOILERPLATE_TAGS)
            if element.attrib and _is_boilerplate(tuple(element.items()))]


@lru_cache(maxsize=ATTRIBUTE_LISTS_REMEMBERED)
def _is_boilerplate(attributes: Attributes) -> bool:
    values = dict(attributes)
    return ("data-lp-replacement-content" in values
            or "nav" in values.get("role", "").replace("N", "n")
            or "MostPopularStories" in values.get("data-component", "")
            or CONSENT.search(first_of(attributes, ("id", "class"))) is not None
            or BOILERPLATE_ID.search(values.get("id", "")) is not None
            or BOILERPLATE_CLASS.search(values.get("class", "")) is not None)


def hidden_sections(tree: HtmlElement) -> list[HtmlElement]:
    """The second expression: hidden elements, comment titles and replies, print-only and unloaded blocks."""
    return [element for element in tree.iterdescendants(Element)
            if element.attrib and _is_hidden(tuple(element.items()))]


@lru_cache(maxsize=ATTRIBUTE_LISTS_REMEMBERED)
def _is_hidden(attributes: Attributes) -> bool:
    values = dict(attributes)
    class_, style = values.get("class", ""), values.get("style", "")
    return (class_ == "comments-title"
            or first_of(attributes, ("id", "class")).startswith("reply-")
            or "hidden" in first_of(attributes, ("id", "style"))
            or "display:none" in style or "display: none" in style
            or HIDDEN_ID.search(values.get("id", "")) is not None
            or HIDDEN_CLASS.search(class_) is not None
            or values.get("aria-hidden") == "true")


OVERALL_DISCARD = [boilerplate_sections, hidden_sections]


@contextmanager
def overall_discard_in_python() -> Iterator[None]:
    """Within this block, trafilatura's main extractor and its jusText/readability comparison prune with
    `OVERALL_DISCARD` instead of `OVERALL_DISCARD_XPATH` (module globals they read at each call). Scoped, so
    raw trafilatura run elsewhere in the process, as the benchmarks' baselines are, stays trafilatura's own."""
    originals = main_extractor.OVERALL_DISCARD_XPATH, external.OVERALL_DISCARD_XPATH
    main_extractor.OVERALL_DISCARD_XPATH = external.OVERALL_DISCARD_XPATH = OVERALL_DISCARD
    try:
        yield
    finally:
        main_extractor.OVERALL_DISCARD_XPATH, external.OVERALL_DISCARD_XPATH = originals
