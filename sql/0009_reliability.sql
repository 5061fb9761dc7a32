-- Reliability: a read-only role for consumers, and the per-poll cap on new entries recorded on each poll.
-- depends: 0008_templates

-- New entries a poll left out because the feed offered more than the cap (the newest are kept).
ALTER TABLE feed_fetches ADD COLUMN entries_skipped integer NOT NULL DEFAULT 0;

-- feedpipe_reader: SELECT on the tables and views sql/README.md documents for consumers, and on tables created later
-- by the migrating role; nothing else (not the dedupe and boilerplate internals, not yoyo's tables). It cannot log in: grant it to a login role (CREATE ROLE analyst LOGIN IN ROLE
-- feedpipe_reader). Roles belong to the whole server, so another database may have created it already; a
-- migrating role without CREATEROLE skips it with a notice instead of blocking every later migration.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'feedpipe_reader') THEN
        BEGIN
            CREATE ROLE feedpipe_reader NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'feedpipe_reader not created: the migrating role may not create roles';
            RETURN;
        END;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO feedpipe_reader', current_schema());
    GRANT SELECT ON feeds, feed_fetches, fetch_domains, entries, articles, stories, ingest_runs, learned_boilerplate,
                    story_assignments, story_merges, publisher_quality, story_summary, story_copies
        TO feedpipe_reader;
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO feedpipe_reader', current_schema());
END
$$;
