"""feedpipe: ingest syndicated news into Postgres, one stage per module.

feeds -> fetch -> parse -> extract -> clean -> normalize -> dedupe -> store, with archive beside fetch;
run composes the stages for one batch.
"""
