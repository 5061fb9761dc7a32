-- Learned page templates: blocks of a publisher's pages (by place in the markup and text) that recur across its
-- articles, counted incrementally so recording an article costs the same however many are stored.
-- depends: 0007_feed_category

-- Each article is counted once per publisher; the counter is the denominator of a block's share.
CREATE TABLE template_publishers (
    publisher     text PRIMARY KEY,
    article_count bigint NOT NULL DEFAULT 0
);

CREATE TABLE template_articles (
    publisher   text NOT NULL,
    article_id  bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (publisher, article_id)
);

-- One row per block fingerprint (pipeline.template.fingerprint) seen on a publisher's extracted text.
CREATE TABLE template_blocks (
    publisher         text NOT NULL,
    fingerprint       bigint NOT NULL,
    version           smallint NOT NULL,
    article_count     integer NOT NULL DEFAULT 1,
    publisher_count_at_first_sight bigint NOT NULL,
    first_seen_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at      timestamptz NOT NULL DEFAULT now(),
    learned           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (publisher, fingerprint)
);
CREATE INDEX template_blocks_learned ON template_blocks (publisher) WHERE learned;
