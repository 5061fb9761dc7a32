"""Extraction: trafilatura's main extractor first, and its fallback comparison (readability, jusText) only when
that result is doubtful: short, a small share of the page's text, or mostly link text."""
from __future__ import annotations

import json
from pathlib import Path

import lxml.html
import pytest
from justext.core import define_stoplist
from lxml.html import HtmlElement, document_fromstring
from trafilatura.external import jt_stoplist_init
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.utils import load_html, repair_faulty_html
from trafilatura.xpaths import RAW_TREE_PRUNE_XPATH, REMOVE_COMMENTS_AND_LISTS_XPATH

from pipeline.extract import (
    ExtractionSignals, PageElement, drop_scripts_and_styles, extract_html, is_doubtful, justext_stopwords, needs_repair,
    page_canonical_url, page_published, parse_page, prune_raw_tree, visible_text_chars,
)
from pipeline.template import block_key

URL = "https://harbour.example/pier"
TOPICS = ["pier", "ferry", "crane", "lighthouse", "market", "bridge", "harbour wall", "slipway"]


def paragraph(topic: str) -> str:
    return (f"The harbour board met on Monday to discuss the future of the old {topic}, which has been closed since "
            f"a storm damaged it two winters ago and left the town without one of its best known sights.")


def page(body: str) -> str:
    return f"<html><head><title>Pier repairs</title></head><body>{body}</body></html>"


ARTICLE = page("<article><h1>Pier repairs</h1>" + "".join(f"<p>{paragraph(t)}</p>" for t in TOPICS) + "</article>")
# The <article> holds only a one-line teaser; the story itself is in plain divs beside it.
STORY_BESIDE_A_TEASER = page(
    "<article><h1>Pier repairs</h1><p>The board met on Monday.</p></article>"
    "<div id='story'>" + "".join(f"<div class='txt'>{paragraph(t)}</div><br>" for t in TOPICS) + "</div>"
)
LINK_LIST = page(
    "<article><h1>Harbour news</h1><ul>"
    + "".join(f"<li><a href='/{n}'>Harbour board to decide on the future of the old {t} next month</a></li>"
              for n, t in enumerate(TOPICS))
    + "</ul></article>"
)


@pytest.mark.parametrize("signals", [
    ExtractionSignals(text_chars=120, page_chars=200, link_share=0.0),
    ExtractionSignals(text_chars=900, page_chars=20_000, link_share=0.0),
    ExtractionSignals(text_chars=3_000, page_chars=6_000, link_share=0.6),
])
def test_short_uncovering_or_linked_results_are_doubtful(signals):
    assert is_doubtful(signals)


def test_a_long_unlinked_result_covering_the_page_is_confident():
    assert not is_doubtful(ExtractionSignals(text_chars=3_000, page_chars=9_000, link_share=0.05))


def test_a_plain_article_is_extracted_without_a_second_opinion():
    extracted = extract_html(ARTICLE, URL)
    assert not extracted.second_opinion
    assert extracted.paragraphs[-len(TOPICS):] == [paragraph(t) for t in TOPICS]


def test_a_story_the_main_extractor_misses_is_taken_from_the_second_opinion():
    extracted = extract_html(STORY_BESIDE_A_TEASER, URL)
    assert extracted.second_opinion
    assert [paragraph(t) for t in TOPICS] == [p for p in extracted.paragraphs if p.startswith("The harbour board")]


def test_a_result_that_is_mostly_link_text_gets_a_second_opinion():
    assert extract_html(LINK_LIST, URL).second_opinion


def test_the_page_blocks_are_those_of_the_second_opinions_paragraphs():
    extracted = extract_html(STORY_BESIDE_A_TEASER, URL)
    assert all(block_key(paragraph(t)) in extracted.blocks for t in TOPICS)


def test_scripts_styles_and_svg_go_but_json_ld_and_the_text_around_them_stay():
    tree = document_fromstring(page(
        '<script type="application/ld+json">{"datePublished": "2024-03-01"}</script>'
        "<p>Before<script>var tracker = 1;</script> after<svg><title>icon</title></svg> the icon.</p>"
        "<style>p { color: red }</style>"
    ))
    assert drop_scripts_and_styles(tree) == ['{"datePublished": "2024-03-01"}']
    assert tree.xpath("//p")[0].text_content() == "Before after the icon."
    assert [s.get("type") for s in tree.iter("script")] == ["application/ld+json"]
    assert not tree.xpath("//style|//svg")


