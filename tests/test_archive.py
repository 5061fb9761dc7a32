import gzip
import io
from datetime import datetime, timezone

import boto3
import pytest
from warcio.archiveiterator import ArchiveIterator

from pipeline.archive import RawResponse, archive_response, open_archive

FEED_BYTES = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def a_response(body: bytes = FEED_BYTES) -> RawResponse:
    return RawResponse(
        url="http://news.example/feed.xml",
        status=200,
        reason="OK",
        headers=[("Content-Type", "application/rss+xml"), ("Content-Encoding", "gzip"), ("ETag", '"v1"')],
        body=body,
        fetched_at=datetime(2026, 11, 25, 7, 30, tzinfo=timezone.utc),
    )


@pytest.fixture(params=["file", "s3"])
def archive(request, tmp_path):
    if request.param == "file":
        return open_archive(tmp_path.as_uri())
    bucket = request.getfixturevalue("s3_bucket")
    return open_archive(f"s3://{bucket}/raw-archive", request.getfixturevalue("s3_endpoint"))


def read_records(data: bytes) -> list:
    return [
        (record.rec_headers, record.http_headers, record.content_stream().read())
        for record in ArchiveIterator(io.BytesIO(data))
    ]


def test_archived_record_reads_back_as_the_exact_response(archive):
    record = archive_response(archive, "feeds", a_response())

    [(warc_headers, http_headers, payload)] = read_records(archive.get(record.key))
    assert payload == FEED_BYTES
    assert warc_headers.get_header("WARC-Type") == "response"
    assert warc_headers.get_header("WARC-Target-URI") == "http://news.example/feed.xml"
    assert warc_headers.get_header("WARC-Date") == "2026-11-25T07:30:00Z"
    assert warc_headers.get_header("WARC-Payload-Digest").startswith("sha1:")
    assert http_headers.statusline == "200 OK"
    assert http_headers.get_header("ETag") == '"v1"'
    assert http_headers.get_header("Content-Encoding") is None  # the payload is kept decoded
    assert record.key.startswith("raw/feeds/") and record.key.endswith(".warc.gz")


def test_record_is_a_gzipped_warc_file(archive):
    record = archive_response(archive, "pages", a_response(b"<html>page</html>"))
    assert gzip.decompress(archive.get(record.key)).startswith(b"WARC/1.1")


def test_archiving_the_same_payload_twice_writes_nothing_new(archive):
    first = archive_response(archive, "feeds", a_response())
    second = archive_response(archive, "feeds", a_response())
    assert first.bytes_written > 0
    assert second.key == first.key and second.bytes_written == 0


def test_s3_archive_writes_under_the_prefix_of_its_url(s3_bucket, s3_endpoint):
    archive = open_archive(f"s3://{s3_bucket}/team/raw", s3_endpoint)
    record = archive_response(archive, "feeds", a_response())
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == [f"team/raw/{record.key}"]


def test_archive_url_must_be_s3_or_file():
    with pytest.raises(ValueError, match="s3://bucket/prefix or file:///path"):
        open_archive("ftp://somewhere/archive")
