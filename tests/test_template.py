"""Template learning (real Postgres) and teaser runs: what a publisher's pages share, and other stories' teasers,
come out of the body; the article's own text stays."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from lxml.html import document_fromstring

from pipeline.article import article_from_document
from pipeline.learned import known_templates, record_template_blocks
from pipeline.template import block_key, element_text

BOX = "Get the Harbour Times briefing in your inbox every weekday morning"
SHARED_SHORT = "The council will vote on the plan next month."
TOPICS = ["pier", "ferry", "crane", "lighthouse", "market", "bridge"]


def body_paragraphs(n: int) -> list[str]:
    topic = TOPICS[n]
    return [
        f"The harbour board met on Monday to discuss the future of the old {topic}, which has been closed since a "
        f"storm damaged it {n + 2} winters ago and left the town without one of its best known sights.",
        f"Engineers told the board that repairing the {topic} would take at least {n + 3} months, and that the "
        f"work could only start once the spring tides had passed and the contractors had finished their survey.",
        f"Residents who spoke at the meeting said the {topic} mattered to fishermen and visitors alike, and asked "
        f"the board to publish its figures before the summer season began in {2024 + n}.",
    ]


def page(paragraphs: list[str], middle: str = "") -> bytes:
    title = paragraphs[0].split(",")[0]
    first, *rest = [f"<p>{p}</p>" for p in paragraphs]
    return (
        f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        f"<main><article class='story'><h1>{title}</h1><div class='story-body'>{first}"
        f"<div class='promo-box'><p>{BOX}</p></div>{middle}{''.join(rest)}</div></article></main>"
        "<footer><p>Harbour Times, Quay Street</p></footer></body></html>"
    ).encode()


def insert_article(cur, url: str) -> int:
    cur.execute(
        """INSERT INTO articles (url, canonical_url, body, fetched_at, content_sha256) VALUES (%s, %s, 'b', %s, %s)
           RETURNING id""",
        (url, url, datetime(2024, 3, 1, tzinfo=timezone.utc), url),
    )
    return cur.fetchone()[0]


def load(cur, url: str, body: bytes, publisher: str):
    """What the batch does per page: read the publisher's templates, extract, store, record the blocks."""
    article = article_from_document(body, url, templates=known_templates(cur, publisher))
    record_template_blocks(cur, publisher, insert_article(cur, url), article.template_fingerprints)
    return article


def test_a_block_learned_from_several_pages_of_a_site_is_dropped_there_and_kept_on_another_site(conn):
    with conn.cursor() as cur:
        first = [load(cur, f"https://harbour.example/news/{n}", page(body_paragraphs(n)), "harbour.example")
                 for n in range(3)]
        later = load(cur, "https://harbour.example/news/3", page(body_paragraphs(3)), "harbour.example")
        elsewhere = load(cur, "https://otherport.example/news/1", page(body_paragraphs(4)), "otherport.example")
    assert all(BOX in a.paragraphs for a in first)
    assert later.paragraphs == body_paragraphs(3)
    assert [(r.text, r.rule) for r in later.removed if r.rule != "repeated_title"] == [(BOX, "template")]
    assert BOX in elsewhere.paragraphs


def test_article_text_repeated_on_other_articles_is_not_learned(conn):
    long_shared = " ".join(["The harbour has been the heart of the town for two centuries, and the board says "
                            "every decision it takes must keep it working for the boats that still land there."] * 2)
    publisher = "harbour-repeat.example"
    with conn.cursor() as cur:
        for n in range(4):
            extra = f"<p>{long_shared}</p>" + (f"<p>{SHARED_SHORT}</p>" if n < 2 else "")
            load(cur, f"https://{publisher}/news/{n}", page(body_paragraphs(n), middle=extra), publisher)
        article = load(cur, f"https://{publisher}/news/9", page(body_paragraphs(5), middle=f"<p>{long_shared}</p>"
                                                                 f"<p>{SHARED_SHORT}</p>"), publisher)
    assert BOX not in article.paragraphs
    assert long_shared in article.paragraphs
    assert SHARED_SHORT in article.paragraphs


