-- A feed list's folders (OPML outlines, YAML `category:`) are categories, kept apart from the publisher.
-- depends: 0006_stages

ALTER TABLE feeds ADD COLUMN category text;
