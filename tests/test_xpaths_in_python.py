"""trafilatura's XPath expressions answered in Python: the same elements as trafilatura's own expressions, on every
branch of them and on whole pages, and only inside the block that asks for it."""
from __future__ import annotations

from copy import copy
from pathlib import Path

import pytest
import trafilatura
from trafilatura import external, main_extractor
from trafilatura.htmlprocessing import convert_tags, tree_cleaning
from trafilatura.settings import Extractor
from trafilatura import settings, xpaths

from pipeline.extract import parse_page, prune_raw_tree
from pipeline.xpaths_in_python import (
    BASIC_CLEAN, BODY, OVERALL_DISCARD, REPLACEMENTS, baseline, trafilatura_xpaths_in_python,
)
from pipeline.sample_site import DEFAULT_SEED_PATH, build_sample

SYNDICATED_PAGES = sorted((Path(__file__).parent / "fixtures" / "syndicated").glob("*.html"))

# Every condition of both expressions, matching and not: attribute order for `@id|@class` and `@id|@style`, empty
# and missing attributes, tags the first expression leaves to the second, nesting, and near misses.
CASES = """<html><head><title>Cases</title></head><body><div id="main">
<div class="cookiejar" id="x">consent by class, class first</div>
<div id="x" class="cookiejar">class second: not by the consent pattern</div>
<div id="cookie-notice" class="x">consent by id, id first</div>
<p data-lp-replacement-content="">empty attribute still counts</p>
<section role="Navigation">role with a capital N</section><div role="banner">no nav role</div>
<span data-component="MostPopularStoriesList">popular</span>
<div id="share-top">share id</div><div id="shareholders">share anywhere in an id</div>
<div id="ad-slot">ad id</div><div id="head-ad-slot">ad not at the start</div>
<div class="top ad unit">ad word</div><div class="ad-unit">ad at start</div><div class="x ad-unit">ad after space</div>
<div class="load">no ad</div><div class="dfpAd">dfp</div><div class="paidcontent">paid</div>
<div class="nav-wrap">nav class at start</div><div class="main-nav">nav later in a class</div>
<div class="navigation">avigation</div><div class="sharing">^shar</div><div class="reshare">no ^shar</div>
<a class="share-link" href="/s">a link is not among the first expression's tags</a>
<ul class="related-list"><li class="item-meta">meta</li><li>plain</li></ul>
<table class="sidebar"><tr><td>table: not the first expression's tags</td></tr></table>
<div class="story"><div class="byline">By a reporter</div><p class="body">Body text.</p>
  <div class="widget"><span class="author">nested match</span></div></div>
<div class="comments-title">exact comments title</div><h2 class="comments-title x">regex comments title</h2>
<div id="reply-5">reply by id</div><div class="reply-form" id="y">reply by class first</div>
<div id="y" class="reply-form">reply class second</div>
<div id="hidden-box">hidden id</div><div style="color: red" id="hidden-2">style first, not hidden</div>
<div style="display:none">none</div><div style="display: none">none spaced</div><div style="display:block">shown</div>
<em id="reader-comments">reader comments</em><b class="a-hide-b">hide</b><b class="x hidden">hidden class</b>
<b class="xhidden">no space before hidden</b><i aria-hidden="true">aria</i><i aria-hidden="false">aria false</i>
<p class="message-box">message</p><p>Plain paragraph with <span>plain span</span>.</p>
<div id="footer-1" class="x">footer by id, id first</div><div class="x" id="footer-2">footer id second</div>
<span class="footer">a footer span</span><div class="Cookie-Banner">cookie banner</div><aside>aside</aside>
<div class="TeaserBox">teaser</div><span id="photo-caption">caption</span><figure class="caption">figure</figure>
</div></body></html>"""
# A body container for each condition of BODY_XPATH's expressions.
BODY_CASES = [
    '<div class="post">', '<section class="entry">', '<div itemprop="articleBody">', '<main id="articleContent">',
    '<div id="art-content">', '<div class="x article__body">', '<div class="post_content">',
    '<article>', '<div role="article">', '<div id="story">', '<div class="cell">', '<div id="primary-col">',
    '<div class="FullText">', '<div class="article main">', '<div class="single-content">',
    '<div id="content">', '<div class="content_main">', '<div id="Main-Content">', '<div class="x Page-Content">',
    '<div class="main-col">', '<section id="main">', '<div role="main">', '<main>',
]