def test_the_publication_date_in_json_ld_is_read():
    html = page('<script type="application/ld+json">{"datePublished": "2024-03-01T09:00:00Z"}</script>'
                + "".join(f"<p>{paragraph(t)}</p>" for t in TOPICS))
    assert extract_html(html, URL).published == "2024-03-01T09:00:00Z"


def test_a_parsed_pages_elements_give_lxml_htmls_text_content_on_every_element():
    tree = parse_page(page(
        "<article><h1>Pier &amp; harbour</h1><p>Read <a href='/x'>more <b>about</b></a> the pier</p> tail"
        "<ul><li>One&nbsp;crane</li><li>Two <i>ferries</i><br>and a slipway</li></ul>"
        "<table><tr><td>cell</td><td><span>inner</span> text</td></tr></table><!-- note --></article>"
    ))
    elements = list(tree.iter())
    assert all(isinstance(element, PageElement) for element in elements)
    assert [element.text_content() for element in elements] == [HtmlElement.text_content(e) for e in elements]
    assert tree.find(".//p").text_content() == "Read more about the pier"


@pytest.mark.parametrize("head, published", [
    ('<meta property="article:published_time" content=" 2024-03-01T09:00:00Z ">', "2024-03-01T09:00:00Z"),
    ('<meta name="article:published_time" content="2024-03-02">', "2024-03-02"),
    ('<meta itemprop="datePublished" content="2024-03-03">', "2024-03-03"),
    ('<meta property="og:published_time" content="2024-03-04">', "2024-03-04"),
    ('<meta property="article:published_time" content=" "><meta itemprop="datePublished" content="2024-03-05">',
     "2024-03-05"),
    ('<meta property="article:modified_time" content="2024-03-06">', None),
    ('<meta name="published_time" content="2024-03-07">', None),
])
def test_the_publication_date_is_the_first_non_blank_of_the_published_time_metas(head, published):
    tree = document_fromstring(f"<html><head>{head}</head><body><p>Text.</p></body></html>")
    assert page_published(tree, []) == published


@pytest.mark.parametrize("head, canonical", [
    ('<link rel="canonical" href="/pier-repairs"><meta property="og:url" content="https://harbour.example/og">',
     "https://harbour.example/pier-repairs"),
    ('<link rel="canonical" href=" "><meta property="og:url" content="https://harbour.example/og">',
     "https://harbour.example/og"),
    ('<link rel="alternate" href="/amp"><meta name="og:url" content="/named">', None),
    ('<meta property="og:url" content="/og"><link rel="canonical" href="/later-in-the-page">',
     "https://harbour.example/later-in-the-page"),
])
def test_the_canonical_link_wins_over_og_url_and_is_made_absolute(head, canonical):
    tree = document_fromstring(f"<html><head>{head}</head><body><p>Text.</p></body></html>")
    assert page_canonical_url(tree, URL) == canonical


def test_second_opinions_give_justext_the_stop_word_set_it_would_make_of_trafilaturas_list():
    assert justext_stopwords() == define_stoplist(jt_stoplist_init())
    assert isinstance(justext_stopwords(), frozenset)


SUMMARY = "The board wants the old pier open again by the summer, at a cost of two million pounds."


def with_description(body: str, description: str = SUMMARY) -> str:
    return (f"<html><head><title>Pier repairs</title><meta name='description' content='{description}'></head>"
            f"<body>{body}</body></html>")


def test_the_standfirst_under_the_headline_is_kept():
    extracted = extract_html(with_description(
        f"<header><h1>Pier repairs</h1><p class='dek'>{SUMMARY}</p></header>"
        "<article>" + "".join(f"<p>{paragraph(t)}</p>" for t in TOPICS) + "</article>"), URL)
    assert extracted.standfirst == SUMMARY


@pytest.mark.parametrize("body", [
    # Printed nowhere: only the metadata says it.
    "<article><h1>Pier repairs</h1>" + "".join(f"<p>{paragraph(t)}</p>" for t in TOPICS) + "</article>",
    # A link to the story, not a standfirst.
    f"<nav><a href='/pier'>{SUMMARY}</a></nav><article><h1>Pier repairs</h1>"
    + "".join(f"<p>{paragraph(t)}</p>" for t in TOPICS) + "</article>",
    # After the body: a footer's summary.
    "<article><h1>Pier repairs</h1>" + "".join(f"<p>{paragraph(t)}</p>" for t in TOPICS) + f"</article><p>{SUMMARY}</p>",
])
def test_a_description_is_no_standfirst_unless_printed_unlinked_before_the_body(body):
    assert extract_html(with_description(body), URL).standfirst is None


