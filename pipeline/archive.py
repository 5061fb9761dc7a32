"""Archive: every HTTP response fetched, kept as a gzipped WARC response record at a content-addressed key.

Two backends share one small interface: an S3-compatible bucket (boto3) and a local folder. The key is
derived from the payload's SHA-256, so archiving the same payload twice writes nothing new. Callers write
the record before they commit the database row that names its key, so no row points at a missing object."""
from __future__ import annotations

import hashlib
import io
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Protocol
from urllib.parse import unquote, urlparse

from isal import igzip, isal_zlib
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# Headers that describe the transfer rather than the payload we keep (httpx hands us decoded bytes).
TRANSFER_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}
# A record is gzipped by ISA-L (isal) at its level 1: the same size as zlib's level 1 (38.5% of 380 dev pages'
# bytes) in a fifth of its time (0.19 ms against 1.0 ms a page, 0.3 ms against 8 ms for warcio's level 9).
# Archiving runs once per page fetched, on the fetching process, which shares the cores with processing.
RECORD_GZIP_LEVEL = 1
GZIP_MAGIC = b"\x1f\x8b"


class ArchiveUrlError(ValueError):
    """An archive URL feedpipe cannot use; the message says what it expects."""


class ArchiveError(Exception):
    """The archive cannot be read or written: S3 unreachable, a missing bucket, refused credentials, a folder
    feedpipe cannot write. The message is one line naming the archive and what failed. It is the run's failure,
    never a feed's or an entry's: callers let it end the run."""


class Archive(Protocol):
    def check(self) -> None: ...
    def write_once(self, key: str, make_record: Callable[[], bytes]) -> int: ...
    def get(self, key: str) -> bytes: ...


@dataclass(frozen=True)
class ArchivedRecord:
    key: str
    bytes_written: int  # 0 when the object was already there


@dataclass(frozen=True)
class RawResponse:
    """One HTTP response as received: what the archive needs to write a WARC record."""

    url: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    fetched_at: datetime


