"""Dedupe evaluation: pairwise precision and recall of story assignment on a labelled set of story clusters.

The set is built at run time from the hand-checked article bodies of fundus-eval (never stored in the repository).
Each article becomes a cluster of syndicated copies with the edits publishers make: a new headline, inserted ad
lines, a trimmed tail, only the first 40% kept, an extra local paragraph, a dateline and a combination of these,
and copy-desk style edits. Hard negatives: the other articles of the set (several publishers cover the same
events; five pages per publisher), and a constructed follow-up per cluster that shares the story's people and
places and one of its background paragraphs but reports different news. Every article goes through
`dedupe.assign_story` on a fresh embedded Postgres, in a shuffled order.

    python bench/eval_dedupe.py [FUNDUS_EVAL_DIR] [--sweep]

`--sweep` prints precision and recall for a grid of thresholds, which is how the defaults of `DedupeConfig`
were chosen.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import itertools
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import db, dedupe  # noqa: E402

DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "dev" / "fundus-eval"
SEED = 20240306
T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
AD_LINES = [
    "ADVERTISEMENT",
    "Story continues below advertisement",
    "Sign up for our morning newsletter to get the day's top stories in your inbox.",
    "Read more: the week's biggest stories in one place",
    "Subscribe for unlimited access to our local journalism.",
]
LOCAL_PARAGRAPHS = [
    "Officials in {town} said on Tuesday they were following the developments closely and would brief the county "
    "board at its next meeting.",
    "The {town} Gazette asked readers how the news affects them. Send your views to our newsroom or share them at "
    "the public library's open evening on Thursday.",
    "Several residents of {town} who spoke to this newspaper said they had not yet heard about the decision but "
    "expected it to come up at the next town hall.",
]
TOWNS = ["Millbrook", "Harlow Falls", "East Brandon", "Cedar Point", "Westfield Junction", "Larkspur"]
STYLE_EDITS = {"said": "says", "percent": "per cent", "Mr.": "Mr", "Mrs.": "Mrs", "U.S.": "US", "toward": "towards"}
DATELINES = ["WASHINGTON (Wire) — ", "LONDON (Wire) — ", "NEW YORK (Wire) — "]


@dataclass(frozen=True)
class Copy:
    cluster: str
    variant: str
    publisher: str
    title: str
    paragraphs: list[str]
    agency: str | None
    published_at: datetime


def page_title(directory: Path, name: str) -> str:
    """The page's <title>, the headline the publisher gave it."""
    page = gzip.decompress((directory / "html" / name).read_bytes()).decode("utf-8", "replace")
    match = re.search(r"<title[^>]*>(.*?)</title>", page, re.S | re.I)
    title = html.unescape(match.group(1)).strip() if match else ""
    return " ".join(re.split(r"\s[|\-–]\s", title)[0].split()) or name


def sentences(paragraph: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", paragraph) if s]


def first_share(paragraphs: list[str], share: float) -> list[str]:
    """The top of the story holding `share` of its words, cut at a sentence end, as local papers run it."""
    total = sum(len(p.split()) for p in paragraphs)
    kept: list[str] = []
    count = 0
    for paragraph in paragraphs:
        if count >= share * total:
            break
        if count + len(paragraph.split()) <= share * total * 1.25:
            kept.append(paragraph)
            count += len(paragraph.split())
            continue
        partial = []
        for sentence in sentences(paragraph):
            if count >= share * total:
                break
            partial.append(sentence)
            count += len(sentence.split())
        kept.append(" ".join(partial))
    return kept


def with_ads(paragraphs: list[str], rng: random.Random) -> list[str]:
    """An ad slot after roughly every 120 words, at a paragraph end, as article templates place them."""
    result: list[str] = []
    since_ad = 0
    for index, paragraph in enumerate(paragraphs):
        result.append(paragraph)
        since_ad += len(paragraph.split())
        if since_ad >= 120 and index < len(paragraphs) - 1:
            result.append(rng.choice(AD_LINES))
            since_ad = 0
    return result


def trimmed(paragraphs: list[str], share: float) -> list[str]:
    keep = max(1, round(len(paragraphs) * (1 - share)))
    return paragraphs[:keep] if len(paragraphs) > 1 else first_share(paragraphs, 1 - share)


def with_local(paragraphs: list[str], rng: random.Random, position: int) -> list[str]:
    local = rng.choice(LOCAL_PARAGRAPHS).format(town=rng.choice(TOWNS))
    return paragraphs[:position] + [local] + paragraphs[position:]


def style_edited(paragraphs: list[str]) -> list[str]:
    edited = []
    for paragraph in paragraphs:
        for old, new in STYLE_EDITS.items():
            paragraph = re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, paragraph)
        edited.append(paragraph)
    return edited


