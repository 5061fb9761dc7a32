"""Normalize: the final, comparable form of an article (text, title, URL, date, authors, language)."""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from courlan import normalize_url

from pipeline.clean import RULES_VERSION, CleanedPage, Removal, Syndication
from pipeline.extract import EXTRACTOR_VERSION

# Zero-width and invisible format characters that carry no meaning in news text. ZWJ and ZWNJ stay:
# in Indic and Persian scripts they are part of how a word is spelled.
# Control characters (category Cc) go too, except the ones that are whitespace: those become spaces.
INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad\u200e\u200f\u202a-\u202e\u2066-\u2069"
                       "\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")
TITLE_SEPARATOR = re.compile(r"\s+(?:[|\-–—:·•»]|::)\s+")
# Site names seen as title suffixes on wire copies; the page's own site name and domain are tried too.
KNOWN_SITE_NAMES = {
    "ndtv", "ndtv.com", "reuters", "ap news", "ap", "the associated press", "afp", "bbc", "bbc news", "cnn", "cnbc",
    "fox news", "the guardian", "guardian", "the independent", "the telegraph", "the new york times", "nyt",
    "the washington post", "washington times", "the washington times", "los angeles times", "la times", "al jazeera",
    "hindustan times", "business standard", "the hindu", "times of india", "the times of india", "india today",
    "the economic times", "economic times", "firstpost", "news18", "livemint", "mint", "deccan herald", "the print",
    "theprint", "scroll.in", "the quint", "wion", "bloomberg", "yahoo news", "msn", "sky news", "abc news",
    "cbs news", "nbc news", "npr", "politico", "the new yorker", "the nation", "the intercept", "i news", "inews",
}
# Query parameters that identify a campaign or a click, never the page.
TRACKING_PARAMETER = re.compile(
    r"^(?:utm_\w+|fbclid|gclid|gclsrc|dclid|msclkid|yclid|mc_cid|mc_eid|igshid|_ga|_gl|ref|ref_src|ref_url|cmpid|ocid"
    r"|smid|sr_share|share|s_cid|cid|at_medium|at_campaign|at_custom\d|taid|tracking|icid|ito|spm|guccounter|amp)$",
    re.IGNORECASE,
)


def article_extractor_version() -> str:
    """The lineage's name for the method that made an article from its page: the extraction, and how much of the
    text its language is told from. A change to either is a new version, so reprocessing rewrites the row."""
    from pipeline.language import SAMPLE_CHARS

    return f"{EXTRACTOR_VERSION}+language-{SAMPLE_CHARS}"


@dataclass
class Article:
    """A clean article, as stored in `articles` and printed by `feedpipe extract`."""

    title: str | None
    paragraphs: list[str]
    url: str | None
    canonical_url: str | None
    dateline: str | None = None
    authors: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    language: str | None = None
    syndication: Syndication = field(default_factory=Syndication)
    removed: list[Removal] = field(default_factory=list)
    extractor_version: str = field(default_factory=article_extractor_version)
    rules_version: str = RULES_VERSION
    publisher: str | None = None
    learnable_lines: list[str] = field(default_factory=list)
    template_fingerprints: list[int] = field(default_factory=list)
    # How many opening paragraphs are the page's standfirst and key points (dedupe's lead sentences skip them).
    summary_paragraphs: int = 0

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def content_sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def as_json(self) -> dict:
        """The JSON object `feedpipe extract` prints."""
        return {
            "title": self.title,
            "text": self.text,
            "paragraphs": self.paragraphs,
            "summary_paragraphs": self.summary_paragraphs,
            "dateline": self.dateline,
            "authors": self.authors,
            "published_at": self.published_at.isoformat().replace("+00:00", "Z") if self.published_at else None,
            "language": self.language,
            "url": self.url,
            "canonical_url": self.canonical_url,
            "publisher": self.publisher,
            "syndication": {
                "syndicated": self.syndication.syndicated,
                "agency": self.syndication.agency,
                "notice": self.syndication.notice,
            },
            "removed": [{"text": r.text, "rule": r.rule} for r in self.removed],
            "extractor_version": self.extractor_version,
            "rules_version": self.rules_version,
        }


def normalize_text(text: str) -> str:
    """NFC, invisible and control characters removed, whitespace collapsed; the words are never rewritten."""
    return " ".join(INVISIBLE.sub("", unicodedata.normalize("NFC", text)).split())


