-- How many opening paragraphs of a body are the page's standfirst and key points rather than the story's own text
-- (pipeline.clean puts them first). Dedupe takes a copy's lead sentences after them, so a copy printed without the
-- summary still shares its lead sentences; story_assignments records the count its decision was made with, and a
-- decision is made again when it changes. Rows stored earlier read 0 until they are reprocessed.
-- depends: 0011_marker_words

ALTER TABLE articles ADD COLUMN summary_paragraphs smallint NOT NULL DEFAULT 0;
ALTER TABLE story_assignments ADD COLUMN summary_paragraphs smallint NOT NULL DEFAULT 0;
