"""The fetcher against a real local HTTP server: guards, limits, decoding, redirects, timeouts."""
from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import zlib

import brotli
import pytest

from pipeline import fetch
from pipeline.fetch import FEED_MAX_BYTES, Fetched, FetchError, Fetcher, FetchPolicy
from tests.webserver import Response

USER_AGENT = "feedpipe-test/1 (+https://example.org/feedpipe-contact)"


def get(url: str, policy: FetchPolicy | None = None, max_bytes: int = FEED_MAX_BYTES) -> Fetched:
    policy = policy or FetchPolicy(USER_AGENT, allow_private_addresses=True)

    async def run() -> Fetched:
        fetcher = Fetcher(policy)
        try:
            return await fetcher.get(url, max_bytes)
        finally:
            await fetcher.aclose()

    return asyncio.run(run())


def refusal(url: str, policy: FetchPolicy | None = None) -> FetchError:
    with pytest.raises(FetchError) as caught:
        get(url, policy or FetchPolicy(USER_AGENT))
    return caught.value


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/", "http://10.0.0.1/feed", "http://169.254.169.254/latest/meta-data/",
                                 "http://[::1]:9/", "http://[::ffff:127.0.0.1]/", "http://224.0.0.1/", "http://localhost:9/"])
def test_ssrf_guard_refuses_non_public_addresses_before_connecting(url):
    error = refusal(url)
    assert error.kind == "refused"
    assert "--allow-private-addresses" in str(error)


def test_ssrf_guard_checks_every_redirect_hop(web, monkeypatch):
    """The first hop is let through (as if 127.0.0.1 were public); every redirect target is checked again."""
    checked = fetch.forbidden_address_reason
    monkeypatch.setattr(fetch, "forbidden_address_reason",
                        lambda address: None if str(address) == "127.0.0.1" else checked(address))
    targets = {"/to-loopback": web.url("/feed.xml", host="127.0.0.2"), "/to-private": "http://10.0.0.1/feed",
               "/to-metadata": "http://169.254.169.254/latest/meta-data/", "/to-ipv6-loopback": "http://[::1]/feed"}
    web.route("/feed.xml", b"<rss/>")
    for path, target in targets.items():
        web.redirect(path, target, status=302)
        assert refusal(web.url(path)).kind == "refused", path
    assert web.requests_for("/feed.xml") == []


def test_private_addresses_are_fetched_with_the_flag(web):
    web.route("/feed.xml", b"<rss/>")
    web.redirect("/moved", web.url("/feed.xml", host="127.0.0.2"))
    assert get(web.url("/moved")).response.body == b"<rss/>"


def test_only_http_and_https_are_fetched(web):
    web.redirect("/to-file", "file:///etc/passwd")
    assert refusal("ftp://example.org/feed").kind == "refused"
    assert refusal(web.url("/to-file"), FetchPolicy(USER_AGENT, allow_private_addresses=True)).kind == "refused"


def test_requests_name_feedpipe_and_accept_compression(web):
    web.route("/feed.xml", b"<rss/>")
    get(web.url("/feed.xml"))
    headers = web.requests_for("/feed.xml")[0].headers
    assert headers["User-Agent"] == USER_AGENT
    assert {"gzip", "deflate", "br"} <= {c.strip() for c in headers["Accept-Encoding"].split(",")}


@pytest.mark.parametrize("coding, encode", [
    ("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", lambda b: zlib.compress(b, wbits=-15)),
    ("br", brotli.compress),
])
def test_compressed_bodies_are_decoded(web, coding, encode):
    body = b"<rss>" + b"news " * 2000 + b"</rss>"
    web.handler("/feed.xml", lambda request: Response(200, encode(body), {"Content-Encoding": coding}))
    assert get(web.url("/feed.xml")).response.body == body


def test_oversize_body_is_cut_off_while_streaming(web):
    web.huge("/huge.xml", size=3 * 1024 * 1024, declare_length=False)
    with pytest.raises(FetchError) as caught:
        get(web.url("/huge.xml"), max_bytes=1024 * 1024)
    assert caught.value.kind == "too_large"


def test_declared_oversize_body_is_refused_before_reading(web):
    web.huge("/huge.xml", size=12 * 1024 * 1024, declare_length=True)
    with pytest.raises(FetchError, match="larger than 10,485,760 bytes"):
        get(web.url("/huge.xml"))


def test_gzip_bomb_is_cut_off_with_bounded_memory(web):
    web.gzip_bomb("/bomb.xml", mebibytes=1024)
    tracemalloc.start()
    try:
        with pytest.raises(FetchError) as caught:
            get(web.url("/bomb.xml"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.kind == "too_large"
    assert peak < 3 * FEED_MAX_BYTES


def test_slow_drip_times_out(web):
    web.drip("/slow.xml", b"<rss>" + b" " * 100 + b"</rss>", interval=0.2, chunk_size=1)
    with pytest.raises(FetchError) as caught:
        get(web.url("/slow.xml"), FetchPolicy(USER_AGENT, allow_private_addresses=True, total_timeout=1.0))
    assert caught.value.kind == "timeout"


def test_silent_server_hits_the_read_timeout(web):
    web.route("/stalled.xml", b"<rss/>", delay=2.0)
    with pytest.raises(FetchError) as caught:
        get(web.url("/stalled.xml"), FetchPolicy(USER_AGENT, allow_private_addresses=True, read_timeout=0.3))
    assert caught.value.kind == "timeout"


def test_redirect_loop_stops(web):
    web.redirect("/a", "/b", status=302)
    web.redirect("/b", "/a", status=302)
    with pytest.raises(FetchError, match="redirect loop") as caught:
        get(web.url("/a"))
    assert caught.value.kind == "redirects"
    assert len(web.requests) == 2


def test_redirect_chain_is_capped(web):
    for hop in range(10):
        web.redirect(f"/hop{hop}", f"/hop{hop + 1}", status=307)
    with pytest.raises(FetchError, match="more than 5 redirects"):
        get(web.url("/hop0"))


def test_permanent_target_is_where_the_leading_301s_lead(web):
    web.redirect("/old", "/newer", status=301)
    web.redirect("/newer", "/today", status=302)
    web.route("/today", b"<rss/>")
    fetched = get(web.url("/old"))
    assert [hop.status for hop in fetched.redirects] == [301, 302]
    assert fetched.permanent_target == web.url("/newer")
    assert fetched.response.url == web.url("/today")