def test_a_description_of_a_few_words_is_no_standfirst():
    extracted = extract_html(with_description(
        "<header><h1>Pier repairs</h1><p>Harbour news and views</p></header>"
        "<article>" + "".join(f"<p>{paragraph(t)}</p>" for t in TOPICS) + "</article>", "Harbour news and views"), URL)
    assert extracted.standfirst is None


def live_blog(entries_in_page: bool) -> str:
    updates = [{"@type": "BlogPosting", "headline": f"{t.title()} reopens", "articleBody": paragraph(t)}
               for t in ("pier", "slipway")]
    json_ld = json.dumps({"@context": "https://schema.org", "@type": "LiveBlogPosting", "liveBlogUpdate": updates})
    entries = "".join(f"<h3>{u['headline']}</h3><p>{u['articleBody']}</p>" for u in updates)
    # A live blog's page often draws its entries with script, apart from the article's summary.
    return (f"<html><head><title>Harbour live</title><script type='application/ld+json'>{json_ld}</script></head>"
            "<body><article><h1>Harbour live</h1>"
            + "".join(f"<p>{paragraph(t)}</p>" for t in TOPICS[1:6])
            + (entries if entries_in_page else "") + "</article><div id='live'></div></body></html>")


def test_live_blog_entries_missing_from_the_page_text_come_from_its_json_ld():
    paragraphs = extract_html(live_blog(entries_in_page=False), URL).paragraphs
    assert paragraphs[-4:] == ["Pier reopens", paragraph("pier"), "Slipway reopens", paragraph("slipway")]


def test_live_blog_entries_the_extractor_found_are_not_added_again():
    paragraphs = extract_html(live_blog(entries_in_page=True), URL).paragraphs
    assert paragraphs.count(paragraph("pier")) == 1 and paragraphs.count(paragraph("slipway")) == 1


def test_text_for_screen_readers_only_is_not_extracted():
    teasers = "".join(
        f"<div class='card'><h2><span class='sr-only'>Board votes on the {t}</span>"
        f"<a href='/{n}'>Board votes on the {t}</a></h2><p>What the vote on the {t} means for the town.</p></div>"
        for n, t in enumerate(TOPICS[:3]))
    extracted = extract_html(page("<article><h1>Pier repairs</h1>" + "".join(f"<p>{paragraph(t)}</p>" for t in TOPICS)
                                  + f"<section class='more'>{teasers}</section></article>"), URL)
    headlines = [p for p in extracted.paragraphs if p.startswith("Board votes")]
    assert headlines and all(p.count("Board votes") == 1 for p in headlines)
    # The headline is all link once its screen reader copy is gone: a teaser, which cleaning can drop.
    assert all(extracted.blocks[block_key(p)].link_share == 1.0 for p in headlines)


POINTS = ["The board approved two million pounds for the pier on Monday.",
          "Work starts in April and should take about a year."]


def with_key_points(header: str, linked: bool = False) -> str:
    items = "".join(f"<li><a href='/p{n}'>{p}</a></li>" if linked else f"<li>{p}</li>" for n, p in enumerate(POINTS))
    return page(f"<header><h1>Pier repairs</h1><div class='box'><div>{header}</div><ul>{items}</ul></div></header>"
                "<article>" + "".join(f"<p>{paragraph(t)}</p>" for t in TOPICS) + "</article>")


@pytest.mark.parametrize("header", ["Key Points", "Das Wichtigste in Kürze"])
def test_the_points_of_a_summary_box_above_the_body_are_kept(header):
    assert extract_html(with_key_points(header), URL).key_points == POINTS


def test_a_list_under_another_header_or_a_list_of_links_is_no_summary():
    assert extract_html(with_key_points("Latest stories"), URL).key_points == []
    assert extract_html(with_key_points("Key Points", linked=True), URL).key_points == []

SYNDICATED_PAGES = sorted((Path(__file__).parent / "fixtures" / "syndicated").glob("*.html"))
XHTML_DOCTYPE = ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
                 '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">')
