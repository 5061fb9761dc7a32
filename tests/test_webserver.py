"""The test web server does what each misbehaviour promises, seen by a real HTTP client."""
from __future__ import annotations

import threading
import time
import zlib
from datetime import datetime, timezone

import httpx
import pytest

from tests.webserver import MIB, RecordedRequest, Response, WebServer


def test_a_route_answers_with_its_body_status_and_headers_and_the_request_is_recorded(web: WebServer) -> None:
    web.route("/feed.xml", body=b"<rss/>", status=203, headers={"X-Feed": "yes"})

    response = httpx.get(web.url("/feed.xml?page=1"), headers={"User-Agent": "feedpipe-test"})

    assert (response.status_code, response.content, response.headers["X-Feed"]) == (203, b"<rss/>", "yes")
    assert response.headers["Content-Type"] == "text/xml"
    [request] = web.requests
    assert (request.method, request.path, request.host) == ("GET", "/feed.xml?page=1", "127.0.0.1")
    assert request.headers["User-Agent"] == "feedpipe-test"
    assert request.received_at <= time.monotonic()


def test_an_unknown_path_is_404(web: WebServer) -> None:
    assert httpx.get(web.url("/nothing-here")).status_code == 404


def test_etag_earns_a_304_when_if_none_match_matches(web: WebServer) -> None:
    web.route("/feed.xml", body=b"<rss/>", etag='"v1"')

    first = httpx.get(web.url("/feed.xml"))
    again = httpx.get(web.url("/feed.xml"), headers={"If-None-Match": first.headers["ETag"]})
    changed = httpx.get(web.url("/feed.xml"), headers={"If-None-Match": '"v0"'})

    assert (first.status_code, first.headers["ETag"]) == (200, '"v1"')
    assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", '"v1"')
    assert (changed.status_code, changed.content) == (200, b"<rss/>")


def test_last_modified_earns_a_304_when_if_modified_since_is_not_older(web: WebServer) -> None:
    modified = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
    web.route("/feed.xml", body=b"<rss/>", last_modified=modified)

    first = httpx.get(web.url("/feed.xml"))
    same = httpx.get(web.url("/feed.xml"), headers={"If-Modified-Since": first.headers["Last-Modified"]})
    older = httpx.get(web.url("/feed.xml"), headers={"If-Modified-Since": "Tue, 24 Nov 2026 08:00:00 GMT"})

    assert first.headers["Last-Modified"] == "Wed, 25 Nov 2026 08:00:00 GMT"
    assert same.status_code == 304
    assert older.status_code == 200


def test_if_none_match_decides_over_if_modified_since(web: WebServer) -> None:
    web.route("/feed.xml", body=b"<rss/>", etag='"v2"', last_modified="Wed, 25 Nov 2026 08:00:00 GMT")

    response = httpx.get(
        web.url("/feed.xml"),
        headers={"If-None-Match": '"v1"', "If-Modified-Since": "Wed, 25 Nov 2026 08:00:00 GMT"},
    )

    assert response.status_code == 200


def test_gzip_is_sent_only_to_clients_that_accept_it(web: WebServer) -> None:
    body = b"<rss>" + b"<item>same</item>" * 500 + b"</rss>"
    web.route("/feed.xml", body=body, gzip=True)

    with httpx.stream("GET", web.url("/feed.xml")) as compressed:
        wire_bytes = b"".join(compressed.iter_raw())
    plain = httpx.get(web.url("/feed.xml"), headers={"Accept-Encoding": "identity"})

    assert compressed.headers["Content-Encoding"] == "gzip"
    assert len(wire_bytes) < len(body) // 10 and zlib.decompress(wire_bytes, 31) == body
    assert "Content-Encoding" not in plain.headers and plain.content == body


def test_delay_holds_the_response_back(web: WebServer) -> None:
    web.route("/slow", body=b"ok", delay=0.3)

    started = time.monotonic()
    response = httpx.get(web.url("/slow"))

    assert response.content == b"ok" and time.monotonic() - started >= 0.3


