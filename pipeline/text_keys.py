"""The forms text is compared in: by the cleaning rules, learned lines, and page blocks."""
from __future__ import annotations

import re
import unicodedata

ZERO_WIDTH = re.compile("[\u200b\u2060\ufeff\u00ad]")
QUOTES = re.compile(r"[\"'“”‘’«»„]")


def line_key(text: str) -> str:
    """The form rules and comparisons see: NFKC, no zero-width characters, whitespace collapsed."""
    return " ".join(ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", text)).split())


def comparison_key(text: str) -> str:
    """Loose form for spotting repeats: case and quote styles ignored."""
    return comparison_key_of_line_key(line_key(text))


def comparison_key_of_line_key(key: str) -> str:
    """`comparison_key` of a text whose `line_key` is already at hand."""
    return QUOTES.sub("", key.casefold())