def test_recording_an_article_again_counts_nothing_twice(conn):
    publisher = "harbour-again.example"
    with conn.cursor() as cur:
        article = article_from_document(page(body_paragraphs(0)), f"https://{publisher}/news/0")
        article_id = insert_article(cur, f"https://{publisher}/news/0")
        for _ in range(4):
            record_template_blocks(cur, publisher, article_id, article.template_fingerprints)
        cur.execute("SELECT max(article_count) FROM template_blocks WHERE publisher = %s", (publisher,))
        assert cur.fetchone() == (1,)
        assert known_templates(cur, publisher) == frozenset()


TEASERS = (
    "<p><a href='/news/crane-collapse'>Crane collapses on the north quay during the night storm</a></p>"
    "<p>No one was hurt when the crane fell, the port authority said.</p>"
    "<p><a href='/news/ferry-fares'>Ferry fares to rise by a tenth from April</a></p>"
    "<p>The operator blamed fuel costs for the rise.</p>"
    "<p><a href='/news/lighthouse-sale'>Lighthouse goes up for sale at auction</a></p>"
)


def test_a_teaser_run_is_removed_while_a_short_real_paragraph_stays():
    paragraphs = body_paragraphs(1)
    short = "He declined to comment."
    html = page([paragraphs[0], short, *paragraphs[1:]], middle=TEASERS)
    article = article_from_document(html, "https://harbour.example/news/ferry")
    teasers = [r.text for r in article.removed if r.rule == "teaser_run"]
    assert short in article.paragraphs
    assert all(p in article.paragraphs for p in paragraphs)
    assert teasers == ["Crane collapses on the north quay during the night storm",
                       "No one was hurt when the crane fell, the port authority said.",
                       "Ferry fares to rise by a tenth from April", "The operator blamed fuel costs for the rise.",
                       "Lighthouse goes up for sale at auction"]


def test_one_linked_line_in_the_body_is_not_a_teaser_run():
    paragraphs = body_paragraphs(2)
    linked = "<p><a href='/docs/board-report.pdf'>Read the board's full report on the repairs</a></p>"
    article = article_from_document(page(paragraphs, middle=linked), "https://harbour.example/news/crane")
    assert "Read the board's full report on the repairs" in article.paragraphs
    assert not [r for r in article.removed if r.rule == "teaser_run"]


def test_a_page_printing_an_earlier_article_again_keeps_its_text(conn):
    publisher = "harbour-copies.example"
    with conn.cursor() as cur:
        for n in range(3):
            load(cur, f"https://{publisher}/news/{n}", page(body_paragraphs(0)), publisher)
        again = load(cur, f"https://{publisher}/news/again", page(body_paragraphs(0)), publisher)
    assert again.paragraphs[:1] + again.paragraphs[2:] == body_paragraphs(0)
    assert not [r for r in again.removed if r.rule == "template"]


def test_element_text_is_the_text_content_of_the_element_without_its_tail():
    page = document_fromstring("<html><body><p>Read <a href='/x'>more &amp; <b>more</b></a> here</p> tail</body></html>")
    paragraph = page.find(".//p")
    assert element_text(paragraph) == paragraph.text_content() == "Read more & more here"
    assert element_text(page.find(".//a")) == "more & more"


@pytest.mark.parametrize("text, key", [
    ("  The Harbour  Board\nmet.", "theharbourboardmet."),
    ("- The board met.", "theboardmet."),
    ("\u2022\u00a0Straße closed", "strasseclosed"),
    ("* * two bullets", "*twobullets"),
    ("-5 degrees", "-5degrees"),
    ("-", "-"),
    (" \n ", ""),
])
def test_a_block_key_is_the_words_without_a_leading_bullet_or_whitespace_case_folded(text, key):
    assert block_key(text) == key
