"""`feedpipe extract` on the seed story, our syndicated fixtures, gzip, stdin and bad input."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).parents[1].parent / "shared"
SEED = SHARED / "seed" / "ndtv-syndicated.txt"
CHECKER = SHARED / "tools" / "check_seed.py"
FIXTURES = REPO / "tests" / "fixtures" / "syndicated"


def feedpipe(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """The real command line, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-c", "from pipeline.cli import app; app()", *args],
        cwd=REPO, input=stdin, capture_output=True, timeout=120,
    )


@pytest.mark.skipif(not SEED.exists(), reason=f"the shared seed story is not at {SEED}")
def test_seed_story_passes_every_check_of_the_seed_checker():
    result = feedpipe("extract", str(SEED), "--format", "json")
    assert result.returncode == 0, result.stderr.decode()
    check = subprocess.run([sys.executable, str(CHECKER)], input=result.stdout, capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout.decode()
    doc = json.loads(result.stdout)
    assert {"rule": "ad_marker", "text": "Advertisement"} in doc["removed"]
    assert doc["syndication"]["notice"].startswith("(Except for the headline")


def expected_fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


@pytest.mark.parametrize("expected_file", expected_fixtures(), ids=lambda p: p.stem)
def test_syndicated_fixture_comes_out_as_labelled(expected_file: Path):
    expected = json.loads(expected_file.read_text(encoding="utf-8"))
    result = feedpipe("extract", str(expected_file.with_suffix(".html")), "--url", expected["url"])
    assert result.returncode == 0, result.stderr.decode()
    doc = json.loads(result.stdout)
    assert doc["paragraphs"] == expected["body"]
    assert doc["text"] == "\n\n".join(expected["body"])
    assert (doc["title"], doc["dateline"], doc["canonical_url"]) == (
        expected["title"], expected["dateline"], expected["canonical_url"])
    assert (doc["syndication"]["syndicated"], doc["syndication"]["agency"]) == (
        expected["syndicated"], expected["agency"])
    assert all(marker not in doc["text"] for marker in expected["boilerplate"])
    assert all(r["rule"] for r in doc["removed"])


def test_several_files_print_one_json_line_each_with_its_path_and_errors_do_not_stop_the_rest(tmp_path: Path):
    page = FIXTURES / "german-dpa-copy.html"
    gzipped = tmp_path / "copy.html.gz"
    gzipped.write_bytes(gzip.compress(page.read_bytes()))
    missing = tmp_path / "missing.html"
    result = feedpipe("extract", str(page), str(missing), str(gzipped))
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [line["path"] for line in lines] == [str(page), str(missing), str(gzipped)]
    assert lines[1]["error"] == "No such file or directory"
    assert lines[0]["paragraphs"] == lines[2]["paragraphs"] != []
    assert lines[0]["language"] == "de"


def test_plain_text_from_stdin_is_split_into_paragraphs_on_line_breaks():
    text = "Harbour reopens after storm\n\nKOCHI: The harbour reopened on Monday after repairs.\nFishing boats left at dawn.\n"
    result = feedpipe("extract", "-", stdin=text.encode())
    doc = json.loads(result.stdout)
    assert doc["title"] == "Harbour reopens after storm"
    assert doc["dateline"] == "KOCHI"
    assert doc["paragraphs"] == ["The harbour reopened on Monday after repairs.", "Fishing boats left at dawn."]


def test_text_format_shows_the_body_and_what_was_removed():
    result = feedpipe("extract", str(FIXTURES / "metro-ledger-ians-copy.html"), "--format", "text")
    out = result.stdout.decode()
    assert "Chennai metro extends late-night service for exam season" in out
    assert "related_block" in out or "trailing_headlines" in out
    assert "agency: IANS" in out


def test_url_with_several_files_is_refused():
    page = str(FIXTURES / "german-dpa-copy.html")
    result = feedpipe("extract", page, page, "--url", "https://example.com/a")
    assert result.returncode == 2
    assert "--url applies to one file" in result.stderr.decode()


def test_binary_input_gets_a_clear_error(tmp_path: Path):
    blob = tmp_path / "image.bin"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    result = feedpipe("extract", str(blob))
    assert result.returncode == 1
    assert "binary" in result.stderr.decode()
