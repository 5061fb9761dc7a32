"""Clean: take syndication boilerplate out of an extracted page, keeping a record of every removal."""
from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.extract import ExtractedPage

RULES_VERSION = "0"


@dataclass
class Removal:
    """One thing taken out of a body, and the rule that took it."""

    text: str
    rule: str


@dataclass
class Syndication:
    syndicated: bool = False
    agency: str | None = None
    notice: str | None = None


@dataclass
class CleanedPage:
    page: ExtractedPage
    paragraphs: list[str]
    dateline: str | None = None
    syndication: Syndication = field(default_factory=Syndication)
    removed: list[Removal] = field(default_factory=list)


def clean_page(page: ExtractedPage) -> CleanedPage:
    """Drop empty paragraphs; the cleaning issue fills in the boilerplate rules."""
    return CleanedPage(page=page, paragraphs=[p for p in page.paragraphs if p.strip()])
