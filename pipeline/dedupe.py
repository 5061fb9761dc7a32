"""Dedupe: put every stored article into a story, with the copies of the same wire story in the same one.

Candidates come from keys stored in Postgres (`dedupe_keys`), so matching works across runs and processes:
MinHash LSH band hashes of the body's word shingles, hashes of its lead sentences (a copy that keeps only its top
still shares them), the normalized-body hash and the normalized-title hash. Every candidate is then verified on
the exact shingle sets of both bodies, which are in the rows anyway: Jaccard for ordinary copies, containment (the
share of the shorter body found in the longer) plus a shared lead sentence for trimmed or padded copies. Bodies
under `min_words` words are too short to estimate anything: they join only on an identical body, on an identical
title with one body inside the other, or when the short body is, word for word, the start of the other.

Concurrency: `assign_story` takes transaction-scoped advisory locks on all of the article's keys in sorted order
before looking for candidates. Two copies of one story share keys, so their workers run one after the other and
the second sees the first; sorted order means no two workers ever wait on each other in a cycle. The transaction
must be READ COMMITTED, so the statements after the lock see what the worker before committed.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import psycopg2.extensions
from datasketch import MinHash

WORD = re.compile(r"\w+")
SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+")
MINHASH_SEED = 1


@dataclass(frozen=True)
class DedupeConfig:
    """Thresholds of the dedupe stage; defaults chosen with `bench/eval_dedupe.py --sweep` (see bench/README.md)."""

    shingle_words: int = 4
    num_bands: int = 24
    rows_per_band: int = 3
    lead_sentences: int = 3
    lead_sentence_min_words: int = 6
    min_words: int = 50
    min_lead_copy_words: int = 25
    min_jaccard: float = 0.6
    min_containment: float = 0.8
    candidates_per_story: int = 3
    max_candidates: int = 60

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


def words(text: str | None) -> list[str]:
    return WORD.findall((text or "").casefold())


def key_hash(kind: str, text: str) -> int:
    """A signed 64-bit key (Postgres bigint) for one kind of key."""
    digest = hashlib.blake2b(f"{kind}\x00{text}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@lru_cache(maxsize=4)
def _permutations(num_perm: int) -> np.ndarray:
    return MinHash(num_perm=num_perm, seed=MINHASH_SEED).permutations


@dataclass(frozen=True)
class BodyFeatures:
    """What dedupe compares: the body's words, shingles and lead sentences, and the title's words."""

    title_words: tuple[str, ...]
    body_words: tuple[str, ...]
    shingles: frozenset[str]
    lead_sentences: frozenset[str]

    @classmethod
    def of(cls, title: str | None, body: str, config: DedupeConfig) -> "BodyFeatures":
        paragraphs = [words(p) for p in body.split("\n\n")]
        return cls(
            title_words=tuple(words(title)),
            body_words=tuple(w for p in paragraphs for w in p),
            shingles=frozenset(s for p in paragraphs for s in paragraph_shingles(p, config.shingle_words)),
            lead_sentences=frozenset(lead_sentences(body, config)),
        )

    @property
    def normalized_body(self) -> str:
        return " ".join(self.body_words)

    @property
    def normalized_title(self) -> str:
        return " ".join(self.title_words)

    def keys(self, config: DedupeConfig) -> list[int]:
        """The sorted lookup keys stored in `dedupe_keys` (and locked, in this order)."""
        keys = {key_hash("body", self.normalized_body)}
        if self.title_words:
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
    return [" ".join(paragraph_words[i : i + k]) for i in range(len(paragraph_words) - k + 1)]


def lead_sentences(body: str, config: DedupeConfig) -> list[str]:
    """The first few sentences long enough to identify a story, as normalized words.

    A dateline-only line ("Moscow:") or a short kicker is skipped, so a copy that adds or drops one still shares
    the sentences that follow it."""
    found: list[str] = []
    for paragraph in body.split("\n\n"):
        for sentence in SENTENCE_END.split(paragraph):
            sentence_words = words(sentence)
            if len(sentence_words) >= config.lead_sentence_min_words:
                found.append(" ".join(sentence_words))
                if len(found) == config.lead_sentences:
                    return found
    return found


def band_keys(shingles: frozenset[str], config: DedupeConfig) -> list[int]:
    """MinHash LSH: one key per band of `rows_per_band` consecutive hash values."""
    if not shingles:
        return []
    minhash = MinHash(
        num_perm=config.num_perm, seed=MINHASH_SEED, permutations=_permutations(config.num_perm), scheme="affine32"
    )
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    values = minhash.hashvalues
    r = config.rows_per_band
    return [key_hash(f"band{band}", values[band * r : (band + 1) * r].tobytes().hex()) for band in range(config.num_bands)]


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


def _require_read_committed(cur: psycopg2.extensions.cursor) -> None:
    level = cur.connection.isolation_level
    if level in (psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, psycopg2.extensions.ISOLATION_LEVEL_SERIALIZABLE):
        raise DedupeError("assign_story needs a READ COMMITTED transaction to see copies committed while it waited")


def _load_article(cur: psycopg2.extensions.cursor, article_id: int) -> _Article:
    cur.execute("SELECT id, title, body, content_sha256, story_id FROM articles WHERE id = %s", (article_id,))
    row = cur.fetchone()
    if row is None:
        raise DedupeError(f"article {article_id} does not exist")
    return _Article(*row)


def _stored_decision(cur: psycopg2.extensions.cursor, article: _Article) -> StoryDecision | None:
    """The decision already made for this exact article, if its body and title have not changed since."""
    if article.story_id is None:
        return None
    cur.execute(
        """SELECT method, matched_article_id, similarity, containment, content_sha256, title
           FROM story_assignments WHERE article_id = %s""",
        (article.id,),
    )
    row = cur.fetchone()
    if row is None or row[4] != article.content_sha256 or row[5] != article.title:
        return None
    method, matched, similarity, containment = row[:4]
    return StoryDecision(article.id, article.story_id, method, matched, similarity, containment, changed=False)


def _lock_keys(cur: psycopg2.extensions.cursor, keys: list[int]) -> None:
    """Transaction-scoped advisory locks on every key, in ascending order (unnest keeps the array's order)."""
    cur.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", (keys,))


def _store_keys(cur: psycopg2.extensions.cursor, article_id: int, keys: list[int]) -> None:
    cur.execute("DELETE FROM dedupe_keys WHERE article_id = %s", (article_id,))
    cur.execute(
        "INSERT INTO dedupe_keys (key, article_id) SELECT unnest(%s::bigint[]), %s", (keys, article_id)
    )


def _candidates(
    cur: psycopg2.extensions.cursor, article_id: int, keys: list[int], config: DedupeConfig
) -> list[_Article]:
    """Articles sharing keys with this one, most shared keys first, at most `candidates_per_story` per story."""
    cur.execute(
        """WITH shared AS (
               SELECT k.article_id, count(*) AS n FROM dedupe_keys k
               WHERE k.key = ANY(%(keys)s) AND k.article_id <> %(id)s
               GROUP BY k.article_id
           ), ranked AS (
               SELECT a.id, shared.n,
                      row_number() OVER (PARTITION BY a.story_id ORDER BY shared.n DESC, a.id) AS rank_in_story
               FROM shared JOIN articles a ON a.id = shared.article_id
               WHERE a.story_id IS NOT NULL
           )
           SELECT a.id, a.title, a.body, a.content_sha256, a.story_id
           FROM ranked JOIN articles a ON a.id = ranked.id
           WHERE ranked.rank_in_story <= %(per_story)s
           ORDER BY ranked.n DESC, a.id
           LIMIT %(limit)s""",
        {"keys": keys, "id": article_id, "per_story": config.candidates_per_story, "limit": config.max_candidates},
    )
    return [_Article(*row) for row in cur.fetchall()]


def _verified_matches(
    features: BodyFeatures, candidates: list[_Article], config: DedupeConfig
) -> list[Match]:
    matches: list[Match] = []
    for candidate in candidates:
        method, jaccard, containment = compare(
            features, BodyFeatures.of(candidate.title, candidate.body, config), config
        )
        if method is not None:
            matches.append(Match(candidate.id, candidate.story_id, method, jaccard, containment))
    return matches


def _lock_stories(cur: psycopg2.extensions.cursor, matched_ids: list[int], own_story: int | None) -> list[int]:
    """Lock (FOR UPDATE, ascending id) the stories now holding the matched articles, plus the article's own story.

    A merge committed while this worker waited can move matched articles to another story; then the locks are
    given back (savepoint) and taken again on the current stories, so locks are always taken in one sorted pass."""
    while True:
        cur.execute("SAVEPOINT dedupe_story_locks")
        cur.execute(
            """SELECT id FROM stories
               WHERE id IN (SELECT story_id FROM articles WHERE id = ANY(%s)) OR id = %s
               ORDER BY id FOR UPDATE""",
            (matched_ids, own_story),
        )
        locked = {row[0] for row in cur.fetchall()}
        cur.execute("SELECT DISTINCT story_id FROM articles WHERE id = ANY(%s)", (matched_ids,))
        current = {row[0] for row in cur.fetchall()}
        if current <= locked:
            cur.execute("RELEASE SAVEPOINT dedupe_story_locks")
            return sorted(current)
        cur.execute("ROLLBACK TO SAVEPOINT dedupe_story_locks")


def _new_story(cur: psycopg2.extensions.cursor) -> int:
    cur.execute("INSERT INTO stories DEFAULT VALUES RETURNING id")
    return cur.fetchone()[0]


def _merge_stories(cur: psycopg2.extensions.cursor, into: int, merged: list[int], bridging_article_id: int) -> None:
    """Move every copy of the `merged` stories into `into` (the oldest story) and record each merge."""
    for story_id in merged:
        cur.execute("UPDATE articles SET story_id = %s WHERE story_id = %s", (into, story_id))
        cur.execute("DELETE FROM stories WHERE id = %s", (story_id,))
        cur.execute(
            "INSERT INTO story_merges (merged_story_id, into_story_id, bridging_article_id) VALUES (%s, %s, %s)",
            (story_id, into, bridging_article_id),
        )


def _refresh_story(cur: psycopg2.extensions.cursor, story_id: int) -> tuple[int | None, int | None]:
    """Recompute a story's aggregates from its copies; returns its canonical article before and after.

    The canonical article is the one whose publisher is an agency credited by the story's copies (the
    originating agency's own copy), otherwise the earliest published; ties go to the lowest id. A story left
    without copies (its only article changed into another story) is deleted."""
    cur.execute("SELECT canonical_article_id FROM stories WHERE id = %s", (story_id,))
    before = cur.fetchone()[0]
    cur.execute(
        """WITH members AS (
               SELECT a.id, a.title, a.agency, a.published_at, a.fetched_at, f.publisher
               FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
               WHERE a.story_id = %(story)s
           ), credited AS (
               SELECT DISTINCT lower(agency) AS agency FROM members WHERE agency IS NOT NULL
           ), canonical AS (
               SELECT id, title FROM members
               ORDER BY coalesce(lower(publisher) IN (SELECT agency FROM credited), false) DESC,
                        coalesce(published_at, fetched_at), id
               LIMIT 1
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
           WHERE id = %(story)s
           RETURNING canonical_article_id""",
        {"story": story_id},
    )
    after = cur.fetchone()[0]
    if after is None:
        cur.execute("DELETE FROM stories WHERE id = %s", (story_id,))
    return before, after


def paragraph_diff(copy_body: str, canonical_body: str) -> tuple[list[str], list[str]]:
    """Paragraphs the copy added and paragraphs of the canonical article it dropped (compared as normalized words)."""
    copy_paragraphs = [p for p in copy_body.split("\n\n") if p.strip()]
    canonical_paragraphs = [p for p in canonical_body.split("\n\n") if p.strip()]
    copy_keys = {" ".join(words(p)) for p in copy_paragraphs}
    canonical_keys = {" ".join(words(p)) for p in canonical_paragraphs}
    added = [p for p in copy_paragraphs if " ".join(words(p)) not in canonical_keys]
    dropped = [p for p in canonical_paragraphs if " ".join(words(p)) not in copy_keys]
    return added, dropped


def _record_diffs(cur: psycopg2.extensions.cursor, story_id: int, article_ids: list[int] | None) -> None:
    """Store what each copy (all of them when `article_ids` is None) changed against the canonical article."""
    cur.execute(
        """SELECT c.title, c.body FROM stories s JOIN articles c ON c.id = s.canonical_article_id
           WHERE s.id = %s""",
        (story_id,),
    )
    canonical_title, canonical_body = cur.fetchone()
    if article_ids is None:
        cur.execute("SELECT id, title, body FROM articles WHERE story_id = %s", (story_id,))
    else:
        cur.execute("SELECT id, title, body FROM articles WHERE id = ANY(%s)", (article_ids,))
    for article_id, title, body in cur.fetchall():
        added, dropped = paragraph_diff(body, canonical_body)
        headline = title if words(title) != words(canonical_title) else None
        cur.execute(
            """UPDATE story_assignments SET headline = %s, paragraphs_added = %s, paragraphs_dropped = %s
               WHERE article_id = %s""",
            (headline, added, dropped, article_id),
        )


def _record_assignment(cur: psycopg2.extensions.cursor, article: _Article, best: Match | None) -> None:
    cur.execute(
        """INSERT INTO story_assignments
               (article_id, method, matched_article_id, similarity, containment, content_sha256, title, decided_at)
           VALUES (%(id)s, %(method)s, %(matched)s, %(similarity)s, %(containment)s, %(sha)s, %(title)s, now())
           ON CONFLICT (article_id) DO UPDATE SET
               method = EXCLUDED.method, matched_article_id = EXCLUDED.matched_article_id,
               similarity = EXCLUDED.similarity, containment = EXCLUDED.containment,
               content_sha256 = EXCLUDED.content_sha256, title = EXCLUDED.title, decided_at = EXCLUDED.decided_at""",
        {
            "id": article.id,
            "method": best.method if best else "first_copy",
            "matched": best.article_id if best else None,
            "similarity": best.similarity if best else None,
            "containment": best.containment if best else None,
            "sha": article.content_sha256,
            "title": article.title,
        },
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
    article = _load_article(cur, article_id)
    stored = _stored_decision(cur, article)
    if stored is not None:
        return stored
    features = BodyFeatures.of(article.title, article.body, config)
    keys = features.keys(config)
    _lock_keys(cur, keys)
    _store_keys(cur, article.id, keys)
    matches = _verified_matches(features, _candidates(cur, article.id, keys, config), config)
    story_ids = _lock_stories(cur, [m.article_id for m in matches], article.story_id)
    best = _best(matches)
    if story_ids:
        story_id, merged = story_ids[0], story_ids[1:]
        _merge_stories(cur, story_id, merged, article.id)
    else:
        story_id, merged = _new_story(cur), []
    cur.execute("UPDATE articles SET story_id = %s WHERE id = %s", (story_id, article.id))
    _record_assignment(cur, article, best)
    if article.story_id is not None and article.story_id != story_id and article.story_id not in merged:
        before, after = _refresh_story(cur, article.story_id)
        if after is not None and before != after:
            _record_diffs(cur, article.story_id, None)
    before, after = _refresh_story(cur, story_id)
    _record_diffs(cur, story_id, None if (merged or before != after) else [article.id])
    return StoryDecision(
        article.id,
        story_id,
        best.method if best else "first_copy",
        best.article_id if best else None,
        best.similarity if best else None,
        best.containment if best else None,
        tuple(merged),
    )
