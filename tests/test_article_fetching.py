"""Article pages: fetched a batch at a time within the per-domain budget, after robots.txt allows them."""
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipeline.archive import RawResponse
from pipeline.config import Settings
from pipeline.crawler import RobotsRules, product_token
from pipeline.run import run_batch

HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
PARAGRAPHS = [
    "The regional parliament approved a plan on Wednesday to rebuild the coastal road that storms washed out "
    "last winter, ending months of detours for the villages along the bay.",
    "Work will start in March and the road should reopen before the summer season, the transport minister said.",
]


def page(title: str) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>{body}</article></body></html>".encode()


def publish(web, links: list[str]) -> str:
    items = "".join(f"<item><guid>{link}</guid><title>Story {n}</title><link>{link}</link></item>"
                    for n, link in enumerate(links))
    web.route("/rss.xml", body=f'<rss version="2.0"><channel><title>Bay</title>{items}</channel></rss>'.encode())
    return web.url("/rss.xml")


def feeds_file(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds:\n  - url: {url}\n")
    return path


def settings(tmp_path: Path, database_url: str, **extra) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url, allow_private_addresses=True,
                    per_domain_delay=0.0, **extra)


def test_pages_on_several_hosts_are_fetched_at_once_and_never_more_than_the_limit_per_host(
        web, conn, database_url, tmp_path):
    links = []
    for host in HOSTS:
        for n in range(4):
            path = f"/{host}/story-{n}.html"
            web.route(path, body=page(f"Coastal road {host} {n}"), delay=0.3)
            links.append(web.url(path, host=host))

    summary = run_batch(settings(tmp_path, database_url, per_domain_limit=2), feeds_file(tmp_path, publish(web, links)))

    assert summary.articles_loaded == 12
    assert web.max_concurrent() > 2
    assert [web.max_concurrent(host=host) for host in HOSTS] == [2, 2, 2]


def test_a_page_robots_txt_disallows_is_not_fetched_and_the_entry_says_why(web, conn, database_url, tmp_path):
    web.route("/robots.txt", body=b"User-agent: *\nDisallow: /private/\n", headers={"Content-Type": "text/plain"})
    web.route("/private/story.html", body=page("Private"))
    web.route("/public/story.html", body=page("Public"))
    feeds = feeds_file(tmp_path, publish(web, [web.url("/private/story.html"), web.url("/public/story.html")]))

    summary = run_batch(settings(tmp_path, database_url), feeds)

    assert (summary.articles_loaded, summary.articles_failed) == (1, 1)
    assert web.requests_for("/private/story.html") == []
    with conn.cursor() as cur:
        cur.execute("SELECT state, last_error FROM entries WHERE link LIKE '%private%'")
        state, error = cur.fetchone()
    assert state == "pending" and "robots.txt" in error and "disallows" in error


def test_robots_txt_is_ignored_when_configured(web, conn, database_url, tmp_path):
    web.route("/robots.txt", body=b"User-agent: *\nDisallow: /\n", headers={"Content-Type": "text/plain"})
    web.route("/story.html", body=page("Story"))

    summary = run_batch(settings(tmp_path, database_url, respect_robots=False),
                        feeds_file(tmp_path, publish(web, [web.url("/story.html")])))

    assert summary.articles_loaded == 1
    assert web.requests_for("/robots.txt") == []


def robots(text: str, agent: str = "feedpipe") -> RobotsRules:
    return RobotsRules(RawResponse("https://paper.example/robots.txt", 200, "OK", [], text.encode(),
                                   datetime.now(timezone.utc)), agent)


@pytest.mark.parametrize("rules, path, allowed", [
    ("User-agent: *\nDisallow: /\nAllow: /news/\n", "/news/a", True),  # the longest match wins (RFC 9309 2.2.2)
    ("User-agent: *\nDisallow: /\nAllow: /news/\n", "/sport/a", False),
    ("User-agent: *\nDisallow: /*?print=\n", "/news/a?print=1", False),  # `*` matches any run of characters
    ("User-agent: *\nDisallow: /*?print=\n", "/news/a?page=2", True),
    ("User-agent: *\nDisallow: /*.pdf$\n", "/files/report.pdf", False),  # `$` anchors the end
    ("User-agent: *\nDisallow: /*.pdf$\n", "/files/report.pdf.html", True),
    ("User-agent: feedpipe\nDisallow: /drafts/\n\nUser-agent: *\nDisallow: /\n", "/news/a", True),
    ("User-agent: feedpipe\nDisallow: /drafts/\n\nUser-agent: *\nDisallow: /\n", "/drafts/a", False),
])
def test_robots_txt_is_read_per_rfc_9309(rules, path, allowed):
    assert robots(rules).allows("https://paper.example" + path) is allowed


def test_robots_groups_are_matched_on_the_configured_user_agents_product_token():
    rules = "User-agent: newsbot\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    assert product_token("NewsBot/2.0 (+https://newsroom.example/bot)") == "NewsBot"
    assert product_token("feedpipe/0.1 (+https://github.com/feedpipe/feedpipe)") == "feedpipe"
    assert not robots(rules, product_token("NewsBot/2.0 (+https://newsroom.example/bot)")).allows("https://paper.example/a")
    assert robots(rules, product_token("feedpipe/0.1")).allows("https://paper.example/a")


def test_a_page_the_longest_robots_rule_allows_is_fetched_for_the_configured_agent(web, conn, database_url, tmp_path):
    web.route("/robots.txt", body=b"User-agent: newsbot\nDisallow: /\nAllow: /news/\n\nUser-agent: *\nDisallow: /\n",
              headers={"Content-Type": "text/plain"})
    web.route("/news/a.html", body=page("News"))
    web.route("/sport/a.html", body=page("Sport"))
    feeds = feeds_file(tmp_path, publish(web, [web.url("/news/a.html"), web.url("/sport/a.html")]))

    summary = run_batch(settings(tmp_path, database_url, user_agent="NewsBot/2.0 (+https://newsroom.example/bot)"), feeds)

    assert (summary.articles_loaded, summary.articles_failed) == (1, 1)
    assert web.requests_for("/sport/a.html") == [] and len(web.requests_for("/news/a.html")) == 1


def test_a_page_answering_429_holds_its_domain_for_every_worker_and_the_entry_is_retried_later(
        web, conn, database_url, tmp_path):
    web.throttle("/busy.html", retry_after=3600)
    summary = run_batch(settings(tmp_path, database_url), feeds_file(tmp_path, publish(web, [web.url("/busy.html")])))

    assert summary.articles_failed == 1
    with conn.cursor() as cur:
        cur.execute("SELECT hold_until - now() FROM fetch_domains WHERE domain = '127.0.0.1'")
        [(held_for,)] = cur.fetchall()
        cur.execute("SELECT state FROM entries")
        assert cur.fetchone() == ("pending",)
    assert 3500 < held_for.total_seconds() <= 3600
