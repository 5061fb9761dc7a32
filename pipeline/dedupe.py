"""Dedupe: put every stored article into a story, with the copies of the same wire story in the same one.

Candidates come from keys stored in Postgres (`dedupe_keys`), so matching works across runs and processes:
MinHash LSH band hashes of the body's word shingles, hashes of its lead sentences (a copy that keeps only its top
still shares them), the normalized-body hash and, for short bodies, the normalized-title hash. Every candidate is
then verified on
the exact shingle sets of both bodies, which are in the rows anyway: Jaccard for ordinary copies, containment (the
share of the shorter body found in the longer) plus a shared lead sentence for trimmed or padded copies. Bodies
under `min_words` words are too short to estimate anything: they join only on an identical body, on an identical
title with one body inside the other, or when the short body is, word for word, the start of the other.

Concurrency: `assign_story` takes transaction-scoped advisory locks on all of the article's keys in sorted order
before looking for candidates. Two copies of one story share keys, so their workers run one after the other and
the second sees the first; sorted order means no two workers ever wait on each other in a cycle. The stories it
then changes are locked FOR UPDATE in ascending id order (see `_lock_stories`). The transaction must be READ
COMMITTED, so the statements after a lock see what the worker before committed.

The stored keys depend on the shingle size, the band layout, MINHASH_SEED and the hash functions: changing any of
them needs the keys of stored articles recomputed.
"""
from __future__ import annotations

import hashlib
import re
import weakref
import zlib
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain

import numpy as np
import psycopg2.errors
import psycopg2.extensions

WORD = re.compile(r"\w+")
SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+")
MINHASH_SEED = 1


@dataclass(frozen=True)
class DedupeConfig:
    """Thresholds of the dedupe stage; defaults chosen with `bench/eval_dedupe.py --sweep` (see bench/README.md)."""

    shingle_words: int = 4  # words per shingle; shingles stay within a paragraph
    num_bands: int = 24  # LSH bands ...
    rows_per_band: int = 3  # ... of this many MinHash values each
    lead_sentences: int = 3  # first sentences hashed as lead keys ...
    lead_sentence_min_words: int = 6  # ... counting only sentences this long
    min_words: int = 50  # shorter bodies use the exact rules only
    min_lead_copy_words: int = 25  # a short body this long that is the start of another joins it
    min_jaccard: float = 0.5  # near_duplicate
    min_containment: float = 0.7  # containment (with a shared lead sentence)
    candidates_per_story: int = 3  # candidates verified per story, most shared keys first
    max_candidates: int = 60  # candidates verified in all

    @property
    def num_perm(self) -> int:
        return self.num_bands * self.rows_per_band


DEFAULT_CONFIG = DedupeConfig()


@dataclass(frozen=True)
class StoryDecision:
    """Which story an article is in and why; `changed` is False when a re-run found the decision already stored."""

    article_id: int
    story_id: int
    method: str
    matched_article_id: int | None = None
    similarity: float | None = None
    containment: float | None = None
    merged_story_ids: tuple[int, ...] = ()
    changed: bool = True


class DedupeError(RuntimeError):
    pass


_PREPARED: "weakref.WeakKeyDictionary[psycopg2.extensions.connection, set[str]]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _Statement:
    """A statement run for every article, prepared once per connection so Postgres plans it once.

    PREPARE outlives the transaction it ran in (it is not rolled back), so remembering it per connection is safe."""

    name: str
    parameter_types: tuple[str, ...]
    sql: str

    def call(self, cur: psycopg2.extensions.cursor) -> str:
        """The EXECUTE text (with %s placeholders), preparing the statement on this connection first if needed."""
        prepared = _PREPARED.setdefault(cur.connection, set())
        if self.name not in prepared:
            cur.execute(f"PREPARE {self.name} ({', '.join(self.parameter_types)}) AS {self.sql}")
            prepared.add(self.name)
        return f"EXECUTE {self.name} ({', '.join(['%s'] * len(self.parameter_types))})"

    def execute(self, cur: psycopg2.extensions.cursor, *params: object) -> None:
        cur.execute(self.call(cur), params)


def words(text: str | None) -> list[str]:
    return WORD.findall((text or "").casefold())


