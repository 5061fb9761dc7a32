-- Stages: fetching and processing are separate steps with the archive between them, claims that die with their
-- worker, per-stage counters and times on each batch, and lineage on every article.
-- depends: 0005_article_claims

-- An entry is 'fetched' once its page's response is archived; processing reads it back from there.
ALTER TABLE entries DROP CONSTRAINT entries_state_check;
ALTER TABLE entries ADD CONSTRAINT entries_state_check CHECK (state IN ('pending', 'fetched', 'loaded', 'failed'));
ALTER TABLE entries
    ADD COLUMN fetch_archive_key        text,         -- the archived response of the page's last fetch
    ADD COLUMN fetch_status             integer,      -- its HTTP status
    ADD COLUMN fetched_at               timestamptz,  -- when it was fetched
    ADD COLUMN processed_run_id         bigint REFERENCES ingest_runs (id) ON DELETE SET NULL,
    ADD COLUMN claimed_at               timestamptz,  -- a claim is held by one Postgres session (backend) ...
    ADD COLUMN claimed_by_pid           integer,      -- ... identified by its pid and start time, and lapses
    ADD COLUMN claimed_by_backend_start timestamptz;  -- the moment that session ends (the worker died)
ALTER TABLE entries DROP COLUMN claimed_until;
CREATE INDEX entries_fetched ON entries (fetched_at, id) WHERE state = 'fetched';

ALTER TABLE ingest_runs DROP CONSTRAINT ingest_runs_status_check;
ALTER TABLE ingest_runs ADD CONSTRAINT ingest_runs_status_check
    CHECK (status IN ('running', 'finished', 'failed', 'interrupted', 'abandoned'));
ALTER TABLE ingest_runs
    ADD COLUMN airflow_run_id     text,
    ADD COLUMN pages_fetched      integer NOT NULL DEFAULT 0,
    ADD COLUMN articles_processed integer NOT NULL DEFAULT 0,
    ADD COLUMN stage_seconds      jsonb NOT NULL DEFAULT '{}',  -- seconds spent per stage, summed over workers
    ADD COLUMN owner_pid           integer,                      -- the session that started the run, for
    ADD COLUMN owner_backend_start timestamptz;                  -- telling a dead run from a running one

ALTER TABLE articles
    ADD COLUMN payload_sha256 text,                                             -- SHA-256 of the archived payload
    ADD COLUMN run_id         bigint REFERENCES ingest_runs (id) ON DELETE SET NULL,  -- the batch that last wrote it
    ADD COLUMN airflow_run_id text;                                             -- that batch's Airflow run, if any

-- Learned boilerplate keeps daily counters, so deciding whether a line is learned reads at most one row per day of
-- the window instead of counting every article the publisher ever had.
CREATE TABLE boilerplate_publisher_days (
    publisher text NOT NULL,
    day       date NOT NULL,
    articles  integer NOT NULL,
    PRIMARY KEY (publisher, day)
);
CREATE TABLE boilerplate_line_days (
    publisher text NOT NULL,
    line_key  text NOT NULL,
    day       date NOT NULL,
    articles  integer NOT NULL,
    PRIMARY KEY (publisher, line_key, day)
);
INSERT INTO boilerplate_publisher_days
    SELECT publisher, (seen_at AT TIME ZONE 'UTC')::date, count(*) FROM boilerplate_articles GROUP BY 1, 2;
INSERT INTO boilerplate_line_days
    SELECT publisher, line_key, (seen_at AT TIME ZONE 'UTC')::date, count(*) FROM boilerplate_line_sightings GROUP BY 1, 2, 3;
DROP INDEX boilerplate_articles_recent;
DROP INDEX boilerplate_line_sightings_recent;