def normalize_article(
    cleaned: CleanedPage,
    url: str | None,
    fallback_published: datetime | None = None,
    publisher: str | None = None,
) -> Article:
    from pipeline.language import identify_language  # the model is read on first use, not with this module

    normalized = [normalize_text(p) for p in cleaned.paragraphs]
    paragraphs = [p for p in normalized if p]
    site_names = {name for name in (cleaned.page.site_name, publisher) if name}
    return Article(
        title=normalize_title(cleaned.page.title, site_names),
        paragraphs=paragraphs,
        url=url,
        canonical_url=canonical_url(cleaned.page.canonical_url or url),
        dateline=normalize_text(cleaned.dateline).rstrip(" :") if cleaned.dateline else None,
        authors=unique_authors(cleaned.page.authors),
        published_at=parse_published(cleaned.page.published) or as_utc(fallback_published),
        language=identify_language("\n".join(paragraphs) or cleaned.page.title or ""),
        syndication=Syndication(
            syndicated=cleaned.syndication.syndicated,
            agency=cleaned.syndication.agency,
            notice=normalize_text(cleaned.syndication.notice) if cleaned.syndication.notice else None,
        ),
        removed=[Removal(normalize_text(r.text), r.rule) for r in cleaned.removed],
        rules_version=cleaned.rules_version or RULES_VERSION,
        publisher=publisher,
        learnable_lines=[normalize_text(line) for line in cleaned.learnable_lines],
        template_fingerprints=cleaned.template_fingerprints,
        summary_paragraphs=sum(1 for p in normalized[: cleaned.summary_paragraphs] if p),
    )


def normalize_title(title: str | None, site_names: set[str] = frozenset()) -> str | None:
    """The headline without the site's name tacked on (" - NDTV", " | Reuters")."""
    if not title:
        return None
    title = normalize_text(title)
    names = {_site_key(n) for n in site_names} | {_site_key(n.split(".")[0]) for n in site_names} | KNOWN_SITE_NAMES
    while separators := list(TITLE_SEPARATOR.finditer(title)):
        last = separators[-1]
        if _site_key(title[last.end():]) not in names:
            break
        title = title[: last.start()].strip()
    return title


def _site_key(name: str) -> str:
    return " ".join(name.casefold().replace("www.", "").split())


def canonical_url(url: str | None) -> str | None:
    """The page's address without tracking parameters or fragment, and its AMP variant mapped to the page."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return url.strip()
    host = parts.netloc.lower()
    if host.startswith("amp."):
        host = "www." + host[len("amp."):]
    path = re.sub(r"/amp(?=/|$)", "", parts.path) or "/"
    path = re.sub(r"\.amp(?=\.html?$|$)", "", path)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not TRACKING_PARAMETER.match(k)])
    return normalize_url(urlunsplit((parts.scheme.lower(), host, path, query, "")), strict=False)


def parse_published(value: str | None) -> datetime | None:
    """An ISO 8601 date or time from page metadata, in UTC (a time without zone is taken as UTC)."""
    if not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


# Words of the section labels and date fragments that bylines sit beside ("World News", "Updated November 19"):
# a name made only of them, or holding a date word or a digit, is not a person or agency.
SECTION_WORDS = frozenset("""news world sport sports business politics opinion local national international nation
    india europe asia africa americas us uk entertainment culture tech technology science health lifestyle travel
    home latest top stories live video videos trending breaking cricket football markets economy""".split())
DATE_VERBS = frozenset("updated published posted modified".split())
DATE_WORDS = DATE_VERBS | frozenset("""last am pm ist gmt utc edt est today yesterday
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    monday tuesday wednesday thursday friday saturday sunday""".split())


def is_author_name(name: str) -> bool:
    """False for what sits in a byline but names no one: a section label or a date fragment (a digit, an
    "Updated", or only month and day words: "May Chen" is a name, "Updated November" is not)."""
    words = re.findall(r"[^\W\d_]+", name.casefold())
    if not words or re.search(r"\d", name) or any(word in DATE_VERBS for word in words):
        return False
    return not all(word in DATE_WORDS for word in words) and not all(word in SECTION_WORDS for word in words)


def unique_authors(authors: list[str]) -> list[str]:
    """Authors in page order, each once (case and spacing ignored), without a leading "By"; section labels and
    date fragments left out."""
    seen: dict[str, str] = {}
    for author in authors:
        name = re.sub(r"^by\s+", "", normalize_text(author), flags=re.IGNORECASE)
        if name and is_author_name(name):
            seen.setdefault(name.casefold(), name)
    return list(seen.values())
