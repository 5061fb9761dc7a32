"""The bundled demo sample: its feeds parse in their own formats and every page they link to is served."""
from __future__ import annotations

import html
import json
from pathlib import Path

import feedparser
import httpx
import pytest
import yaml

from pipeline.extract import extract_html
from pipeline.sample_site import DEFAULT_SEED_PATH, SampleSite, parse_story, serve_sample

OUR_WIRE_LEAD = "Ministers from 31 coastal states agreed on Thursday"

# A story laid out as the seed is, in our own words, so the seed mechanism is tested without third-party text.
SEED_LIKE_STORY = """Bridge Reopens After Two-Year Repair: Officials

Engineers said the new deck should last a century.

Advertisement
Read Time: 1 mins
"It is stronger than the day it opened," the city engineer said.
Porto:

The Luiz Avenue bridge reopened to traffic on Monday after a two-year repair of its deck and cables.

Engineers said the new deck should last a century.

"It is stronger than the day it opened," the city engineer said. "We checked every rivet."

Advertisement

(Except for the headline, this story has not been edited by Example staff and is published from a syndicated feed.)

Featured Video Of The Day
Harvest Festival Lights Up The Old Town
"""


def feed_links(sample: SampleSite) -> dict[str, list[str]]:
    """The article links of each feed, parsed the way a reader of that format would."""
    links = {}
    for feed in sample.feeds:
        response = httpx.get(feed["url"])
        assert response.status_code == 200
        if response.headers["Content-Type"].startswith("application/feed+json"):
            document = json.loads(response.content)
            assert document["version"] == "https://jsonfeed.org/version/1.1"
            links[feed["url"]] = [item["url"] for item in document["items"]]
        else:
            parsed = feedparser.parse(response.content)
            assert not parsed.bozo, parsed.get("bozo_exception")
            links[feed["url"]] = [entry.link for entry in parsed.entries]
    return links


def page_texts(sample: SampleSite) -> dict[str, str]:
    return {url: httpx.get(url).text for url in sample.article_urls}


@pytest.fixture
def seed_like_path(tmp_path: Path) -> Path:
    path = tmp_path / "seed.txt"
    path.write_text(SEED_LIKE_STORY, encoding="utf-8")
    return path


def test_the_sample_has_rss_atom_and_json_feeds_with_their_own_content_types() -> None:
    with serve_sample(seed_path=None) as sample:
        kinds = {feed["url"]: httpx.get(feed["url"]).headers["Content-Type"] for feed in sample.feeds}
        versions = {
            feedparser.parse(httpx.get(url).content).version
            for url, kind in kinds.items()
            if not kind.startswith("application/feed+json")
        }

    assert sorted(kind.split(";")[0] for kind in kinds.values()) == [
        "application/atom+xml",
        "application/feed+json",
        "application/rss+xml",
        "application/rss+xml",
    ]
    assert versions == {"rss20", "atom10"}


@pytest.mark.parametrize("with_seed", [False, True])
def test_every_page_a_feed_links_to_is_served_as_html(seed_like_path: Path, with_seed: bool) -> None:
    with serve_sample(seed_path=seed_like_path if with_seed else None) as sample:
        links = feed_links(sample)
        responses = {url: httpx.get(url) for urls in links.values() for url in urls}

    assert all(len(urls) >= 2 for urls in links.values())
    assert set(responses) == set(sample.article_urls)
    for url, response in responses.items():
        assert response.status_code == 200, url
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_trafilatura_finds_each_pages_metadata_and_leaves_its_site_furniture_out() -> None:
    with serve_sample(seed_path=None) as sample:
        pages = page_texts(sample)

    for url, page in pages.items():
        extracted = extract_html(page, url=url)
        text = "\n".join(extracted.paragraphs)
        assert extracted.canonical_url == url and extracted.authors and extracted.published, url
        assert extracted.published.startswith("2026-11-"), url
        assert "Privacy" not in text and "rights reserved" not in text, url
        assert len(extracted.paragraphs) >= 4, url