def test_a_delay_longer_than_the_read_timeout_times_the_client_out(web: WebServer) -> None:
    web.route("/slow", body=b"ok", delay=2.0)

    with pytest.raises(httpx.ReadTimeout):
        httpx.get(web.url("/slow"), timeout=httpx.Timeout(5.0, read=0.2))


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_sends_location_with_the_given_status(web: WebServer, status: int) -> None:
    web.redirect("/old.xml", to=web.url("/new.xml"), status=status)
    web.route("/new.xml", body=b"<rss/>")

    hop = httpx.get(web.url("/old.xml"))
    followed = httpx.get(web.url("/old.xml"), follow_redirects=True)

    assert (hop.status_code, hop.headers["Location"]) == (status, web.url("/new.xml"))
    assert (followed.content, [r.status_code for r in followed.history]) == (b"<rss/>", [status])


def test_a_redirect_loop_is_served_as_a_loop(web: WebServer) -> None:
    web.redirect("/a", to="/b", status=302)
    web.redirect("/b", to="/a", status=302)

    with pytest.raises(httpx.TooManyRedirects):
        httpx.get(web.url("/a"), follow_redirects=True)


def test_throttle_sends_retry_after_in_seconds_or_as_an_http_date(web: WebServer) -> None:
    web.throttle("/busy", retry_after=120)
    web.throttle("/down", retry_after=datetime(2026, 11, 25, 9, 30, tzinfo=timezone.utc), status=503)

    busy, down = httpx.get(web.url("/busy")), httpx.get(web.url("/down"))

    assert (busy.status_code, busy.headers["Retry-After"]) == (429, "120")
    assert (down.status_code, down.headers["Retry-After"]) == (503, "Wed, 25 Nov 2026 09:30:00 GMT")


def test_a_truncated_body_ends_before_its_content_length(web: WebServer) -> None:
    web.truncated("/cut.xml", body=b"<rss><channel>", declared_length=1000)

    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(web.url("/cut.xml"))


@pytest.mark.parametrize("declare_length", [True, False])
def test_a_huge_body_streams_in_chunks(web: WebServer, declare_length: bool) -> None:
    web.huge("/huge.xml", size=3 * MIB + 5, declare_length=declare_length)

    with httpx.stream("GET", web.url("/huge.xml")) as response:
        chunks = [len(chunk) for chunk in response.iter_raw()]

    assert sum(chunks) == 3 * MIB + 5 and len(chunks) > 1
    assert ("Content-Length" in response.headers) is declare_length


def test_a_client_may_hang_up_on_a_huge_body_early(web: WebServer) -> None:
    web.huge("/huge.xml", size=1024 * MIB)
    web.route("/after", body=b"still serving")

    with httpx.stream("GET", web.url("/huge.xml")) as response:
        received = 0
        for chunk in response.iter_raw():
            received += len(chunk)
            if received > MIB:
                break

    assert httpx.get(web.url("/after")).content == b"still serving"


def test_a_gzip_bomb_is_small_on_the_wire_and_huge_decompressed(web: WebServer) -> None:
    web.gzip_bomb("/bomb.xml", mebibytes=64)

    with httpx.stream("GET", web.url("/bomb.xml"), headers={"Accept-Encoding": "identity"}) as response:
        wire_bytes = b"".join(response.iter_raw())

    assert response.headers["Content-Encoding"] == "gzip"
    assert len(wire_bytes) < 100 * 1024
    decompressor, decompressed = zlib.decompressobj(31), 0
    pending = wire_bytes
    while pending:
        decompressed += len(decompressor.decompress(pending, MIB))
        pending = decompressor.unconsumed_tail
    assert decompressed == 64 * MIB and decompressor.eof