# Pages trafilatura's repair_faulty_html changes, and pages much like them it leaves alone.
FAULTY_PAGES = [
    "<html><body><p>a bell\x07, a unit separator\x1f, a form feed\x0c and a tab\t</p></body></html>",
    "<html><body><p>noncharacters \ufffe and \uffff beside caf\xe9 and \U0001f600</p></body></html>",
    f"{XHTML_DOCTYPE}\n<html><body><p>an XHTML doctype</p></body></html>",
    f"{XHTML_DOCTYPE}<html><body><p>an XHTML doctype on the only line</p></body></html>",
    "<!DOCTYPE html><html><body><p>a doctype on the only line</p></body></html>",
    "<!DOCTYPE html>\n<html><body><p>a doctype on a line of its own</p></body></html>",
    '<!doctype html>\n<html lang="en"/>\n<body><p>a self-closing html tag</p></body>',
]
FAULTY_PAGE_IDS = ["control-characters", "noncharacters", "xhtml-doctype", "xhtml-doctype-one-line",
                   "doctype-one-line", "doctype", "self-closing-html"]


@pytest.mark.parametrize("page", FAULTY_PAGES, ids=FAULTY_PAGE_IDS)
def test_a_page_needs_repair_when_trafilatura_would_repair_it(page):
    beginning = page[:50].lower()
    assert needs_repair(page, beginning) == (repair_faulty_html(page, beginning) != page)



@pytest.mark.parametrize("page", [
    *[path.read_text(encoding="utf-8") for path in SYNDICATED_PAGES],
    '<?xml version="1.0" encoding="utf-8"?><html><body><p>declares its encoding</p></body></html>',
    "<html><body><p>unclosed <b>bold<p>and a second paragraph</body>",
    "<p>a fragment alone</p>",
    "plain text, no markup",
    *FAULTY_PAGES,
], ids=[*[path.stem for path in SYNDICATED_PAGES], "encoding-declaration", "faulty-markup", "fragment", "text",
        *FAULTY_PAGE_IDS])
def test_pages_parse_to_the_tree_trafilatura_would_parse(page):
    """feedpipe's parser differs from trafilatura's only in how lxml picks each element's Python class."""
    ours, theirs = parse_page(page), load_html(page)
    assert (ours is None) == (theirs is None)
    if theirs is not None:
        assert lxml.html.tostring(ours) == lxml.html.tostring(theirs)


# Every branch of trafilatura's raw-tree prunes, matching and not, nested, and with tails to keep.
RAW_PRUNE_CASES = page(
    "<div id='infinite-scroll'>next story<div id='comments'>nested</div></div>after scroll"
    "<section class='infinitescroll'><h1>The story itself</h1><div class='comment-body'>kept?</div></section>"
    "<aside class='x mvp-post-add-box'><h1>An appended story</h1></aside>"
    "<div class='infinite_scroll'>not the pattern</div>"
    "<div class='a elementor-share-buttons'>share</div>tail of share<span class='elementor-share-buttons'>s</span>"
    "<div id='Comments'>c</div><div id='commentary'>an essay</div><details id='dsq-comments'>d</details>"
    "<ul class='comment-list'><li>one</li></ul><ol id='disqus_thread'><li>kept</li></ol><ul id='comol'>x</ul>"
    "<section class='post-comments'>p</section><span id='comments'>a span</span><p class='comment'>a p</p>"
    "<div class='article-comments'>ac</div>end"
)


@pytest.mark.parametrize("page", [*[path.read_text(encoding="utf-8") for path in SYNDICATED_PAGES], RAW_PRUNE_CASES],
                         ids=[*[path.stem for path in SYNDICATED_PAGES], "cases"])
def test_the_raw_tree_is_pruned_as_trafilaturas_xpath_expressions_prune_it(page):
    theirs = parse_page(page)
    for xpaths in (RAW_TREE_PRUNE_XPATH, REMOVE_COMMENTS_AND_LISTS_XPATH):
        prune_unwanted_nodes(theirs, xpaths)
    assert lxml.html.tostring(prune_raw_tree(parse_page(page))) == lxml.html.tostring(theirs)


def test_the_visible_text_is_counted_without_hidden_elements_text_or_surrounding_whitespace():
    tree = parse_page(page(
        "<p> Hello <b>big</b>\n world </p><noscript>no script<img>after</noscript> tail"
        "<template>template</template><script type='application/ld+json'>{\"a\": 1}</script>"
    ))
    drop_scripts_and_styles(tree)
    # Hello, big, world, the image's tail inside the noscript and the noscript's tail.
    assert visible_text_chars(tree) == 5 + 3 + 5 + 5 + 4
