-- The backbone: feed registry, poll log, feed entries, articles (one row per copy), stories, batch runs.
-- Every timestamp is timestamptz and written in UTC.

CREATE TABLE feeds (
    id                   bigserial PRIMARY KEY,
    url                  text NOT NULL UNIQUE,
    name                 text,
    title                text,
    publisher            text,
    enabled              boolean NOT NULL DEFAULT true,
    disabled_reason      text,
    etag                 text,
    last_modified        text,
    next_poll_at         timestamptz NOT NULL DEFAULT now(),
    last_polled_at       timestamptz,
    last_success_at      timestamptz,
    last_error           text,
    last_error_at        timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ingest_runs (
    id               bigserial PRIMARY KEY,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    status           text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished', 'failed')),
    feeds_polled     integer NOT NULL DEFAULT 0,
    feeds_failed     integer NOT NULL DEFAULT 0,
    new_entries      integer NOT NULL DEFAULT 0,
    articles_loaded  integer NOT NULL DEFAULT 0,
    articles_failed  integer NOT NULL DEFAULT 0,
    bytes_archived   bigint NOT NULL DEFAULT 0,
    error            text
);

CREATE TABLE feed_fetches (
    id              bigserial PRIMARY KEY,
    feed_id         bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    run_id          bigint REFERENCES ingest_runs (id) ON DELETE SET NULL,
    url             text NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    http_status     integer,
    bytes           bigint NOT NULL DEFAULT 0,
    entries_seen    integer NOT NULL DEFAULT 0,
    entries_new     integer NOT NULL DEFAULT 0,
    error           text,
    raw_archive_key text
);
CREATE INDEX feed_fetches_feed_started ON feed_fetches (feed_id, started_at DESC);

CREATE TABLE stories (
    id                   bigserial PRIMARY KEY,
    canonical_article_id bigint,
    title                text,
    first_seen_at        timestamptz NOT NULL DEFAULT now(),
    last_seen_at         timestamptz NOT NULL DEFAULT now(),
    article_count        integer NOT NULL DEFAULT 0
);

CREATE TABLE entries (
    id              bigserial PRIMARY KEY,
    feed_id         bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    guid            text NOT NULL,
    link            text,
    title           text,
    summary         text,
    content         text,
    published_at    timestamptz,
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'loaded', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    last_attempt_at timestamptz,
    article_id      bigint,
    UNIQUE (feed_id, guid)
);
CREATE INDEX entries_pending ON entries (first_seen_at) WHERE state = 'pending';

CREATE TABLE articles (
    id              bigserial PRIMARY KEY,
    url             text NOT NULL,
    canonical_url   text NOT NULL UNIQUE,
    entry_id        bigint REFERENCES entries (id) ON DELETE SET NULL,
    feed_id         bigint REFERENCES feeds (id) ON DELETE SET NULL,
    title           text,
    body            text NOT NULL,
    dateline        text,
    authors         text[] NOT NULL DEFAULT '{}',
    published_at    timestamptz,
    fetched_at      timestamptz NOT NULL,
    language        text,
    is_syndicated   boolean NOT NULL DEFAULT false,
    agency          text,
    content_sha256  text NOT NULL,
    raw_archive_key text,
    story_id        bigint REFERENCES stories (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX articles_story ON articles (story_id);
CREATE INDEX articles_content_sha256 ON articles (content_sha256);
CREATE INDEX articles_published ON articles (published_at);

ALTER TABLE entries ADD CONSTRAINT entries_article_fk
    FOREIGN KEY (article_id) REFERENCES articles (id) ON DELETE SET NULL;
ALTER TABLE stories ADD CONSTRAINT stories_canonical_article_fk
    FOREIGN KEY (canonical_article_id) REFERENCES articles (id) DEFERRABLE INITIALLY DEFERRED;
