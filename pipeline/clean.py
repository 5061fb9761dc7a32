"""Clean: take syndication boilerplate out of an extracted page, keeping a record of every removal.

Every rule has a name, and every paragraph (or part of one) a rule takes out is listed in `removed` with
that name. Rules see each paragraph as `line_key` text (NFKC, zero-width characters gone, whitespace
collapsed), so an ad marker written with a no-break space is still an ad marker. The order is:
line rules (markers, prompts, credits, notices, publisher and learned lines), blocks (a video or
related-content header and the headline lines under it), the dateline, repeated paragraphs, and a
wire credit at the end of the last paragraph.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Collection
from urllib.parse import urlsplit

import yaml

from cssselect import SelectorError
from lxml.cssselect import CSSSelector

from pipeline.extract import ExtractedPage
from pipeline.template import block_key, is_linked_teaser, is_template, teaser_runs, template_fingerprints
from pipeline.text_keys import comparison_key, comparison_key_of_line_key, line_key

# Bump when a built-in rule changes; the publisher file's own digest is appended to it (RuleSet.version).
RULES_VERSION = "4"
PUBLISHER_RULES_FILE = Path(__file__).resolve().parent / "rules" / "publishers.yaml"

SENTENCE_END = tuple('.?!"\'”’»')
ASCII_LOWERCASE = re.compile("[a-z]")
QUOTE_MARKS = re.compile(r"[\"“”«»„]")

# Words a paragraph may start with, followed by a colon, that are labels and not places.
NOT_A_PLACE = {
    "update", "updated", "breaking", "exclusive", "analysis", "opinion", "explainer", "note", "editor's note",
    "watch", "video", "live", "photos", "photo", "file", "claim", "the facts", "ap's assessment", "assessment",
    "q", "a", "read", "also read", "fact check", "correction", "clarification", "warning", "summary", "highlights",
    "key points", "related", "source", "sources", "by", "and", "but", "so", "yes", "no",
}

# Words that show a "Label:" opening a paragraph is not a place ("FANDUEL SPORTSBOOK LINE:", "From WECT News:").
NOT_IN_A_PLACE_NAME = {
    "from", "by", "via", "the", "on", "in", "at", "for", "to", "with", "and", "what", "why", "how", "when", "who",
    "where", "this", "here", "my", "our", "your", "line", "news", "report", "update", "live", "claim", "facts",
    "assessment", "odds", "score", "result", "results", "editor", "editor's", "said", "says",
}

# Known boilerplate strings: what `make eval` counts as left behind, and what the `publisher_quality` view and
# the Airflow run check look for in stored bodies (sql/0003_cleaning.sql seeds the same list into
# `boilerplate_markers`; sql/0011_marker_words.sql's `boilerplate_marker_left` matches them as
# `boilerplate_markers_left` here does).
KNOWN_BOILERPLATE = (
    "Advertisement",
    "Story continues below",
    "Read Time:",
    "min read",
    "Featured Video Of The Day",
    "syndicated feed",
    "Also Read:",
    "Read more:",
    "Click here to",
    "Follow us on",
    "Sign up for our newsletter",
    "Download the app",
    "Scroll to continue",
    "Reporting by",
    "Editing by",
)

# What may stand around a marker that makes up a paragraph of its own: spaces, bullets, dashes, brackets, quotes
# and sentence punctuation ("• ADVERTISEMENT •", "- Advertisement -").
MARKER_EDGE_CHARACTERS = " \t\r\u00a0•·*#>|()[]-–—:;,.!?\"'“”‘’…"
_WITHOUT_EDGE_CHARACTERS = dict.fromkeys(map(ord, MARKER_EDGE_CHARACTERS))


def boilerplate_markers_left(text: str) -> list[str]:
    """The known markers `text` still carries, ignoring case.

    A phrase ("Story continues below", "Editing by") is page furniture wherever it occurs. A marker of one word
    ("Advertisement") is also an ordinary word of the language, so it counts only where it makes up a paragraph of
    its own (the label the page printed), not inside the story's sentences ("carefully sculpted advertisements").
    """
    folded = text.lower()
    return [marker for marker in KNOWN_BOILERPLATE
            if marker.lower() in folded and (" " in marker or _stands_alone(marker.lower(), folded))]


def _stands_alone(word: str, folded: str) -> bool:
    for paragraph in folded.split("\n"):
        bare = paragraph.translate(_WITHOUT_EDGE_CHARACTERS)
        if bare and not bare.replace(word, ""):
            return True
    return False


@dataclass(frozen=True)
class LineRule:
    """A paragraph that matches `pattern` (and is at most `max_chars` long) is boilerplate."""

    name: str
    pattern: re.Pattern[str]
    max_chars: int = 200
    # When given, the pattern can only match a line holding one of these (in lower case): a pattern searched at
    # every position of a line costs 3-20 µs, a test for a few substrings well under one.
    needles: tuple[str, ...] = ()

    def matches(self, key: str) -> bool:
        if len(key) > self.max_chars:
            return False
        if self.needles:
            folded = key.lower()
            if not any(needle in folded for needle in self.needles):
                return False
        return bool(self.pattern.search(key))


@dataclass(frozen=True)
class BlockRule:
    """A header line, and up to `max_following` headline-like lines right after it (each with its lead, with
    `with_leads`), are boilerplate."""

    name: str
    header: re.Pattern[str]
    max_following: int
    with_leads: bool = False


def _rule(name: str, pattern: str, max_chars: int = 200, needles: tuple[str, ...] = ()) -> LineRule:
    return LineRule(name, re.compile(pattern, re.IGNORECASE), max_chars, needles)


AD_WORDS = (
    r"advertisements?|advertisment|advert|ads?|sponsored(?: content| post| story)?|paid (?:content|post)|promoted"
    r"|(?:story|article) continues (?:below|after)(?: this)?(?: advertisement| ad)?|continue reading (?:below|after)"
    r"|advertisement\s*[-–—:]\s*scroll to continue|scroll to continue(?: with content)?"
    r"|anzeige|werbung|publicité|publicidad|pubblicità|reclame|реклама|विज्ञापन|广告|広告|광고|إعلان"
)
AGENCIES = {
    "reuters": "Reuters", "thomson reuters": "Reuters", "ap": "AP", "associated press": "AP", "the associated press": "AP",
    "afp": "AFP", "agence france-presse": "AFP", "pti": "PTI", "press trust of india": "PTI", "ians": "IANS",
    "ani": "ANI", "bloomberg": "Bloomberg", "dpa": "dpa", "uni": "UNI", "xinhua": "Xinhua", "efe": "EFE",
    "ansa": "ANSA", "kyodo": "Kyodo", "yonhap": "Yonhap", "tass": "TASS",
}
AGENCY_DOMAINS = {
    "Reuters": "reuters.com", "AP": "apnews.com", "AFP": "afp.com", "PTI": "ptinews.com", "IANS": "ians.in",
    "ANI": "aninews.in", "Bloomberg": "bloomberg.com",
}
AGENCY_ALTERNATION = "|".join(sorted((re.escape(a) for a in AGENCIES), key=len, reverse=True))
WIRE_SYMBOLS = r"Reuters|AP|AFP|PTI|IANS|ANI|Bloomberg|dpa|UNI|Xinhua|EFE|ANSA|Kyodo|Yonhap|TASS"

MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
LINE_RULES = (
    _rule("ad_marker", rf"^[\[(]?(?:{AD_WORDS})[\])]?[\s.:…-]*$"),
    _rule("reading_time", r"^(?:(?:estimated )?(?:read(?:ing)? time|lesezeit|temps de lecture|tiempo de lectura)\s*[:\-]?\s*"
                          r"(?:less than |about |ca\. )?\d+(?:\s*-\s*\d+)?\s*(?:min|mins|minutes?|minuten)\b.*"
                          r"|\d+(?:\s*-\s*\d+)?\s*(?:min|mins|minutes?)\.? read\b.*)$", 80),
    _rule("byline", r"^by\s+[A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+){0,3}(?:\s*(?:,|and|&)\s*[A-Z][\w.'-]+(?:\s+[A-Z][\w.'-]+){0,3})*$", 80),
    _rule("timestamp_line", r"^(?:last )?(?:updated|published|first published|posted)(?: on)?\s*:?\s*[^.]*\d{4}[^.]*$", 80),
    _rule("timestamp_line", r"^(?:zuletzt )?(?:aktualisiert|veröffentlicht|geändert)(?: am)?\s*:?\s*\d{1,2}\.\s*(?:\d{1,2}\.|\w+)"
                            r"\s*\d{2,4}\b.*$", 80),
    _rule("timestamp_line", r"^(?:letzte änderung|stand|dernière mise à jour|última actualización)\s*:?\s*\d{1,2}[./]\d{1,2}[./]\d{2,4}\b.*$", 80),
    # "Quelle: Landesregierung", "(Source: Name/Agency)": a short credit for the text or its picture.
    _rule("source_credit", r"^\(?(?:quellen?|sources?|fuentes?)\s*:\s*[^.!?]*(?:[.!?]\)?)?$", 100),
    _rule("related_link", r"^(?:weitere infos?|weitere informationen|more information|further information|more info)"
                          r" (?:unter|auf|at|on)\s+\S+$", 100),
    # The label over a press release's contact or further-information box, alone on its line.
    _rule("contact_label", r"^(?:weitere informationen|zusatzinformationen|kontakt|pressekontakt|ansprechpartner(?:in)?"
                           r"(?: zum thema)?|quellenangaben|further information|more information|for more information"
                           r"|contact|press contact|media contact|release date|plus d'informations|más información)\s*:$", 40),
    # A line that is only a date or a time ("23.10.2018", "24. März 2004, 19:49", "3:59 PM").
    _rule("timestamp_line", rf"^(?:(?:\d{{1,2}}[./-]\d{{1,2}}[./-]\d{{2,4}}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}\.\s*\w+\s+\d{{4}}"
                            rf"|{MONTH}\s+\d{{1,2}},?\s+\d{{4}})(?:,?\s*\d{{1,2}}:\d{{2}})?"
                            r"|\d{1,2}:\d{2})\s*(?:[ap]\.?m\.?|uhr)?$", 40),
    _rule("related_link", r"^(?:also read|read also|read more|more|see also|related|related (?:article|story|stories|news)"
                          r"|must read|recommended|don'?t miss|further reading|also see|read next|up next"
                          r"|lire aussi|à lire aussi|lesen sie auch|auch lesen|mehr zum thema|leer más|lee también|leggi anche"
                          r"|lea también|lea más|vea también|(?:le|te) puede interesar|puedes ver"
                          r"|czytaj (?:też|także)|zobacz (?:też|także)|dowiedz się więcej)"
                          r"\s*[:|>»\-–—]\s*\S", 300),
    _rule("call_to_action", r"^(?:click|tap) here\b|^follow (?:us|\w+(?:\.com)?) on\b|^(?:like|follow) us\b"
                            r"|^(?:join|follow) (?:our|us on|the) (?:\w+ )?(?:whatsapp|telegram)"
                            r"|^(?:sign up|subscribe|register)\b.*\b(?:newsletters?|alerts|inbox|updates|digest|channel)\b"
                            r"|^(?:download|get|install) (?:the|our) .*\bapp\b"
                            r"|^(?:track|catch|get) (?:all )?(?:the )?latest .*\b(?:news|updates)\b.*\b(?:live|on|from)\b"
                            r"|^(?:share|share this(?: article| story)?|print|print this(?: article| story)?|e-?mail"
                            r"|comments?|\d+ comments?|leave a comment|view comments|show comments|post a comment"
                            r"|join the conversation|copy link|link copied)[\s.:!]*$", 160),
    _rule("call_to_action", r"\b(?:subscribe to|sign up (?:for|to)|get) our\b.*\bnewsletters?\b", 160, ("newsletter",)),
    # "If you're on the ABC7 News app, click here to watch live": a prompt anywhere in a short line; and short
    # lines that open with an invitation to subscribe or to join the comments.
    _rule("call_to_action", r"\b(?:click|tap) here\b", 100, ("here",)),
    _rule("call_to_action", r"^subscribe (?:to|for|now|today)\b"
                            r"|^join (?:our|the) (?:[\w-]+ ){0,3}(?:forum|community|conversation|discussion)s?\b", 100),
    # "Follow The Gleaner on Twitter and Instagram @...", "Síguenos en Telegram", "For the latest stories download
    # the X apps for iOS and Android".
    _rule("call_to_action", r"^follow (?:[\w.]+ ){1,3}on (?:twitter|facebook|instagram|x|threads|telegram|whatsapp|youtube"
                            r"|tiktok|linkedin)\b|^s[ií]guenos en\b|^(?:for [\w ]+?,? )?download (?:the|our)\b.*\bapps?\b", 160),
    # Sponsored-content labels: "ANZEIGE - ...", "Anzeige, enthält Affiliate Links".
    _rule("ad_marker", r"^\*?(?:anzeige|werbung)\s*[-–—:|]\s*\S", 120),
    _rule("ad_marker", r"\baffiliate[- ]links?\b", 120, ("affiliate",)),
    _rule("photo_credit", r"^[\[(]?(?:file )?(?:photo|photograph|image|picture|pic|representative (?:image|photo)"
                          r"|representational (?:image|photo|picture)|image source|image caption|photo credit"
                          r"|image credit|credit)s?\s*(?::|\||-|/|courtesy\b|by\b|[\])]|$)|^©\s*[^.!?]{1,80}$"
                          r"|^(?:crédits? photos?|beitragsbild|titelbild|bildquelle|fotos?|bild|fot\.)\s*:?\s*[^.!?]{1,80}$"
                          r"|^copyright\s*:\s*[^.!?]{1,60}$|^\(?Getty Images\)?$|^file photo\b", 400),
    _rule("photo_credit", rf"\b(?:{WIRE_SYMBOLS}|AP Photo|REUTERS|Getty Images|EPA|Shutterstock)\s*/\s*[A-Z]"
                          r"|\b(?:AFP|AP|Reuters|EPA|Bloomberg) via Getty Images\)?$", 400, ("/", "getty")),
    # "January 13, 2020 | categories: Python | View Comments": three or more short fields between pipes (a table
    # row, which starts with a pipe, is not one).
    _rule("metadata_line", r"^(?!\|)[^|]{1,80}(?:\s\|\s[^|]{1,80}){2,}$", 200, ("|",)),
    _rule("copyright_line", r"^(?:copyright|©|\(c\))\s*(?:\d{4}\s*)?.*(?:all rights reserved|thomson reuters"
                            r"|associated press|agence france-presse)\.?$", 200),
    # A reprint notice: "This article is the copyrighted property of ...", "Materiał chroniony prawem autorskim".
    _rule("copyright_line", r"\bcopyrighted property of\b|\bwritten permission must be obtained\b"
                            r"|^materiał chroniony prawem autorskim\b", 300,
          ("copyrighted", "written permission", "chroniony")),
    # Related-link prompts of one word and a colon: "Lea: ...", "Mire: ...", "Lesen Sie hier: ...".
    _rule("related_link", r"^(?:lea|lee|mire|mira|vea|lesen sie hier|lies hier)\s*:\s*\S", 160),
    # Newsletter and channel prompts: "Never miss the latest news by signing up to our newsletter today!", "Sign up
    # to get the best content of the week", "¡Mira lo que tiene nuestro canal de YouTube!", "... Free Sign Up".
    _rule("call_to_action", r"\bsign(?:ing)? up (?:to get|(?:to|for) our)\b|\b(?:free sign up|sign up (?:here|now|today))[.!]?$"
                            r"|^never miss\b.*\bnewsletter|\bnuestro canal de (?:youtube|telegram|whatsapp)\b"
                            r"|\btenemos canal de (?:telegram|whatsapp)\b", 160, ("sign", "never miss", "canal de")),
    # Paywall prompts: "To view the full story, please subscribe to ...", "Pour lire la suite".
    _rule("paywall_prompt", r"^(?:to (?:view|read|continue reading) (?:the|this) (?:full )?(?:story|article)\b.*\bsubscri"
                            r"|if you(?:'|’)?re (?:seeing this message but you(?:'|’)?re )?already a subscriber\b"
                            r"|pour (?:lire la suite|accéder en illimité)\b)", 200),
    # Affiliate and compensation disclosures: "We may receive compensation when you click on links to those products."
    _rule("ad_marker", r"\bwe may (?:receive|earn) (?:compensation|a commission)\b|\bcontains references to products\b"
                       r"|\bbei den verlinkungen handelt es sich um affiliate\b"
                       r"|^\*?werbung\.\s*dieser beitrag enthält werbung\b", 300,
          ("we may", "references to products", "affiliate", "werbung")),
    # Comment-form notices: "Du musst eingeloggt sein, um Kommentare zu schreiben", "You must be logged in to post a
    # comment".
    _rule("call_to_action", r"\b(?:eingeloggt|angemeldet) sein,? um (?:einen )?kommentar|\bmust be logged in to (?:post a )?comment",
          120, ("eingeloggt", "angemeldet", "logged in")),
    # Page metadata, not a sentence: "Category : Press Releases", "Kategorie: News", "... Last Modified: 03-10-2004".
    _rule("metadata_line", r"^(?!.*[.!?]$).*(?:\b(?:category|categories|kategorie|kategorien|catégorie|categoría)\s*:\s*\S"
                           r"|\blast modified\s*:)", 100, ("categ", "catég", "kategorie", "last modified")),
    # Picture credits that carry a date or a colon of their own: "Beitragsbild: Titelseite vom 2.4.2019, Ausriss.",
    # "Image illustrative : Lego Minifigures by Ninja Brick".
    _rule("photo_credit", r"^(?:beitragsbild|titelbild|bildquelle|image illustrative|crédits? photos?)\s*:\s*.{1,120}$",
          140),
    # "Quelle: Deutscher Jagdverband (DJV), 02. Februar 2022, Berlin": a source credit with a date in it.
    _rule("source_credit", r"^\(?(?:quellen?|sources?|fuentes?)\s*:\s*(?:[^.!?]|(?<=\d)\.)*[.)]?$", 100),
    # Reading time in Polish: "Ten tekst przeczytasz w mniej niż minutę".
    _rule("reading_time", r"^ten tekst przeczytasz w\b", 80),
    # "Video verfügbar bis 28.02.2021": a media library's availability label.
    _rule("video_block", r"^video verfügbar bis\b", 60),
)

SYNDICATION_NOTICE = _rule(
    "syndication_notice",
    r"\bsyndicated (?:news )?(?:feed|content)\b|\b(?:wire|agency|news agency) feeds?\b|\bauto-?generated from\b"
    r"|\bhas not been edited by\b.*\bstaff\b|\bmay have been reworked by\b.*\bstaff\b"
    r"|\bpublished from a (?:wire|syndicated)\b",
    400,
)
AGENCY_LINE = re.compile(
    rf"^[\[(\-–—\s]*(?:with (?:inputs|input) from |inputs from |source:\s*|by |via )?(?P<agency>{AGENCY_ALTERNATION}|agencies)"
    rf"(?:\s*(?:,|and|&)\s*(?:{AGENCY_ALTERNATION}|agencies))*[\s.)\]]*$",
    re.IGNORECASE,
)
REPORTING_CREDIT = re.compile(
    r"^[\[(]?\s*(?:\(?(?:additional )?reporting by|writing by|editing by|compiled by|edited by|written by"
    # The same credits in the wires' French, Spanish and German services ("Rédigé par X, édité par Y").
    r"|rédigé par|édité par|editado (?:en español )?por|redigiert von)\b.*$",
    re.IGNORECASE,
)
COPYRIGHT_AGENCY = re.compile(r"thomson reuters|associated press|agence france-presse", re.IGNORECASE)
TRAILING_CREDIT = re.compile(rf"\s*(?:[-–—]\s*(?:{WIRE_SYMBOLS})|\((?:{WIRE_SYMBOLS})\))\.?$")

BLOCK_RULES = (
    BlockRule("video_block", re.compile(r"^(?:featured video of the day|watch(?: the)? video|videos?|also watch|watch now"
                                        r"|watch|latest videos?|trending videos?)\s*:?$", re.IGNORECASE), 1),
    BlockRule("related_block", re.compile(r"^(?:trending(?: now| news| stories)?|top stories|top news|most read|most popular"
                                          r"|most viewed|related(?: stories| articles| news| content)?|more stories"
                                          r"|recommended(?: stories| for you)?|you may also like|you might also like"
                                          r"|latest news|more from [\w .]+|read more|also read|read next|in other news"
                                          r"|don'?t miss|auch interessant|das könnte sie auch interessieren|lesen sie auch"
                                          r"|mehr zum thema(?: auf [\w .]+)?|mehr themen|weitere themen|zum weiterlesen"
                                          r"|weitere artikel|ähnliche artikel|verwandte artikel|meistgelesen|top-themen(?: bei [\w .]+)?"
                                          r"|à lire aussi|lire aussi|sur le même sujet|noticias relacionadas|te puede interesar"
                                          r"|leggi anche|czytaj także|zobacz także|zobacz też|notas relacionadas"
                                          r"|contenido relacionado|art[ií]culos relacionados|más sobre [\w .]+|schon gelesen"
                                          r"|lesen sie auch die folgenden beiträge|weitere beiträge(?: [\w .]+)?"
                                          r"|weitere aktuelle themen(?: [\w .]+)?|beiträge aus dem forum"
                                          r"|(?:das|dieses) thema könnte (?:dich|sie) auch interessieren"
                                          r"|empfohlene (?:beiträge|artikel))\s*[:?]?$",
                                          re.IGNORECASE), 10,
              with_leads=True),
)
INLINE_VIDEO = _rule("video_block", r"^(?:watch|video|watch video|related videos?)\s*[:|]\s*\S", 150)

DATE = rf"{MONTH}\s+\d{{1,2}}(?:,?\s+\d{{4}})?"
PLACE_WORD = r"[A-Z][\w'.\-]*"
PLACE = rf"{PLACE_WORD}(?:\s+{PLACE_WORD}){{0,3}}(?:,\s*{PLACE_WORD}(?:\s+{PLACE_WORD}){{0,2}})?"
CAPS_PLACE = r"[A-Z][A-Z'.\-]+(?:\s+[A-Z][A-Z'.\-]+){0,3}(?:,\s*[A-Z][\w.]+(?:\s+[A-Z][\w.]+){0,2})?"
DATELINE_WITH_AGENCY = re.compile(
    rf"^(?:(?P<place>{PLACE})(?:,\s*{DATE})?|{DATE})?\s*\((?P<agency>{WIRE_SYMBOLS})\)\s*[-–—:]*\s*(?=\S)"
)
# A wire we do not list credits itself the same way ("LISBON (GWS) -", "Lisbon, Nov 19 (GWS):"): the place must
# be in capitals or followed by a date, so an acronym in an ordinary sentence is not taken for a wire.
DATELINE_WITH_OTHER_AGENCY = re.compile(
    rf"^(?P<place>{CAPS_PLACE}(?=(?:,\s*{DATE})?\s*\()|{PLACE}(?=,\s*{DATE}\s*\())(?:,\s*{DATE})?"
    rf"\s*\((?P<agency>[A-Z]{{2,6}})\)\s*[-–—:]+\s*(?=\S)"
)
DATELINE_CAPS = re.compile(rf"^(?P<place>{CAPS_PLACE})(?:,\s*{DATE})?\s*[:\-–—]+\s+(?=\S)")
DATELINE_TITLE_COLON = re.compile(rf"^(?P<place>{PLACE_WORD}(?:\s+{PLACE_WORD}){{0,2}}):\s+(?=[A-Z\"“])")
DATELINE_ALONE = re.compile(rf"^(?P<place>{PLACE})(?:,\s*{DATE})?\s*[:\-–—]$")
DATELINE_SEARCH_DEPTH = 8
AUTHOR_BIO = re.compile(
    r"^[A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){1,3}\s+is\s+(?:(?:an?|the)\s+(?:[\w&'’-]+\s+){0,6}?"
    r"(?:writer|reporter|editor|journalist|correspondent|contributor|columnist|producer|author|intern|fellow)s?\b"
    # Or any "Name is ..." paragraph with a follow prompt after its first sentence: an author box.
    r"|.*[.!]\s+[Ff]ollow (?:us|me|him|her|them) on\b)"
)
AUTHOR_BIO_DEPTH = 2
AUTHOR_BIO_MAX_CHARS = 600
MIN_REPEAT_WORDS = 10
MAX_CAPTION_WORDS = 20
# A related story's lead under its headline, in a related-content block.
MAX_LEAD_WORDS = 40
MAX_TRAILING_HEADLINES = 8
# When "template" blocks would be half of the text or more, the page is another copy of an article the publisher
# printed before (same paragraphs at the same place), not chrome around a new one: nothing is dropped as template.
MAX_TEMPLATE_SHARE = 0.5
# A learnable line is short and not speech: boilerplate is a label, a prompt or a credit.
LEARNABLE_MAX_CHARS = 120


class RulesError(ValueError):
    """The publisher rules file is malformed; the message names the publisher and the rule."""


@dataclass(frozen=True)
class PublisherRules:
    """One publisher's own boilerplate: elements dropped before extraction, lines dropped after."""

    domain: str
    drop_selectors: tuple[str, ...] = ()
    line_rules: tuple[LineRule, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    version: str
    publishers: dict[str, PublisherRules]

    def for_url(self, url: str | None) -> PublisherRules | None:
        host = publisher_domain(url)
        if host is None:
            return None
        return next((r for d, r in self.publishers.items() if host == d or host.endswith("." + d)), None)


def publisher_domain(url: str | None) -> str | None:
    """The publisher an address belongs to: its host without "www.", "m." or "amp."."""
    host = (urlsplit(url).hostname or "") if url else ""
    host = re.sub(r"^(?:www\d*|m|amp|mobile)\.", "", host.lower())
    return host or None


def load_rules(path: Path = PUBLISHER_RULES_FILE) -> RuleSet:
    """The built-in rules plus the publisher rules in `path` (YAML keyed by domain)."""
    return _load_rules(path.resolve())


@lru_cache(maxsize=8)
def _load_rules(path: Path) -> RuleSet:
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError as error:
        raise RulesError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise RulesError(f"{path}: expected a mapping of domain to rules")
    publishers = {str(domain).lower(): _publisher_rules(str(domain).lower(), spec or {}) for domain, spec in data.items()}
    return RuleSet(version=f"{RULES_VERSION}+{hashlib.sha256(raw).hexdigest()[:8]}", publishers=publishers)


def _publisher_rules(domain: str, spec: dict) -> PublisherRules:
    unknown = set(spec) - {"drop_selectors", "lines"}
    if unknown:
        raise RulesError(f"{domain}: unknown keys {sorted(unknown)} (expected drop_selectors, lines)")
    selectors = tuple(spec.get("drop_selectors") or ())
    for selector in selectors:
        try:
            CSSSelector(selector)
        except SelectorError as error:
            raise RulesError(f"{domain}: bad CSS selector {selector!r}: {error}") from error
    line_rules = []
    for name, pattern in (spec.get("lines") or {}).items():
        try:
            line_rules.append(LineRule(f"publisher:{domain}:{name}", re.compile(pattern, re.IGNORECASE), 300))
        except re.error as error:
            raise RulesError(f"{domain}: line rule {name!r} has a bad pattern: {error}") from error
    return PublisherRules(domain, selectors, tuple(line_rules))


@dataclass
class Removal:
    """One thing taken out of a body, and the rule that took it."""

    text: str
    rule: str


@dataclass
class Syndication:
    """Whether the story came over a wire, which agency sent it, and the publisher's notice saying so."""

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
    rules_version: str = ""
    learnable_lines: list[str] = field(default_factory=list)
    template_fingerprints: list[int] = field(default_factory=list)
    # How many of `paragraphs` open the body as the page's standfirst and key points, not the story's own text.
    summary_paragraphs: int = 0


@dataclass
class _Paragraph:
    text: str
    removed_by: str | None = None
    dateline_prefix: str | None = None
    _key: str = field(default="", repr=False)
    _key_of: str | None = field(default=None, repr=False)

    _comparison: str = field(default="", repr=False)
    _comparison_of: str | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        """`line_key` of the text, computed again only when the text changed."""
        if self._key_of is not self.text:
            self._key, self._key_of = line_key(self.text), self.text
        return self._key

    @property
    def comparison(self) -> str:
        """`comparison_key` of the text, computed again only when the text changed."""
        if self._comparison_of is not self.text:
            self._comparison, self._comparison_of = comparison_key_of_line_key(self.key), self.text
        return self._comparison


@dataclass
class _Findings:
    agency: str | None = None
    notice: str | None = None
    wire_credit: bool = False


def clean_page(
    page: ExtractedPage,
    *,
    url: str | None = None,
    rules: RuleSet | None = None,
    learned: Collection[str] = frozenset(),
    templates: Collection[int] = frozenset(),
) -> CleanedPage:
    """Apply every boilerplate rule to a page's paragraphs.

    `url` picks the publisher's own rules; `learned` holds the `comparison_key`s of lines learned as
    that publisher's boilerplate, `templates` the fingerprints of its learned template blocks (see
    pipeline.learned and pipeline.template)."""
    rules = rules or load_rules()
    publisher = rules.for_url(url)
    paragraphs = [p for p in map(_Paragraph, page.paragraphs) if p.key]
    findings = _Findings()
    _apply_line_rules(paragraphs, publisher, learned, findings, page.title)
    _drop_captions(paragraphs)
    _apply_page_blocks(paragraphs, page, templates)
    _apply_block_rules(paragraphs)
    _drop_trailing_headlines(paragraphs)
    _drop_author_bio(paragraphs)
    dateline, body_start = _take_dateline(paragraphs, findings)
    _drop_repeats(paragraphs, body_start)
    removed = [Removal(p.text, p.removed_by) for p in paragraphs if p.removed_by]
    kept = [p for p in paragraphs if not p.removed_by]
    if kept:
        removed.extend(_strip_trailing_credit(kept[-1], findings))
    removed.extend(_dateline_removals(paragraphs))
    summary = _standfirst(page, paragraphs, publisher)
    return CleanedPage(
        page=page,
        paragraphs=[*summary, *(p.text for p in kept if p.key)],
        dateline=dateline,
        syndication=_syndication(findings, publisher_domain=publisher_domain(url)),
        removed=removed,
        rules_version=rules.version,
        learnable_lines=[p.text for p in paragraphs if p.removed_by in (None, "learned") and is_learnable(p.text)],
        template_fingerprints=template_fingerprints(
            page.blocks, [p.text for p in paragraphs if p.removed_by in (None, "template")]
        ),
        summary_paragraphs=len(summary),
    )


def _standfirst(page: ExtractedPage, paragraphs: list[_Paragraph], publisher: PublisherRules | None) -> list[str]:
    """The page's standfirst and key points (pipeline.extract.page_standfirst, page_key_points) open the body,
    each unless a line rule takes it for boilerplate or the body holds it already."""
    publisher_rules = publisher.line_rules if publisher else ()
    opening = []
    for line in ([page.standfirst] if page.standfirst else []) + page.key_points:
        key = line_key(line)
        if any(r.matches(key) for r in (*publisher_rules, *LINE_RULES)) or any(
            comparison_key_of_line_key(key) == p.comparison for p in paragraphs
        ):
            continue
        opening.append(line)
    return opening


def is_learnable(text: str) -> bool:
    """Only short lines that are not quoted speech may become learned boilerplate."""
    key = line_key(text)
    return 0 < len(key) <= LEARNABLE_MAX_CHARS and not QUOTE_MARKS.search(key)


def _apply_line_rules(
    paragraphs: list[_Paragraph],
    publisher: PublisherRules | None,
    learned: Collection[str],
    findings: _Findings,
    title: str | None,
) -> None:
    title_key = comparison_key(title) if title else None
    publisher_rules = publisher.line_rules if publisher else ()
    for paragraph in paragraphs:
        key = paragraph.key
        if SYNDICATION_NOTICE.matches(key):
            findings.notice = findings.notice or key
            paragraph.removed_by = SYNDICATION_NOTICE.name
        elif agency := _agency_credit(key):
            findings.agency = findings.agency or (None if agency == "agencies" else agency)
            findings.wire_credit = True
            paragraph.removed_by = "agency_credit"
        elif REPORTING_CREDIT.match(key) and len(key) <= 400:
            paragraph.removed_by = "agency_credit"
        elif rule := next((r for r in (*publisher_rules, *LINE_RULES, INLINE_VIDEO) if r.matches(key)), None):
            paragraph.removed_by = rule.name
            if rule.name == "copyright_line" and (match := COPYRIGHT_AGENCY.search(key)):
                findings.agency = findings.agency or AGENCIES[match.group(0).lower()]
                findings.wire_credit = True
        elif paragraph.comparison in learned:
            paragraph.removed_by = "learned"
        elif title_key and paragraph.comparison == title_key:
            paragraph.removed_by = "repeated_title"


def _drop_captions(paragraphs: list[_Paragraph]) -> None:
    """A short line without a sentence's end right above a photo credit is that photo's caption ("Crowds at the
    harbour on Saturday" over "Credit: Asha Menon/Reuters")."""
    for above, below in zip(paragraphs, paragraphs[1:]):
        if below.removed_by == "photo_credit" and not above.removed_by and _is_caption_like(above.key):
            above.removed_by = "caption"


def _is_caption_like(key: str) -> bool:
    return len(key.split()) <= MAX_CAPTION_WORDS and not key.endswith((*SENTENCE_END, ":"))


def _apply_page_blocks(paragraphs: list[_Paragraph], page: ExtractedPage, templates: Collection[int]) -> None:
    """Drop the publisher's learned template blocks ("template"), unless they would be half of the text or more,
    then runs of teasers for other stories ("teaser_run"), by what the page's own markup says about each line."""
    if not page.blocks:
        return
    open_paragraphs = [p for p in paragraphs if not p.removed_by]
    template = [p for p in open_paragraphs if templates and is_template(page.blocks.get(block_key(p.text)), templates)]
    if _words(template) < MAX_TEMPLATE_SHARE * _words(open_paragraphs):
        for paragraph in template:
            paragraph.removed_by = "template"
        open_paragraphs = [p for p in open_paragraphs if not p.removed_by]
    for index in teaser_runs([p.text for p in open_paragraphs], page.blocks):
        open_paragraphs[index].removed_by = "teaser_run"
    for paragraph in open_paragraphs:
        if not paragraph.removed_by and _is_capitals_headline(paragraph.key) and is_linked_teaser(
            page.blocks.get(block_key(paragraph.text))
        ):
            paragraph.removed_by = "linked_headline"


def _is_capitals_headline(key: str) -> bool:
    """A line of four words or more in capitals: with all of it a link, another story's headline set inside
    the body ("MAN ARRESTED AFTER ..."), where one linked line of ordinary text would be part of the story."""
    if ASCII_LOWERCASE.search(key):  # nearly every line: answered in its first few characters
        return False
    letters = [c for c in key if c.isalpha()]
    return len(key.split()) >= 4 and len(letters) >= 12 and all(c.isupper() for c in letters)


def _words(paragraphs: list[_Paragraph]) -> int:
    return sum(len(p.key.split()) for p in paragraphs)


def _agency_credit(key: str) -> str | None:
    """The agency named by a credit line ("(Reuters)", "- PTI", "With inputs from IANS"), or "agencies"."""
    match = AGENCY_LINE.match(key)
    if not match:
        return None
    name = match.group("agency").lower()
    return "agencies" if name == "agencies" else AGENCIES[name]


def _is_headline_like(key: str) -> bool:
    return 0 < len(key) <= 150 and len(key.split()) <= 20 and not key.endswith(SENTENCE_END)


def _apply_block_rules(paragraphs: list[_Paragraph]) -> None:
    for index, paragraph in enumerate(paragraphs):
        if paragraph.removed_by:
            continue
        rule = next((r for r in BLOCK_RULES if r.header.match(paragraph.key)), None)
        if rule is None:
            continue
        paragraph.removed_by = rule.name
        for item in _block_items(paragraphs, index + 1, rule):
            item.removed_by = item.removed_by or rule.name


def _block_items(paragraphs: list[_Paragraph], start: int, rule: BlockRule) -> list[_Paragraph]:
    """The lines under a block header: up to `max_following` headline-like lines, each (with `with_leads`)
    possibly followed by one short lead, which counts as one only when another headline follows it, so the
    article's next paragraph is never taken for a lead."""
    items: list[_Paragraph] = []
    headlines, index = 0, start
    while index < len(paragraphs) and headlines < rule.max_following and _is_headline_like(paragraphs[index].key):
        items.append(paragraphs[index])
        headlines += 1
        index += 1
        if rule.with_leads and index < len(paragraphs) and _is_lead(paragraphs, index):
            items.append(paragraphs[index])
            index += 1
    return items


def _is_lead(paragraphs: list[_Paragraph], index: int) -> bool:
    return (
        len(paragraphs[index].key.split()) <= MAX_LEAD_WORDS
        and index + 1 < len(paragraphs)
        and _is_headline_like(paragraphs[index + 1].key)
    )


def _drop_trailing_headlines(paragraphs: list[_Paragraph]) -> None:
    """Two to eight headline-like lines after the body's last sentence are a related-stories list
    whose header the extractor dropped. Tables, addresses and longer lists are left alone."""
    trailing = []
    for paragraph in reversed(paragraphs):
        if paragraph.removed_by:
            continue
        if not _is_related_headline(paragraph.key):
            break
        trailing.append(paragraph)
    if 2 <= len(trailing) <= MAX_TRAILING_HEADLINES:
        for paragraph in trailing:
            paragraph.removed_by = "trailing_headlines"


def _drop_author_bio(paragraphs: list[_Paragraph]) -> None:
    """An author's bio ("Asha Menon is a senior reporter for ... Follow her on ...") in the body's last
    AUTHOR_BIO_DEPTH paragraphs. Only at the end: a story about a reporter names one the same way."""
    for paragraph in [p for p in paragraphs if not p.removed_by][-AUTHOR_BIO_DEPTH:]:
        if len(paragraph.key) <= AUTHOR_BIO_MAX_CHARS and AUTHOR_BIO.match(paragraph.key):
            paragraph.removed_by = "author_bio"


def _is_related_headline(key: str) -> bool:
    return _is_headline_like(key) and len(key.split()) >= 4 and not re.search(r"[|:/@#_]|https?", key)


def _take_dateline(paragraphs: list[_Paragraph], findings: _Findings) -> tuple[str | None, int]:
    """Find the dateline, take it off the body, and return it with the index where the body starts.

    A place alone on a line ("Moscow:") before the first paragraph wins; otherwise the first
    paragraphs are searched for a dateline prefix ("MOSCOW (Reuters) -", "NEW DELHI:")."""
    open_indexes = [i for i, p in enumerate(paragraphs) if not p.removed_by][:DATELINE_SEARCH_DEPTH]
    for position, index in enumerate(open_indexes[:-1]):
        match = DATELINE_ALONE.match(paragraphs[index].key)
        if match and _is_place(match.group("place")):
            paragraphs[index].removed_by = "dateline"
            return match.group("place"), open_indexes[position + 1]
    for position, index in enumerate(open_indexes[:3]):
        paragraph = paragraphs[index]
        match = _dateline_prefix(paragraph.key, first=position == 0)
        if match is None:
            continue
        if agency := match.groupdict().get("agency"):
            findings.agency = findings.agency or AGENCIES.get(agency.lower(), agency)
            findings.wire_credit = True
        paragraph.dateline_prefix = paragraph.key[: match.end()].strip()
        paragraph.text = paragraph.key[match.end():]
        return match.group("place"), index
    return None, 0


def _dateline_prefix(key: str, first: bool) -> re.Match[str] | None:
    """A dateline at the start of a paragraph. "Place: text" is one only in the body's first paragraph: further
    down, a capitalised label and a colon is a speaker in an interview or a label ("Hinweis: ...")."""
    patterns = (DATELINE_WITH_AGENCY, DATELINE_WITH_OTHER_AGENCY, DATELINE_CAPS)
    for pattern in (*patterns, DATELINE_TITLE_COLON) if first else patterns:
        match = pattern.match(key)
        if match and (match.group("place") is None or _is_place(match.group("place"))):
            if match.group("place") is None and not match.groupdict().get("agency"):
                continue
            return match
    return None


def _is_place(place: str) -> bool:
    words = re.findall(r"[\w'.]+", place.casefold())
    return place.casefold() not in NOT_A_PLACE and not NOT_IN_A_PLACE_NAME.intersection(words)


def _dateline_removals(paragraphs: list[_Paragraph]) -> list[Removal]:
    return [Removal(p.dateline_prefix, "dateline") for p in paragraphs if p.dateline_prefix]


def _drop_repeats(paragraphs: list[_Paragraph], body_start: int) -> None:
    """Keep one copy of a paragraph printed twice, and drop one whose text another paragraph contains.

    Of two equal copies the first one inside the body (from the dateline on) is kept: a lead printed
    above the dateline is a teaser. Short paragraphs are never repeats ("He declined to comment.")."""
    open_paragraphs = [(i, p, p.comparison) for i, p in enumerate(paragraphs) if not p.removed_by]
    keepers: dict[str, int] = {}
    for index, _, key in open_paragraphs:
        if len(key.split()) < MIN_REPEAT_WORDS:
            continue
        if key not in keepers or (keepers[key] < body_start <= index):
            keepers[key] = index
    for index, paragraph, key in open_paragraphs:
        if len(key.split()) < MIN_REPEAT_WORDS:
            continue
        if keepers[key] != index:
            paragraph.removed_by = "repeated"
        elif any(key != other and key in other for other in keepers):
            paragraph.removed_by = "repeated"


def _strip_trailing_credit(paragraph: _Paragraph, findings: _Findings) -> list[Removal]:
    """A wire credit glued to the end of the last paragraph ("... he said. - PTI")."""
    match = TRAILING_CREDIT.search(paragraph.text)
    if not match:
        return []
    credit = match.group(0).strip()
    findings.agency = findings.agency or AGENCIES[re.sub(r"[^\w]", "", credit).lower()]
    findings.wire_credit = True
    paragraph.text = paragraph.text[: match.start()].rstrip()
    return [Removal(credit, "agency_credit")]


def _syndication(findings: _Findings, publisher_domain: str | None) -> Syndication:
    """A notice or a wire credit makes a story syndicated, unless the publisher is that agency itself."""
    own_story = findings.agency is not None and AGENCY_DOMAINS.get(findings.agency) == publisher_domain
    return Syndication(
        syndicated=bool(findings.notice) or (findings.wire_credit and not own_story),
        agency=findings.agency,
        notice=findings.notice,
    )