def desk_trimmed(paragraphs: list[str], rng: random.Random) -> list[str]:
    """A copy desk's light trims: one word taken out of every other sentence."""
    edited = []
    for paragraph in paragraphs:
        trimmed_sentences = []
        for index, sentence in enumerate(sentences(paragraph)):
            sentence_words = sentence.split()
            if index % 2 == 0 and len(sentence_words) > 6:
                del sentence_words[rng.randrange(2, len(sentence_words) - 2)]
            trimmed_sentences.append(" ".join(sentence_words))
        edited.append(" ".join(trimmed_sentences))
    return edited


def rewritten_lead(paragraphs: list[str]) -> list[str]:
    """The first sentence rewritten by the local desk (here: its two halves swapped)."""
    first, *rest = sentences(paragraphs[0])
    first_words = first.split()
    half = len(first_words) // 2
    return [" ".join([" ".join(first_words[half:] + first_words[:half])] + rest)] + paragraphs[1:]


def new_headline(title: str, rng: random.Random) -> str:
    prefix = rng.choice(["What we know:", "Latest:", "Update:", "Explainer:"])
    title_words = title.split()
    return f"{prefix} {' '.join(title_words[: max(3, len(title_words) * 2 // 3)])}"


def syndicated_copies(cluster: str, publisher: str, title: str, body: list[str], rng: random.Random) -> list[Copy]:
    def copy(variant: str, copy_title: str, paragraphs: list[str], minutes: int, by: str) -> Copy:
        return Copy(cluster, variant, by, copy_title, paragraphs, publisher, T0 + timedelta(minutes=minutes))

    dateline = rng.choice(DATELINES)
    combo = with_local(trimmed(with_ads([dateline + body[0]] + body[1:], rng), 0.25), rng, len(body))
    return [
        Copy(cluster, "original", publisher, title, body, publisher, T0),
        copy("new_headline", new_headline(title, rng), body, 20, "Harbour Herald"),
        copy("ads_inserted", title, with_ads(body, rng), 35, "Valley News"),
        copy("tail_trimmed", title, trimmed(body, 0.3), 50, "Daily Tribune"),
        copy("first_40_percent", new_headline(title, rng), first_share(body, 0.4), 65, "Alder Valley Gazette"),
        copy("local_paragraph", title, with_local(body, rng, min(2, len(body))), 80, "Riverside Courier"),
        copy("dateline_combo", new_headline(title, rng), combo, 95, "County Times"),
        copy("style_edits", title, style_edited(body), 110, "Morning Star"),
        copy("desk_trims", title, desk_trimmed(style_edited(body), rng), 125, "Evening Post"),
        copy("rewritten_lead_trimmed", new_headline(title, rng), trimmed(rewritten_lead(body), 0.4), 140,
             "Bay Chronicle"),
    ]


def proper_nouns(paragraphs: list[str]) -> list[str]:
    """Capitalised words not at a sentence start, most frequent first: the story's people and places."""
    counts: Counter[str] = Counter()
    for paragraph in paragraphs:
        for sentence in sentences(paragraph):
            counts.update(w for w in re.findall(r"\b[A-Z][a-z]{2,}\b", sentence)[1:])
    return [w for w, _ in counts.most_common()]