def test_our_wire_story_is_republished_on_four_sites_under_four_headlines() -> None:
    with serve_sample(seed_path=None) as sample:
        copies = {url: page for url, page in page_texts(sample).items() if OUR_WIRE_LEAD in page}

    sites = {url.removeprefix(sample.base_url).split("/")[1] for url in copies}
    headlines = {page.split("<title>")[1].split("</title>")[0] for page in copies.values()}
    assert len(sites) == 4 and len(headlines) == 4
    joined = "\n".join(copies.values())
    for boilerplate in ["Advertisement", "Read Time: 2 mins", "Featured Video Of The Day", "syndicated feed"]:
        assert boilerplate in joined


def test_a_seed_story_becomes_an_original_page_and_three_copies_on_other_sites(seed_like_path: Path) -> None:
    with serve_sample(seed_path=seed_like_path) as sample:
        copies = {url: page for url, page in page_texts(sample).items() if "two-year repair of its deck" in page}

    assert sample.seed_included
    sites = {url.removeprefix(sample.base_url).split("/")[1] for url in copies}
    headlines = {page.split("<title>")[1].split("</title>")[0] for page in copies.values()}
    assert len(copies) == len(sites) == len(headlines) == 4
    [original] = [page for page in copies.values() if "Harvest Festival Lights Up The Old Town" in page]
    assert "<title>Bridge Reopens After Two-Year Repair: Officials</title>" in original
    assert "Example staff" in original


def test_the_seed_story_is_left_out_when_absent(tmp_path: Path) -> None:
    with serve_sample(seed_path=tmp_path / "missing.txt") as without_file, serve_sample(seed_path=None) as without:
        assert not without_file.seed_included and not without.seed_included
        assert len(without.article_urls) == 8


@pytest.mark.skipif(not DEFAULT_SEED_PATH.is_file(), reason="shared/seed is not beside this checkout")
def test_the_real_seed_is_served_line_for_line_on_its_original_page() -> None:
    seed_text = DEFAULT_SEED_PATH.read_text(encoding="utf-8")
    seed_lines = [html.escape(line.strip(), quote=False) for line in seed_text.splitlines() if line.strip()]

    with serve_sample() as sample:
        pages = page_texts(sample)

    [original] = [page for page in pages.values() if seed_lines[-1] in page]
    assert all(line in original for line in seed_lines)
    first_paragraph = parse_story(seed_text, "seed").paragraphs[0]
    assert sum(first_paragraph in page for page in pages.values()) == 4


def test_a_seed_without_a_dateline_line_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "seed.txt"
    path.write_text("Headline\n\nA paragraph with no dateline above it.\n", encoding="utf-8")

    with pytest.raises(ValueError, match="dateline"):
        with serve_sample(seed_path=path):
            pass


def test_parse_story_keeps_only_the_paragraphs_after_the_dateline() -> None:
    story = parse_story(SEED_LIKE_STORY, "seed-like")

    assert (story.title, story.dateline) == ("Bridge Reopens After Two-Year Repair: Officials", "Porto")
    assert story.paragraphs[0].startswith("The Luiz Avenue bridge") and len(story.paragraphs) == 3
    assert story.pull_quote == '"It is stronger than the day it opened," the city engineer said.'


def test_write_feeds_yaml_writes_the_registry_format(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"

    with serve_sample(seed_path=None) as sample:
        sample.write_feeds_yaml(path)

    feeds = yaml.safe_load(path.read_text(encoding="utf-8"))["feeds"]
    assert feeds == sample.feeds and len(feeds) == 4
    assert all(set(feed) == {"url", "name", "publisher"} for feed in feeds)


def test_an_unknown_path_is_404_and_the_server_stops_on_exit() -> None:
    with serve_sample(seed_path=None) as sample:
        assert httpx.get(sample.base_url + "/dailyherald/no-such-page").status_code == 404

    with pytest.raises(httpx.ConnectError):
        httpx.get(sample.feeds[0]["url"])