def sample_pages() -> list[str]:
    seed = DEFAULT_SEED_PATH.read_text(encoding="utf-8") if DEFAULT_SEED_PATH.exists() else None
    documents = build_sample("http://127.0.0.1:8000", seed).documents.values()
    return [document.body.decode("utf-8") for document in documents if "html" in document.content_type]


PAGES = [CASES, *(path.read_text(encoding="utf-8") for path in SYNDICATED_PAGES), *sample_pages()]


def body_page(opening: str) -> str:
    """A page whose body sits in `opening`'s element, after near misses and before a later `class="post"` block."""
    tag = opening[1:].split(" ")[0].split(">")[0]
    decoys = '<div class="story-teaser"><p>decoy</p></div><aside><main-x>not main</main-x></aside>'
    return f"<html><body>{decoys}{opening}<p>The body.</p></{tag}><div class='post'>later post</div></body></html>"


def trees_as_pruned(html: str) -> list:
    """The page as parsed, and as trafilatura's main extractor prunes it: cleaned, its tags converted."""
    options = Extractor(fast=True, comments=False)
    cleaned = convert_tags(tree_cleaning(prune_raw_tree(copy(parse_page(html))), options), options)
    return [parse_page(html), cleaned]


@pytest.mark.parametrize("html", PAGES, ids=["cases", *(p.stem for p in SYNDICATED_PAGES),
                                              *(f"sample-{n}" for n in range(len(PAGES) - 1 - len(SYNDICATED_PAGES)))])
def test_each_expression_selects_what_trafilaturas_xpath_selects(html):
    for tree in trees_as_pruned(html):
        for module, name, replacement in REPLACEMENTS:
            theirs = getattr(module, name)  # outside the block: trafilatura's own
            pairs = (zip(replacement, theirs, strict=True) if isinstance(replacement, list)
                     else [(replacement, theirs)])
            for ours, their_expression in pairs:
                # The extractor reads only the first body candidate of each BODY_XPATH expression.
                expected = their_expression(tree)[:1] if replacement is BODY else their_expression(tree)
                assert ours(tree) == expected, f"{module.__name__}.{name}"


@pytest.mark.parametrize("opening", BODY_CASES)
def test_each_body_expression_finds_the_element_trafilaturas_finds_first(opening):
    tree = parse_page(body_page(opening))
    theirs = [expression(tree)[:1] for expression in xpaths.BODY_XPATH]
    assert any(found and found[0].findtext("p") == "The body." for found in theirs), "the case must be a body"
    assert [expression(tree) for expression in BODY] == theirs


def test_the_cases_page_exercises_each_discard_expression_both_ways():
    tree = parse_page(CASES)
    boilerplate, hidden = (expression(tree) for expression in xpaths.OVERALL_DISCARD_XPATH)
    texts = {element.text for element in boilerplate + hidden}
    assert {element.text for expression in (*xpaths.TEASER_DISCARD_XPATH, *xpaths.DISCARD_IMAGE_ELEMENTS)
            for element in expression(tree)} == {"teaser", "caption"}
    assert {element.text for element in baseline.BASIC_CLEAN_XPATH(tree)} == {
        "footer by id, id first", "cookie banner", "aside", "consent by id, id first"}
    assert {"consent by class, class first", "empty attribute still counts", "ad after space", "nested match",
            "reply by class first", "none spaced", "aria"} <= texts
    assert not texts & {"class second: not by the consent pattern", "no ad", "reply class second",
                        "style first, not hidden", "aria false", "Plain paragraph with "}


def test_trafilatura_extracts_the_same_text_with_either_and_its_own_expressions_come_back_after_the_block():
    for html in PAGES:
        plain = trafilatura.extract(html)
        with trafilatura_xpaths_in_python():
            assert main_extractor.OVERALL_DISCARD_XPATH is OVERALL_DISCARD is external.OVERALL_DISCARD_XPATH
            assert main_extractor.BODY_XPATH is BODY
            assert baseline.BASIC_CLEAN_XPATH is BASIC_CLEAN
            in_python = trafilatura.extract(html)
        assert in_python == plain
    assert_trafilaturas_own_expressions_are_back()


def test_trafilaturas_expressions_come_back_when_the_block_fails():
    with pytest.raises(RuntimeError), trafilatura_xpaths_in_python():
        raise RuntimeError("extraction failed")
    assert_trafilaturas_own_expressions_are_back()


def assert_trafilaturas_own_expressions_are_back() -> None:
    for module, name, _ in REPLACEMENTS:
        assert getattr(module, name) is getattr(settings if name == "BASIC_CLEAN_XPATH" else xpaths, name)
