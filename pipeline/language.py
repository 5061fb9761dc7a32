"""Language identification with py3langid, whose model is read when this module is imported (about 0.7 s of CPU,
100 MB at its peak). The fork server imports it (pipeline.children), so process workers start with the model in
memory they share; other processes read it when they first identify a language."""
from __future__ import annotations

import py3langid

# Enough text to tell the language of a news article; classifying the whole body costs ten times more.
SAMPLE_CHARS = 1000

py3langid.set_languages(None)  # every language; reads the model now, not on the first article


def identify_language(text: str) -> str | None:
    if not text.strip():
        return None
    language, _ = py3langid.classify(text[:SAMPLE_CHARS])
    return language
