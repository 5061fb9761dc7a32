-- Pending entries are claimed in batches for a while (a lease) instead of being held under a row lock during
-- their page fetches, so one worker can fetch a batch of pages at once and a crashed worker's claims expire.
-- depends: 0004_stories

ALTER TABLE entries ADD COLUMN claimed_until timestamptz;
