-- The learned lines of a publisher, read before every article is cleaned (pipeline.learned.learned_lines), from
-- an index of the learned rows alone: the primary key made that read scan every line the publisher was ever
-- counted for, which grows with each article (22,000 rows a publisher, none learned, after 16,000 articles).
-- depends: 0009_reliability

CREATE INDEX learned_boilerplate_learned ON learned_boilerplate (publisher) WHERE learned_at IS NOT NULL;
