"""Normalization: text, title, canonical URL, publication time, authors and language."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pipeline.clean import CleanedPage
from pipeline.extract import ExtractedPage
from pipeline.normalize import canonical_url, normalize_article, normalize_text, normalize_title


def test_text_is_nfc_without_invisible_characters_and_with_collapsed_whitespace():
    decomposed = "Cafe\u0301 owners\u200b met  the\u00a0mayor\u2060 in\tMu\u0308nchen\x07"
    assert normalize_text(decomposed) == "Café owners met the mayor in München"


def test_joiners_that_spell_words_are_kept():
    persian = "می\u200cخواهم"
    assert normalize_text(persian) == persian


@pytest.mark.parametrize("title, site_names, expected", [
    ("Putin, Xi Jinping May Discuss Israel-Palestine Conflict In Beijing: Report - NDTV", set(),
     "Putin, Xi Jinping May Discuss Israel-Palestine Conflict In Beijing: Report"),
    ("Oil prices slip as stocks build | Reuters", set(), "Oil prices slip as stocks build"),
    ("Rail strike called off - Daily Courier", {"Daily Courier"}, "Rail strike called off"),
    ("Mayor's race: who's ahead | Politics | Valley Gazette", {"Valley Gazette"}, "Mayor's race: who's ahead | Politics"),
    ("Israel-Hamas war - what we know", set(), "Israel-Hamas war - what we know"),
])
def test_title_loses_only_site_suffixes(title, site_names, expected):
    assert normalize_title(title, site_names) == expected


@pytest.mark.parametrize("url, expected", [
    ("https://www.example.com/world/story-1?utm_source=rss&utm_medium=feed&fbclid=x&gclid=y#comments",
     "https://www.example.com/world/story-1"),
    ("https://www.example.com/news/story?id=42&utm_campaign=x", "https://www.example.com/news/story?id=42"),
    ("https://amp.example.com/world/story-1", "https://www.example.com/world/story-1"),
    ("https://www.example.com/world/story-1/amp/", "https://www.example.com/world/story-1/"),
    ("https://www.example.com/world/story-1.amp.html", "https://www.example.com/world/story-1.html"),
    ("https://www.example.com/world/amp/story-1", "https://www.example.com/world/story-1"),
])
def test_canonical_url_drops_tracking_and_fragments_and_maps_amp(url, expected):
    assert canonical_url(url) == expected


def article(page: ExtractedPage, url="https://example.com/a?utm_source=x", fallback=None):
    return normalize_article(CleanedPage(page=page, paragraphs=page.paragraphs), url, fallback)


def test_page_canonical_url_wins_over_the_fetched_url():
    page = ExtractedPage(title="t", paragraphs=["x"], canonical_url="https://example.com/canonical#top")
    assert article(page).canonical_url == "https://example.com/canonical"
    assert article(ExtractedPage(title="t", paragraphs=["x"])).canonical_url == "https://example.com/a"


def test_published_at_is_utc_from_the_page_else_from_the_feed():
    ist = timezone(timedelta(hours=5, minutes=30))
    from_page = article(ExtractedPage(title="t", paragraphs=["x"], published="2023-11-25T22:12:00+05:30"))
    from_feed = article(ExtractedPage(title="t", paragraphs=["x"]), fallback=datetime(2023, 11, 25, 22, 12, tzinfo=ist))
    assert from_page.published_at == datetime(2023, 11, 25, 16, 42, tzinfo=timezone.utc)
    assert from_feed.published_at == datetime(2023, 11, 25, 16, 42, tzinfo=timezone.utc)
    assert from_page.as_json()["published_at"] == "2023-11-25T16:42:00Z"


def test_authors_are_deduplicated_in_page_order():
    page = ExtractedPage(title="t", paragraphs=["x"], authors=["By Asha Menon", "Tom  Hale", "asha menon", "Tom Hale"])
    assert article(page).authors == ["Asha Menon", "Tom Hale"]


@pytest.mark.parametrize("text, language", [
    ("The railways will add four hundred sleeper coaches to long-distance trains before the festive season.", "en"),
    ("Die Stadtwerke senken zum ersten Januar ihre Preise für Fernwärme, nachdem die Gaspreise gefallen sind.", "de"),
    ("Le musée a rendu samedi six masques en bronze au Nigeria lors d'une cérémonie à Londres.", "fr"),
])
def test_language_is_identified(text, language):
    assert article(ExtractedPage(title=None, paragraphs=[text])).language == language


def test_section_labels_and_date_fragments_are_not_authors():
    byline = ["Arjun Mehta", "World News", "Updated November 19, 2026 10:42 am IST", "Updated November", "Reuters",
              "Global Wire Service", "May Chen", "Business", "November", "Harbour Post Wire Desk"]
    page = ExtractedPage(title="t", paragraphs=["x"], authors=byline)
    assert article(page).authors == ["Arjun Mehta", "Reuters", "Global Wire Service", "May Chen",
                                     "Harbour Post Wire Desk"]


def test_the_extractor_version_names_the_language_sample_so_a_new_sample_rewrites_rows(monkeypatch):
    from pipeline import language

    page = ExtractedPage(title="t", paragraphs=["The railways will add four hundred sleeper coaches."])
    monkeypatch.setattr(language, "SAMPLE_CHARS", 500)
    from_500 = article(page).extractor_version
    monkeypatch.setattr(language, "SAMPLE_CHARS", 1000)
    from_1000 = article(page).extractor_version
    assert from_500.endswith("+language-500") and from_1000.endswith("+language-1000")
    assert from_500.removesuffix("500") == from_1000.removesuffix("1000")
