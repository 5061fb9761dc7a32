"""The publisher rules file: CSS selectors dropped before extraction, and clear errors for a bad file."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.clean import RulesError, load_rules
from pipeline.extract import extract_html

BODY = "".join(
    f"<p>The harbour board met on Monday to discuss item {n} of the repair plan for the old pier and its cranes.</p>"
    for n in range(4)
)
PAGE = (f"<html><head><title>Pier repairs</title></head><body><article><h1>Pier repairs</h1>{BODY}"
        "<div class='promo-strip'><p>Our reporters visited the pier on a cold morning to see the cranes at work.</p></div>"
        "</article></body></html>")


def test_selected_elements_are_dropped_before_extraction():
    kept = extract_html(PAGE, "https://harbour.example/a").paragraphs
    dropped = extract_html(PAGE, "https://harbour.example/a", drop_selectors=["div.promo-strip"]).paragraphs
    assert any("cold morning" in p for p in kept)
    assert not any("cold morning" in p for p in dropped)
    assert dropped == [p for p in kept if "cold morning" not in p]


def test_rules_are_found_by_domain_and_subdomain(tmp_path: Path):
    rules_file = tmp_path / "publishers.yaml"
    rules_file.write_text("harbour.example:\n  drop_selectors: ['div.promo-strip']\n  lines:\n    tide: '^Tide table'\n")
    rules = load_rules(rules_file)
    assert rules.for_url("https://news.harbour.example/a").drop_selectors == ("div.promo-strip",)
    assert rules.for_url("https://www.harbour.example/a").line_rules[0].name == "publisher:harbour.example:tide"
    assert rules.for_url("https://otherharbour.example/a") is None


@pytest.mark.parametrize("content, message", [
    ("harbour.example:\n  lines:\n    broken: '(unclosed'\n", "harbour.example: line rule 'broken' has a bad pattern"),
    ("harbour.example:\n  drop_selectors: ['div[']\n", "harbour.example: bad CSS selector 'div['"),
    ("harbour.example:\n  drop_selector: ['div']\n", "harbour.example: unknown keys ['drop_selector']"),
])
def test_a_bad_rules_file_names_the_publisher_and_the_rule(tmp_path: Path, content: str, message: str):
    rules_file = tmp_path / "publishers.yaml"
    rules_file.write_text(content)
    with pytest.raises(RulesError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_rules(rules_file)


def test_the_rules_version_changes_with_the_rules_file(tmp_path: Path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("harbour.example:\n  lines:\n    tide: '^Tide table'\n")
    second.write_text("harbour.example:\n  lines:\n    tide: '^Tide tables'\n")
    assert load_rules(first).version != load_rules(second).version