def key_hash(kind: str, text: str) -> int:
    """A signed 64-bit key (Postgres bigint) for one kind of key."""
    digest = hashlib.blake2b(f"{kind}\x00{text}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@lru_cache(maxsize=4)
def _permutations(num_perm: int) -> np.ndarray:
    from datasketch import MinHash  # see band_keys

    return MinHash(num_perm=num_perm, seed=MINHASH_SEED).permutations


@dataclass(frozen=True)
class BodyFeatures:
    """What dedupe compares: the body's words, shingles and lead sentences, and the title's words."""

    title_words: tuple[str, ...]
    body_words: tuple[str, ...]
    shingles: frozenset[str]
    lead_sentences: frozenset[str]

    @classmethod
    def of(cls, title: str | None, body: str, config: DedupeConfig, summary_paragraphs: int = 0) -> "BodyFeatures":
        """`summary_paragraphs` opening paragraphs are the page's standfirst and key points (`articles.
        summary_paragraphs`): the lead sentences are the story's own first sentences, after them, so a copy printed
        without the summary still shares its lead."""
        texts = body.split("\n\n")
        paragraphs = [words(p) for p in texts]
        return cls(
            title_words=tuple(words(title)),
            body_words=tuple(chain.from_iterable(paragraphs)),
            shingles=frozenset(chain.from_iterable(paragraph_shingles(p, config.shingle_words) for p in paragraphs)),
            lead_sentences=frozenset(lead_sentences(texts[summary_paragraphs:] or texts, config)),
        )

    @property
    def normalized_body(self) -> str:
        return " ".join(self.body_words)

    @property
    def normalized_title(self) -> str:
        return " ".join(self.title_words)

    def keys(self, config: DedupeConfig) -> list[int]:
        """The sorted lookup keys stored in `dedupe_keys` (and locked, in this order).

        Only short bodies get a title key: the title matters only to the short-body rule, and headlines such as
        "Live updates" would otherwise make one key shared by thousands of unrelated articles."""
        keys = {key_hash("body", self.normalized_body)}
        if self.title_words and len(self.body_words) < config.min_words:
            keys.add(key_hash("title", self.normalized_title))
        keys.update(key_hash("lead", sentence) for sentence in self.lead_sentences)
        keys.update(band_keys(self.shingles, config))
        return sorted(keys)


def paragraph_shingles(paragraph_words: list[str], k: int) -> list[str]:
    """Word k-shingles of one paragraph (a shorter paragraph is one shingle).

    Shingles never span two paragraphs, so an ad line or a local paragraph inserted between paragraphs
    adds its own shingles without breaking those of its neighbours."""
    if len(paragraph_words) <= k:
        return [" ".join(paragraph_words)] if paragraph_words else []
    return list(map(" ".join, zip(*(paragraph_words[i:] for i in range(k)))))


def lead_sentences(paragraphs: list[str], config: DedupeConfig) -> list[str]:
    """The first few sentences of `paragraphs` long enough to identify a story, as normalized words.

    A dateline-only line ("Moscow:") or a short kicker is skipped, so a copy that adds or drops one still shares
    the sentences that follow it."""
    found: list[str] = []
    for paragraph in paragraphs:
        for sentence in SENTENCE_END.split(paragraph):
            if len(found) >= config.lead_sentences:
                return found
            sentence_words = words(sentence)
            if len(sentence_words) >= config.lead_sentence_min_words:
                found.append(" ".join(sentence_words))
    return found


def band_keys(shingles: frozenset[str], config: DedupeConfig) -> list[int]:
    """MinHash LSH: one key per band of `rows_per_band` consecutive hash values.

    datasketch is imported here, not with the module: its package imports scipy for its LSH classes (0.5 s of
    CPU), which the command line's own process, importing this module, never needs."""
    if not shingles:
        return []
    from datasketch import MinHash

    minhash = MinHash(
        num_perm=config.num_perm,
        seed=MINHASH_SEED,
        hashfunc=zlib.crc32,
        permutations=_permutations(config.num_perm),
        scheme="affine32",
    )
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    values = minhash.hashvalues
    r = config.rows_per_band
    return [
        key_hash(f"band{band}", values[band * r : (band + 1) * r].tobytes().hex()) for band in range(config.num_bands)
    ]


@dataclass(frozen=True)
class Match:
    article_id: int
    story_id: int
    method: str
    similarity: float
    containment: float


def compare(new: BodyFeatures, old: BodyFeatures, config: DedupeConfig) -> tuple[str | None, float, float]:
    """The method by which two bodies are copies of one story (None if they are not), their Jaccard and containment.

    Symmetric in its two arguments, so the outcome never depends on which copy was stored first."""
    shared = len(new.shingles & old.shingles)
    union = len(new.shingles | old.shingles)
    jaccard = shared / union if union else 0.0
    smaller = min(len(new.shingles), len(old.shingles))
    containment = shared / smaller if smaller else 0.0
    if new.body_words == old.body_words:
        return "exact_body", 1.0, 1.0
    if min(len(new.body_words), len(old.body_words)) < config.min_words:
        shorter, longer = sorted((new, old), key=lambda f: len(f.body_words))
        same_title = bool(new.title_words) and new.title_words == old.title_words
        inside = bool(shorter.body_words) and f" {shorter.normalized_body} " in f" {longer.normalized_body} "
        if inside and same_title:
            return "title_and_body", jaccard, 1.0
        is_lead = longer.body_words[: len(shorter.body_words)] == shorter.body_words
        if is_lead and len(shorter.body_words) >= config.min_lead_copy_words:
            return "lead_copy", jaccard, 1.0
        return None, jaccard, containment
    if jaccard >= config.min_jaccard:
        return "near_duplicate", jaccard, containment
    if containment >= config.min_containment and new.lead_sentences & old.lead_sentences:
        return "containment", jaccard, containment
    return None, jaccard, containment


@dataclass(frozen=True)
class _Article:
    id: int
    title: str | None
    body: str
    content_sha256: str
    story_id: int | None
    summary_paragraphs: int

    def features(self, config: DedupeConfig) -> BodyFeatures:
        return BodyFeatures.of(self.title, self.body, config, self.summary_paragraphs)


def _require_read_committed(cur: psycopg2.extensions.cursor) -> None:
    level = cur.connection.isolation_level
    if level in (psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, psycopg2.extensions.ISOLATION_LEVEL_SERIALIZABLE):
        raise DedupeError("assign_story needs a READ COMMITTED transaction to see copies committed while it waited")


LOAD_ARTICLE = _Statement(
    "dedupe_load_article",
    ("bigint",),
    """SELECT a.id, a.title, a.body, a.content_sha256, a.story_id, a.summary_paragraphs,
              sa.method, sa.matched_article_id, sa.similarity, sa.containment,
              sa.content_sha256 = a.content_sha256 AND sa.title IS NOT DISTINCT FROM a.title
              AND sa.summary_paragraphs = a.summary_paragraphs
       FROM articles a LEFT JOIN story_assignments sa ON sa.article_id = a.id
       WHERE a.id = $1""",
)


def _load_article(cur: psycopg2.extensions.cursor, article_id: int) -> tuple[_Article, StoryDecision | None]:
    """The article, and the decision already stored for it if its body and title have not changed since."""
    LOAD_ARTICLE.execute(cur, article_id)
    row = cur.fetchone()
    if row is None:
        raise DedupeError(f"article {article_id} does not exist")
    article = _Article(*row[:6])
    method, matched, similarity, containment, unchanged = row[6:]
    if article.story_id is None or not unchanged:
        return article, None
    return article, StoryDecision(article.id, article.story_id, method, matched, similarity, containment, changed=False)


STORE_KEYS_AND_FIND = _Statement(
    "dedupe_store_keys_and_find",
    ("bigint[]", "bigint", "integer", "integer"),
    """WITH stored AS (
           INSERT INTO dedupe_keys (key, article_id) SELECT unnest($1), $2
           ON CONFLICT DO NOTHING
       ), shared AS MATERIALIZED (
           SELECT k.article_id, count(*) AS n FROM dedupe_keys k
           WHERE k.key = ANY($1) AND k.article_id <> $2
           GROUP BY k.article_id
       ), ranked AS (
           SELECT a.id, shared.n,
                  row_number() OVER (PARTITION BY a.story_id ORDER BY shared.n DESC, a.id) AS rank_in_story
           FROM shared JOIN articles a ON a.id = shared.article_id
           WHERE a.story_id IS NOT NULL
       )
       SELECT a.id, a.title, a.body, a.content_sha256, a.story_id, a.summary_paragraphs
       FROM ranked JOIN articles a ON a.id = ranked.id
       WHERE ranked.rank_in_story <= $3
       ORDER BY ranked.n DESC, a.id
       LIMIT $4""",
)


def _lock_keys_and_find_candidates(
    cur: psycopg2.extensions.cursor, article: _Article, keys: list[int], config: DedupeConfig
) -> list[_Article]:
    """Lock the article's keys, store them, and return the articles sharing keys with it, most shared keys first,
    at most `candidates_per_story` per story.

    The locks are transaction-scoped advisory locks taken in ascending key order (unnest keeps the array's
    order). Both statements go in one round trip; under READ COMMITTED the second takes its snapshot after the
    first has the locks, so it sees every copy committed by a worker that held them before. The key lookup is
    materialized first so the plan always starts from the key index, never from articles."""
    if article.story_id is not None:
        cur.execute("DELETE FROM dedupe_keys WHERE article_id = %s", (article.id,))
    cur.execute(
        "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k; " + STORE_KEYS_AND_FIND.call(cur),
        (keys, keys, article.id, config.candidates_per_story, config.max_candidates),
    )
    return [_Article(*row) for row in cur.fetchall()]


def _verified_matches(features: BodyFeatures, candidates: list[_Article], config: DedupeConfig) -> list[Match]:
    """The first candidate of each story that verifies as a copy (candidates come most-shared-keys first)."""
    matches: dict[int, Match] = {}
    for candidate in candidates:
        if candidate.story_id in matches:
            continue
        method, jaccard, containment = compare(features, candidate.features(config), config)
        if method is not None:
            matches[candidate.story_id] = Match(candidate.id, candidate.story_id, method, jaccard, containment)
    return list(matches.values())


LOCK_STORIES = _Statement(
    "dedupe_lock_stories",
    ("bigint[]", "bigint"),
    """SELECT id FROM stories WHERE id = ANY(ARRAY(SELECT story_id FROM articles WHERE id = ANY($1)) || $2)
       ORDER BY id FOR UPDATE""",
)
LOCK_CURRENT_STORIES = _Statement(
    "dedupe_lock_current_stories",
    ("bigint[]",),
    """SELECT id FROM stories WHERE id = ANY(ARRAY(SELECT story_id FROM articles WHERE id = ANY($1)))
       ORDER BY id FOR UPDATE NOWAIT""",
)


def _lock_stories(cur: psycopg2.extensions.cursor, matched_ids: list[int], own_story: int | None) -> list[int]:
    """Lock (FOR UPDATE) the stories holding the matched articles, and the article's own story; returns the
    matched articles' stories in ascending order.

    The first statement waits for the stories as this worker saw them, in ascending id order. A merge committed
    meanwhile may have moved matched articles to another story, so the second statement, with a fresh snapshot,
    locks their current stories without waiting; if one is busy, the locks are given back (savepoint) and both
    are tried again. Waiting only ever happens in one sorted pass, so workers never wait on each other in a
    cycle. (The own story cannot move: this transaction holds the article's row.)"""
    while True:
        try:
            cur.execute(
                f"SAVEPOINT dedupe_story_locks; {LOCK_STORIES.call(cur)}; {LOCK_CURRENT_STORIES.call(cur)}",
                (matched_ids, own_story, matched_ids),
            )
        except psycopg2.errors.LockNotAvailable:
            cur.execute("ROLLBACK TO SAVEPOINT dedupe_story_locks")
            continue
        locked = [row[0] for row in cur.fetchall()]
        cur.execute("RELEASE SAVEPOINT dedupe_story_locks")
        return locked


def _new_story(cur: psycopg2.extensions.cursor) -> int:
    cur.execute("INSERT INTO stories DEFAULT VALUES RETURNING id")
    return cur.fetchone()[0]


def _merge_stories(cur: psycopg2.extensions.cursor, into: int, merged: list[int], bridging_article_id: int) -> None:
    """Move every copy of the `merged` stories into `into` (the oldest story) and record each merge."""
    cur.execute(
        """WITH moved AS (
               UPDATE articles SET story_id = %(into)s WHERE story_id = ANY(%(merged)s)
           ), recorded AS (
               INSERT INTO story_merges (merged_story_id, into_story_id, bridging_article_id)
               SELECT m, %(into)s, %(bridge)s FROM unnest(%(merged)s::bigint[]) AS m
           )
           SELECT 1""",
        {"into": into, "merged": merged, "bridge": bridging_article_id},
    )
    cur.execute("DELETE FROM stories WHERE id = ANY(%s)", (merged,))


@dataclass(frozen=True)
class _Refreshed:
    canonical_before: int | None
    canonical_after: int | None
    canonical_title: str | None
    canonical_body: str | None


REFRESH_STORY = _Statement(
    "dedupe_refresh_story",
    ("bigint", "bigint"),
    """WITH joined AS (
           UPDATE articles SET story_id = $1 WHERE id = $2
       ), members AS (
           SELECT a.id, a.title, a.body, a.agency, a.is_syndicated, a.published_at, a.fetched_at,
                  coalesce(f.publisher, f.name, a.publisher) AS publisher
           FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
           WHERE a.id = ANY(ARRAY(SELECT id FROM articles WHERE story_id = $1) || $2::bigint)
       ), canonical AS (
           SELECT id, title, body FROM members
           ORDER BY (agency IS NOT NULL AND NOT is_syndicated) DESC, coalesce(published_at, fetched_at), id
           LIMIT 1
       ), before AS (
           SELECT canonical_article_id FROM stories WHERE id = $1
       )
       UPDATE stories SET
           canonical_article_id = (SELECT id FROM canonical),
           title = (SELECT title FROM canonical),
           first_seen_at = coalesce((SELECT min(fetched_at) FROM members), first_seen_at),
           last_seen_at = coalesce((SELECT max(fetched_at) FROM members), last_seen_at),
           article_count = (SELECT count(*) FROM members),
           publishers = ARRAY(SELECT DISTINCT publisher FROM members WHERE publisher IS NOT NULL ORDER BY 1),
           agencies = ARRAY(SELECT DISTINCT agency FROM members WHERE agency IS NOT NULL ORDER BY 1),
           updated_at = now()
       WHERE id = $1
       RETURNING (SELECT canonical_article_id FROM before), canonical_article_id,
                 (SELECT title FROM canonical), (SELECT body FROM canonical)""",
)


def _refresh_story(cur: psycopg2.extensions.cursor, story_id: int, joining_article_id: int | None) -> _Refreshed:
    """Put `joining_article_id` (if given) into the story and recompute the story's aggregates from its copies.

    The canonical article is the earliest published copy, preferring the agency's own (cleaning credits it to an
    agency without marking it syndicated); ties go to the lowest id. A story left without copies (its only article
    changed into another story) is deleted."""
    REFRESH_STORY.execute(cur, story_id, joining_article_id)
    refreshed = _Refreshed(*cur.fetchone())
    if refreshed.canonical_after is None:
        cur.execute("DELETE FROM stories WHERE id = %s", (story_id,))
    return refreshed


def paragraph_diff(copy_body: str, canonical_body: str) -> tuple[list[str], list[str]]:
    """Paragraphs the copy added and paragraphs of the canonical article it dropped (compared as normalized words)."""
    copy_paragraphs = [(p, " ".join(words(p))) for p in copy_body.split("\n\n") if p.strip()]
    canonical_paragraphs = [(p, " ".join(words(p))) for p in canonical_body.split("\n\n") if p.strip()]
    copy_keys = {key for _, key in copy_paragraphs}
    canonical_keys = {key for _, key in canonical_paragraphs}
    added = [p for p, key in copy_paragraphs if key not in canonical_keys]
    dropped = [p for p, key in canonical_paragraphs if key not in copy_keys]
    return added, dropped


@dataclass(frozen=True)
class _Changes:
    """What a copy changed against its story's canonical article."""

    headline: str | None
    paragraphs_added: list[str]
    paragraphs_dropped: list[str]

    @classmethod
    def between(cls, article_id: int, title: str | None, body: str, refreshed: _Refreshed) -> "_Changes":
        if article_id == refreshed.canonical_after:
            return cls(None, [], [])
        added, dropped = paragraph_diff(body, refreshed.canonical_body or "")
        return cls(title if words(title) != words(refreshed.canonical_title) else None, added, dropped)


def _record_all_changes(cur: psycopg2.extensions.cursor, story_id: int, refreshed: _Refreshed) -> None:
    """Store every copy's changes again, after the story's canonical article changed."""
    cur.execute("SELECT id, title, body FROM articles WHERE story_id = %s", (story_id,))
    for article_id, title, body in cur.fetchall():
        changes = _Changes.between(article_id, title, body, refreshed)
        cur.execute(
            """UPDATE story_assignments SET headline = %s, paragraphs_added = %s, paragraphs_dropped = %s
               WHERE article_id = %s""",
            (changes.headline, changes.paragraphs_added, changes.paragraphs_dropped, article_id),
        )


RECORD_ASSIGNMENT = _Statement(
    "dedupe_record_assignment",
    ("bigint", "text", "bigint", "real", "real", "text", "text", "smallint", "text", "text[]", "text[]"),
    """INSERT INTO story_assignments
           (article_id, method, matched_article_id, similarity, containment, content_sha256, title,
            summary_paragraphs, headline, paragraphs_added, paragraphs_dropped, decided_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
       ON CONFLICT (article_id) DO UPDATE SET
           method = EXCLUDED.method, matched_article_id = EXCLUDED.matched_article_id,
           similarity = EXCLUDED.similarity, containment = EXCLUDED.containment,
           content_sha256 = EXCLUDED.content_sha256, title = EXCLUDED.title,
           summary_paragraphs = EXCLUDED.summary_paragraphs, headline = EXCLUDED.headline,
           paragraphs_added = EXCLUDED.paragraphs_added, paragraphs_dropped = EXCLUDED.paragraphs_dropped,
           decided_at = EXCLUDED.decided_at""",
)


def _record_assignment(
    cur: psycopg2.extensions.cursor, article: _Article, best: Match | None, changes: _Changes
) -> None:
    RECORD_ASSIGNMENT.execute(
        cur,
        article.id,
        best.method if best else "first_copy",
        best.article_id if best else None,
        best.similarity if best else None,
        best.containment if best else None,
        article.content_sha256,
        article.title,
        article.summary_paragraphs,
        changes.headline,
        changes.paragraphs_added,
        changes.paragraphs_dropped,
    )


def _best(matches: list[Match]) -> Match | None:
    return min(matches, key=lambda m: (-m.similarity, -m.containment, m.article_id), default=None)


def assign_story(
    cur: psycopg2.extensions.cursor, article_id: int, config: DedupeConfig = DEFAULT_CONFIG
) -> StoryDecision:
    """Put a stored article into its story, inside the caller's transaction (the one that stored the article).

    Joins the story of the verified copies it matches, founds a new story if none, merges the stories it
    bridges into the oldest of them, and records why. Calling it again for an unchanged article changes nothing."""
    _require_read_committed(cur)
    article, stored = _load_article(cur, article_id)
    if stored is not None:
        return stored
    features = article.features(config)
    keys = features.keys(config)
    matches = _verified_matches(features, _lock_keys_and_find_candidates(cur, article, keys, config), config)
    story_ids = _lock_stories(cur, [m.article_id for m in matches], article.story_id) if matches else []
    story_id = story_ids[0] if story_ids else _new_story(cur)
    merged = story_ids[1:]
    if merged:
        _merge_stories(cur, story_id, merged, article.id)
    refreshed = _refresh_story(cur, story_id, article.id)
    best = _best(matches)
    _record_assignment(cur, article, best, _Changes.between(article.id, article.title, article.body, refreshed))
    if merged or refreshed.canonical_before not in (None, refreshed.canonical_after):
        _record_all_changes(cur, story_id, refreshed)
    if article.story_id not in (None, story_id, *merged):
        left = _refresh_story(cur, article.story_id, None)
        if left.canonical_after is not None and left.canonical_after != left.canonical_before:
            _record_all_changes(cur, article.story_id, left)
    return StoryDecision(
        article.id,
        story_id,
        best.method if best else "first_copy",
        best.article_id if best else None,
        best.similarity if best else None,
        best.containment if best else None,
        tuple(merged),
    )