def test_drip_sends_the_body_a_little_at_a_time(web: WebServer) -> None:
    web.drip("/drip.xml", body=b"<rss/>", interval=0.2, chunk_size=2)

    started = time.monotonic()
    with httpx.stream("GET", web.url("/drip.xml"), timeout=httpx.Timeout(5.0, read=1.0)) as response:
        body = b"".join(response.iter_raw())

    assert body == b"<rss/>" and time.monotonic() - started >= 0.4


def test_a_handler_answers_from_the_request(web: WebServer) -> None:
    def echo_user_agent(request: RecordedRequest) -> Response:
        return Response(status=200, body=request.headers["User-Agent"].encode(), headers={"X-Method": request.method})

    web.handler("/echo", echo_user_agent)

    response = httpx.post(web.url("/echo"), headers={"User-Agent": "feedpipe/0.1"}, content=b"payload")

    assert (response.content, response.headers["X-Method"]) == (b"feedpipe/0.1", "POST")
    assert web.requests[0].body == b"payload"


def test_registering_a_path_again_replaces_what_it_answers(web: WebServer) -> None:
    web.route("/feed.xml", status=500)
    first = httpx.get(web.url("/feed.xml"))
    web.route("/feed.xml", body=b"<rss/>")

    assert (first.status_code, httpx.get(web.url("/feed.xml")).status_code) == (500, 200)
    assert len(web.requests_for("/feed.xml")) == 2


def test_each_loopback_address_is_its_own_host(web: WebServer) -> None:
    web.route("/feed.xml", body=b"<rss/>")

    for address in web.addresses:
        assert httpx.get(web.url("/feed.xml", host=address)).status_code == 200

    assert [(r.host, r.address) for r in web.requests] == [(a, a) for a in web.addresses]


def test_the_host_header_names_the_host(web: WebServer) -> None:
    web.route("/feed.xml", body=b"<rss/>")

    httpx.get(web.url("/feed.xml"), headers={"Host": "Feeds.Example.com:8080"})

    assert web.requests[0].host == "feeds.example.com"
    assert web.max_concurrent(host="feeds.example.com") == 1


def test_concurrent_requests_are_counted_overall_and_per_host(web: WebServer) -> None:
    all_in_flight = threading.Barrier(5, timeout=10)

    def answer_once_all_five_are_in_flight(request: RecordedRequest) -> Response:
        all_in_flight.wait()
        return Response(body=b"ok")

    web.handler("/slow", answer_once_all_five_are_in_flight)
    targets = [web.url("/slow")] * 3 + [web.url("/slow", host="127.0.0.2")] * 2
    statuses: list[int] = []

    threads = [threading.Thread(target=lambda url=url: statuses.append(httpx.get(url).status_code)) for url in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 5
    assert web.max_concurrent() == 5
    assert (web.max_concurrent(host="127.0.0.1"), web.max_concurrent(host="127.0.0.2")) == (3, 2)
    assert web.max_concurrent(host="127.0.0.3") == 0


def test_sequential_requests_are_never_concurrent(web: WebServer) -> None:
    web.route("/feed.xml", body=b"<rss/>")

    with httpx.Client() as client:
        for _ in range(5):
            client.get(web.url("/feed.xml"))

    assert web.max_concurrent() == 1 and len(web.requests) == 5


def test_the_server_binds_loopback_addresses_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        WebServer(addresses=("0.0.0.0",))


def test_stopping_cuts_a_slow_response_short() -> None:
    web = WebServer(addresses=("127.0.0.1",))
    web.drip("/drip", body=b"x" * 100, interval=10.0)
    received: list[bytes] = []
    errors: list[Exception] = []

    def fetch() -> None:
        try:
            with httpx.stream("GET", web.url("/drip")) as response:
                received.extend(response.iter_raw())
        except httpx.HTTPError as error:
            errors.append(error)

    client = threading.Thread(target=fetch)
    client.start()
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    web.stop()
    client.join(timeout=5)

    assert not client.is_alive() and time.monotonic() - started < 5
    assert b"".join(received) == b"x" and isinstance(errors[0], httpx.RemoteProtocolError)
