-- Polling done right: per-feed trust in validators, adaptive schedule, weighted backoff, permanent redirects,
-- entry identity, and per-domain holds shared by every worker.

ALTER TABLE feeds
    ADD COLUMN body_sha256            text,        -- SHA-256 of the last 200 body: an unchanged body is skipped
    ADD COLUMN conditional_get        boolean NOT NULL DEFAULT true,  -- false once validators proved untrustworthy
    ADD COLUMN conditional_get_note   text,        -- why conditional GET was switched off
    ADD COLUMN last_audit_at          timestamptz, -- last unconditional fetch that checked the validators
    ADD COLUMN entry_identity         text NOT NULL DEFAULT 'guid' CHECK (entry_identity IN ('guid', 'link')),
    ADD COLUMN entry_identity_note    text,        -- why entries are keyed by link (GUIDs proved unstable)
    ADD COLUMN failure_score          real NOT NULL DEFAULT 0,  -- weighted consecutive failures, drives backoff
    ADD COLUMN poll_interval_seconds  integer,     -- interval derived from the observed publishing rate
    ADD COLUMN declared_interval_seconds integer,  -- what the feed declares (ttl, sy:update*): a lower bound
    ADD COLUMN redirect_target        text,        -- where 301/308 pointed on the last polls
    ADD COLUMN redirect_confirmations integer NOT NULL DEFAULT 0,  -- consecutive polls that confirmed it
    ADD COLUMN disabled_at            timestamptz;

CREATE INDEX feeds_due ON feeds (next_poll_at) WHERE enabled;

ALTER TABLE feed_fetches
    ADD COLUMN outcome     text CHECK (outcome IN ('new', 'unchanged', 'not_modified', 'failed', 'deferred', 'gone')),
    ADD COLUMN conditional boolean NOT NULL DEFAULT false,  -- validators were sent
    ADD COLUMN problem     text;  -- a defect the parser worked around (feedparser's bozo), or a validator lie

-- One row per registrable domain that asked us to wait (429/503 Retry-After) or was last requested by a worker.
CREATE TABLE fetch_domains (
    domain          text PRIMARY KEY,
    hold_until      timestamptz,
    hold_reason     text,
    next_request_at timestamptz,  -- the earliest next request under the per-domain delay, across workers
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Entry identity checks look entries up by link within a feed (unstable GUIDs, link-keyed feeds).
CREATE INDEX entries_feed_link ON entries (feed_id, link);