def follow_up(cluster: str, body: list[str], material: list[str], recap_lead: bool) -> Copy:
    """Different news about the same people and places: sentences from pages kept out of the clusters, with
    this story's names put in, around one background paragraph taken from this story; with `recap_lead`, the
    story's first sentence is recapped too, as follow-ups often do."""
    drawn = [material.pop() for _ in range(min(9, len(material)))]
    names = dict(zip(proper_nouns(drawn), proper_nouns(body)))
    renamed = [re.sub(r"\b[A-Z][a-z]{2,}\b", lambda m: names.get(m.group(0), m.group(0)), s) for s in drawn]
    paragraphs = [" ".join(renamed[i : i + 3]) for i in range(0, len(renamed), 3)]
    paragraphs.insert(1, body[len(body) // 2] if len(body) > 2 else sentences(body[-1])[-1])
    if recap_lead:
        paragraphs.append(sentences(body[0])[0])
    return Copy(f"{cluster}/follow-up", "follow_up", "Harbour Herald", f"Follow-up: {cluster}", paragraphs, None,
                T0 + timedelta(days=1))


def labelled_set(directory: Path) -> list[Copy]:
    """Clusters from four pages of each publisher; the fifth page of each is the material for follow-ups."""
    truth = json.loads((directory / "ground_truth.json").read_text(encoding="utf-8"))
    rng = random.Random(SEED)
    bodies = {
        name.removesuffix(".html.gz"): [" ".join(p.split()) for p in truth[name]["body"] if p.strip()]
        for name in sorted(truth)
    }
    material_pages = [name for name in bodies if name.endswith("_4")]
    material = [s for name in material_pages for p in bodies[name] for s in sentences(p) if len(s.split()) >= 8]
    rng.shuffle(material)
    copies: list[Copy] = []
    for cluster, body in bodies.items():
        if cluster in material_pages:
            continue
        publisher = cluster.rsplit("_", 1)[0]
        copies += syndicated_copies(cluster, publisher, page_title(directory, f"{cluster}.html.gz"), body, rng)
        copies.append(follow_up(cluster, body, material, recap_lead=len(copies) % 2 == 0))
    rng.shuffle(copies)
    return copies


def ingest(conn, copies: list[Copy], config: dedupe.DedupeConfig) -> dict[int, int]:
    """Store every copy and assign its story; returns the story of each copy (by position)."""
    stories: dict[int, int] = {}
    feeds: dict[str, int] = {}
    for position, item in enumerate(copies):
        body = "\n\n".join(item.paragraphs)
        with db.transaction(conn) as cur:
            if item.publisher not in feeds:
                cur.execute(
                    "INSERT INTO feeds (url, publisher) VALUES (%s, %s) RETURNING id",
                    (f"https://{item.publisher.replace(' ', '').lower()}.example/feed", item.publisher),
                )
                feeds[item.publisher] = cur.fetchone()[0]
            cur.execute(
                """INSERT INTO articles (url, canonical_url, feed_id, title, body, published_at, fetched_at, agency,
                                         is_syndicated, content_sha256)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (f"https://copy.example/{position}", f"https://copy.example/{position}", feeds[item.publisher],
                 item.title, body, item.published_at, item.published_at, item.agency,
                 item.variant != "original" and item.agency is not None,
                 hashlib.sha256(body.encode("utf-8")).hexdigest()),
            )
            stories[position] = dedupe.assign_story(cur, cur.fetchone()[0], config).story_id
    return stories


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    true_pairs: int
    predicted_pairs: int
    missed_by_variant: dict[str, int]
    missed_by_cluster: dict[str, int]
    false_pairs: list[tuple[str, str, str, str]]
    seconds_per_article: float


def score(copies: list[Copy], stories: dict[int, int], seconds: float) -> Scores:
    tp = fp = fn = 0
    missed: Counter[str] = Counter()
    missed_clusters: Counter[str] = Counter()
    false_pairs = []
    for i, j in itertools.combinations(range(len(copies)), 2):
        same_label = copies[i].cluster == copies[j].cluster
        same_story = stories[i] == stories[j]
        tp += same_label and same_story
        fp += same_story and not same_label
        fn += same_label and not same_story
        if same_label and not same_story:
            missed.update(v for v in (copies[i].variant, copies[j].variant) if v != "original")
            missed_clusters[copies[i].cluster] += 1
        if same_story and not same_label:
            false_pairs.append((copies[i].cluster, copies[i].variant, copies[j].cluster, copies[j].variant))
    return Scores(
        precision=tp / (tp + fp) if tp + fp else 1.0,
        recall=tp / (tp + fn) if tp + fn else 1.0,
        true_pairs=tp + fn,
        predicted_pairs=tp + fp,
        missed_by_variant=dict(missed),
        missed_by_cluster=dict(missed_clusters),
        false_pairs=false_pairs,
        seconds_per_article=seconds / len(copies),
    )


def evaluate(conn, copies: list[Copy], config: dedupe.DedupeConfig) -> Scores:
    with db.transaction(conn) as cur:
        cur.execute("TRUNCATE feeds, articles, stories RESTART IDENTITY CASCADE")
    started = time.perf_counter()
    stories = ingest(conn, copies, config)
    return score(copies, stories, time.perf_counter() - started)


def margins(copies: list[Copy], config: dedupe.DedupeConfig) -> tuple[dict[str, tuple[float, float]], float, float]:
    """Where the thresholds sit: per kind of copy, the median Jaccard and containment against its original; and
    between different stories, the highest Jaccard and the highest containment with a shared lead sentence
    (bodies of at least `min_words` words)."""
    features = [dedupe.BodyFeatures.of(c.title, "\n\n".join(c.paragraphs), config) for c in copies]
    originals = {c.cluster: f for c, f in zip(copies, features) if c.variant == "original"}
    by_variant: dict[str, list[tuple[float, float]]] = {}
    highest_jaccard = highest_containment = 0.0
    for copy, feature in zip(copies, features):
        if copy.cluster in originals and copy.variant != "original":
            _, jaccard, containment = dedupe.compare(feature, originals[copy.cluster], config)
            by_variant.setdefault(copy.variant, []).append((jaccard, containment))
    for i, j in itertools.combinations(range(len(copies)), 2):
        a, b = features[i], features[j]
        if copies[i].cluster == copies[j].cluster or min(len(a.body_words), len(b.body_words)) < config.min_words:
            continue
        shared = len(a.shingles & b.shingles)
        highest_jaccard = max(highest_jaccard, shared / len(a.shingles | b.shingles))
        if a.lead_sentences & b.lead_sentences:
            highest_containment = max(highest_containment, shared / min(len(a.shingles), len(b.shingles)))
    medians = {
        variant: (statistics.median(j for j, _ in pairs), statistics.median(c for _, c in pairs))
        for variant, pairs in sorted(by_variant.items())
    }
    return medians, highest_jaccard, highest_containment


def sweep_configs() -> list[dedupe.DedupeConfig]:
    base = dedupe.DEFAULT_CONFIG
    return [
        base,
        *(replace(base, shingle_words=k) for k in (3, 5)),
        *(replace(base, min_jaccard=j) for j in (0.3, 0.4, 0.5, 0.6, 0.7)),
        *(replace(base, min_containment=c) for c in (0.5, 0.6, 0.7, 0.8, 0.9)),
        *(replace(base, num_bands=b, rows_per_band=r) for b, r in ((16, 4), (32, 3), (16, 3))),
        *(replace(base, lead_sentences=n) for n in (0, 1, 5)),
    ]


def describe(config: dedupe.DedupeConfig) -> str:
    base = dedupe.DEFAULT_CONFIG
    changed = {k: v for k, v in vars(config).items() if getattr(base, k) != v}
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "defaults"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--sweep", action="store_true", help="score a grid of thresholds around the defaults")
    args = parser.parse_args()
    copies = labelled_set(args.directory)
    clusters = len({c.cluster for c in copies})
    print(f"dedupe: {len(copies)} articles in {clusters} labelled stories (syndicated copies and follow-ups)")
    url = db.embedded_database_url(Path(tempfile.mkdtemp(prefix="feedpipe-eval-dedupe-")))
    db.migrate(url)
    conn = db.connect(url)
    try:
        configs = sweep_configs() if args.sweep else [dedupe.DEFAULT_CONFIG]
        for config in configs:
            result = evaluate(conn, copies, config)
            print(
                f"dedupe [{describe(config)}]: pairwise precision {result.precision:.4f} recall {result.recall:.4f}"
                f" ({result.predicted_pairs} predicted pairs, {result.true_pairs} true pairs,"
                f" {result.seconds_per_article * 1000:.1f} ms/article)"
            )
            if not args.sweep:
                print(f"dedupe: missed pairs by variant: {result.missed_by_variant or 'none'}")
                print(f"dedupe: missed pairs by story: {result.missed_by_cluster or 'none'}")
                for pair in result.false_pairs[:20]:
                    print(f"dedupe: false pair {pair}")
                medians, highest_jaccard, highest_containment = margins(copies, config)
                for variant, (jaccard, containment) in medians.items():
                    print(f"dedupe: {variant} against its original: median Jaccard {jaccard:.3f},"
                          f" containment {containment:.3f}")
                print(
                    f"dedupe: between different stories: highest Jaccard {highest_jaccard:.3f}, highest"
                    f" containment with a shared lead sentence {highest_containment:.3f}"
                )
        return 0 if args.sweep or (result.precision >= 0.99 and result.recall >= 0.95) else 1
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
