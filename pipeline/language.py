"""Language identification with py3langid, whose model is read when this module is imported (about 0.7 s of CPU,
100 MB at its peak). The fork server imports it (pipeline.children), so process workers start with the model in
memory they share; other processes read it when they first identify a language."""
from __future__ import annotations

import py3langid

# Enough text to tell the language of a news article: on 1,068 of the 1,070 dev pages the same answer as the first
# 1,000 characters give (the other two are a page of script and one in Papiamento, which neither names right), at
# half their cost: each character is a step through a 37 MB table, about 1 µs in a worker (lockstep: 3.7% of a
# page's processing). The whole body would cost twenty times more.
SAMPLE_CHARS = 500

py3langid.set_languages(None)  # every language; reads the model now, not on the first article


def identify_language(text: str) -> str | None:
    if not text.strip():
        return None
    language, _ = py3langid.classify(text[:SAMPLE_CHARS])
    return language
