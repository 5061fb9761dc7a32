-- Stories: the copies of one story across publishers (pipeline/dedupe.py), and full-text search on articles.
-- depends: 0001_backbone 0003_cleaning

ALTER TABLE stories
    ADD COLUMN publishers text[] NOT NULL DEFAULT '{}',
    ADD COLUMN agencies   text[] NOT NULL DEFAULT '{}',
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- Lookup keys of an article's clean body: MinHash LSH band hashes, lead-sentence hashes, the normalized-body hash
-- and the normalized-title hash. Two articles sharing any key are candidates for the same story.
CREATE TABLE dedupe_keys (
    key        bigint NOT NULL,
    article_id bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    PRIMARY KEY (key, article_id)
);
CREATE INDEX dedupe_keys_article ON dedupe_keys (article_id);

-- Why each article is in its story, and what it changed against the story's canonical article.
CREATE TABLE story_assignments (
    article_id         bigint PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    method             text NOT NULL
                       CHECK (method IN ('first_copy', 'exact_body', 'near_duplicate', 'containment', 'title_and_body',
                                         'lead_copy')),
    matched_article_id bigint REFERENCES articles (id) ON DELETE SET NULL,
    similarity         real,
    containment        real,
    content_sha256     text NOT NULL,
    title              text,
    headline           text,
    paragraphs_added   text[] NOT NULL DEFAULT '{}',
    paragraphs_dropped text[] NOT NULL DEFAULT '{}',
    decided_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX story_assignments_matched ON story_assignments (matched_article_id);

-- A story absorbed into another because one article matched both. The merged story's row is deleted;
-- this record lets consumers follow an old story id to the story that now holds its copies.
CREATE TABLE story_merges (
    id                  bigserial PRIMARY KEY,
    merged_story_id     bigint NOT NULL,
    into_story_id       bigint NOT NULL,
    bridging_article_id bigint REFERENCES articles (id) ON DELETE SET NULL,
    merged_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX story_merges_merged ON story_merges (merged_story_id);

ALTER TABLE articles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', coalesce(title, '')), 'A') || setweight(to_tsvector('english', body), 'B')
) STORED;
CREATE INDEX articles_search_vector ON articles USING gin (search_vector);

CREATE VIEW story_summary AS
SELECT s.id                   AS story_id,
       c.title                AS canonical_title,
       c.canonical_url,
       s.canonical_article_id,
       s.first_seen_at,
       s.last_seen_at,
       s.article_count        AS copies,
       s.publishers,
       s.agencies
FROM stories s
LEFT JOIN articles c ON c.id = s.canonical_article_id;

CREATE VIEW story_copies AS
SELECT a.story_id,
       a.id                               AS article_id,
       coalesce(f.publisher, f.name, a.publisher) AS publisher,
       a.url,
       a.title                            AS headline,
       sa.similarity,
       sa.containment,
       sa.method,
       sa.matched_article_id,
       a.id = s.canonical_article_id      AS is_canonical,
       sa.headline IS NOT NULL            AS headline_changed,
       sa.paragraphs_added,
       sa.paragraphs_dropped,
       a.published_at,
       a.fetched_at
FROM articles a
JOIN stories s ON s.id = a.story_id
LEFT JOIN feeds f ON f.id = a.feed_id
LEFT JOIN story_assignments sa ON sa.article_id = a.id;