class LocalArchive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key

    @contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            raise ArchiveError(f"archive folder {self.root}: cannot {doing}: {error.strerror or error}") from error

    def check(self) -> None:
        """Raise ArchiveError unless the folder exists (or can be made) and can be written."""
        with self._failures("create it"):
            self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise ArchiveError(f"archive folder {self.root}: cannot write there: Permission denied")

    def write_once(self, key: str, make_record: Callable[[], bytes]) -> int:
        """Write the record `make_record` builds unless `key` is there already; returns the bytes written (0 when
        it was there, without building the record)."""
        path = self._path(key)
        if path.is_file():
            return 0
        data = make_record()
        with self._failures(f"write {key}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(path.suffix + ".partial")
            partial.write_bytes(data)
            partial.replace(path)
        return len(data)

    def get(self, key: str) -> bytes:
        with self._failures(f"read {key}"):
            return self._path(key).read_bytes()


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str
    region: str | None = None


# What a conditional put answers when the object exists (or another writer's conditional put of it is in flight).
ALREADY_WRITTEN = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


class S3Archive:
    """boto3 is imported here, not with the module: it costs every process about 0.13 s of CPU and 15 MB, and
    most never open an S3 archive (the crawler, and every process of a folder-archive deployment)."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 credentials: S3Credentials | None = None) -> None:
        import boto3
        import botocore.config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        given = {}
        if credentials:
            given = {"aws_access_key_id": credentials.access_key_id,
                     "aws_secret_access_key": credentials.secret_access_key, "region_name": credentials.region}
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
            **given,
        )

    def _object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        import botocore.exceptions

        try:
            yield
        except botocore.exceptions.ClientError as error:
            details = error.response.get("Error", {})
            code, message = details.get("Code", "error"), details.get("Message") or ""
            if code in {"404", "NotFound"} and doing == "check the bucket":
                code, message = "NoSuchBucket", "the bucket does not exist"
            raise ArchiveError(f"{self._where()}: cannot {doing}: {code} {message}".rstrip()) from error
        except botocore.exceptions.BotoCoreError as error:
            raise ArchiveError(f"{self._where()}: cannot {doing}: {error}") from error

    def _where(self) -> str:
        endpoint = self.client.meta.endpoint_url
        return f"archive s3://{self.bucket}/{self.prefix} at {endpoint}"

    def check(self) -> None:
        """Raise ArchiveError unless the bucket exists and these credentials reach it."""
        with self._failures("check the bucket"):
            self.client.head_bucket(Bucket=self.bucket)

    def write_once(self, key: str, make_record: Callable[[], bytes]) -> int:
        """Write the record unless `key` is there already, in one conditional request (If-None-Match: *, which
        S3 answers 412 when the object exists); returns the bytes written, 0 when it was there. A store that
        ignores the condition overwrites the record with a newer one of the same payload."""
        import botocore.exceptions

        data = make_record()
        with self._failures(f"write {key}"):
            try:
                self.client.put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data,
                                       ContentType="application/warc", IfNoneMatch="*")
            except botocore.exceptions.ClientError as error:
                if error.response.get("Error", {}).get("Code") in ALREADY_WRITTEN:
                    return 0
                raise
        return len(data)

    def get(self, key: str) -> bytes:
        with self._failures(f"read {key}"):
            return self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))["Body"].read()


def open_archive(archive_url: str, s3_endpoint_url: str | None = None,
                 credentials: S3Credentials | None = None) -> Archive:
    """`s3://bucket/prefix` or `file:///path`; without `credentials`, S3 uses boto3's own credential chain."""
    parsed = urlparse(archive_url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ArchiveUrlError(f"archive URL {archive_url!r} names no bucket")
        return S3Archive(parsed.netloc, parsed.path, s3_endpoint_url, credentials)
    if parsed.scheme == "file":
        return LocalArchive(Path(unquote(parsed.path)))
    raise ArchiveUrlError(f"archive URL {archive_url!r}: use s3://bucket/prefix or file:///path")


def archive_key(kind: str, payload: bytes) -> str:
    digest = hashlib.sha256(payload).hexdigest()
    return f"raw/{kind}/{digest[:2]}/{digest}.warc.gz"


def warc_record_bytes(response: RawResponse) -> bytes:
    """A gzipped WARC/1.1 response record (one gzip member): target URI, date, status line, headers, payload and
    digests. warcio writes the record; it is compressed here, since warcio's own gzip is zlib's level 9."""
    headers = [(k, v) for k, v in response.headers if k.lower() not in TRANSFER_HEADERS]
    headers.append(("Content-Length", str(len(response.body))))
    http_headers = StatusAndHeaders(f"{response.status} {response.reason}".strip(), headers, protocol="HTTP/1.1")
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False, warc_version="1.1")
    warc_date = response.fetched_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    record = writer.create_warc_record(
        response.url,
        "response",
        payload=io.BytesIO(response.body),
        length=len(response.body),
        http_headers=http_headers,
        warc_headers_dict={"WARC-Date": warc_date},
    )
    writer.write_record(record)
    # MAX_WBITS + 16: one gzip member
    compressor = isal_zlib.compressobj(RECORD_GZIP_LEVEL, isal_zlib.DEFLATED, isal_zlib.MAX_WBITS + 16)
    return compressor.compress(out.getbuffer()) + compressor.flush()


def archive_response(archive: Archive, kind: str, response: RawResponse) -> ArchivedRecord:
    """Write the response's WARC record unless its payload is archived already."""
    key = archive_key(kind, response.body)
    return ArchivedRecord(key, archive.write_once(key, lambda: warc_record_bytes(response)))


class ArchiveRecordError(ValueError):
    """An archived object that is not the WARC response record feedpipe wrote."""


def read_response(archive: Archive, key: str) -> RawResponse:
    """The response archived at `key`: its URL, status, headers, payload (the bytes that were served) and time.

    A gzipped object is inflated by ISA-L before warcio reads it: half the time of warcio's own zlib (0.3 ms
    against 0.6 ms a page), once per page processed."""
    data = archive.get(key)
    if data[:2] == GZIP_MAGIC:
        data = igzip.decompress(data)
    for record in ArchiveIterator(io.BytesIO(data)):
        if record.rec_type != "response":
            continue
        status_line = record.http_headers.get_statuscode()
        reason = record.http_headers.statusline.partition(" ")[2]
        return RawResponse(
            url=record.rec_headers.get_header("WARC-Target-URI"),
            status=int(status_line),
            reason=reason or "",
            headers=[(name, value) for name, value in record.http_headers.headers if name.lower() != "content-length"],
            body=record.content_stream().read(),
            fetched_at=datetime.strptime(record.rec_headers.get_header("WARC-Date"), "%Y-%m-%dT%H:%M:%SZ")
            .replace(tzinfo=timezone.utc),
        )
    raise ArchiveRecordError(f"archive object {key} holds no WARC response record")


def payload_sha256(key: str) -> str:
    """The payload digest a content-addressed key names."""
    return key.rsplit("/", 1)[-1].split(".", 1)[0]
