-- A feed list's folders (OPML outlines, YAML `category:`) are categories, kept apart from the publisher.
-- depends: 0005_article_claims

ALTER TABLE feeds ADD COLUMN category text;
