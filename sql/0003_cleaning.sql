-- Cleaning: what each article's cleaning removed and which rule and extractor versions produced it,
-- learned per-publisher boilerplate, and the publisher_quality view.
-- depends: 0001_backbone

ALTER TABLE articles
    ADD COLUMN publisher          text,
    ADD COLUMN removed            jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN syndication_notice text,
    ADD COLUMN extractor_version  text,
    ADD COLUMN rules_version      text;
CREATE INDEX articles_publisher ON articles (publisher);

-- Learned boilerplate. Every loaded article is recorded once per publisher (the denominator), and each of
-- its short, unquoted lines once per article (the numerator), so re-loading an article counts nothing twice.
CREATE TABLE boilerplate_articles (
    publisher  text NOT NULL,
    article_id bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    seen_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (publisher, article_id)
);
CREATE INDEX boilerplate_articles_recent ON boilerplate_articles (publisher, seen_at);

CREATE TABLE boilerplate_line_sightings (
    publisher  text NOT NULL,
    line_key   text NOT NULL,
    article_id bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    seen_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (publisher, line_key, article_id)
);
CREATE INDEX boilerplate_line_sightings_recent ON boilerplate_line_sightings (publisher, line_key, seen_at);

-- One row per recurring line: its counts, and since when it is removed from the publisher's articles.
CREATE TABLE learned_boilerplate (
    publisher     text NOT NULL,
    line_key      text NOT NULL,
    line          text NOT NULL,
    article_count integer NOT NULL DEFAULT 0,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    learned_at    timestamptz,
    PRIMARY KEY (publisher, line_key)
);

-- Strings that should never survive cleaning (pipeline.clean.KNOWN_BOILERPLATE holds the same list).
CREATE TABLE boilerplate_markers (marker text PRIMARY KEY);
INSERT INTO boilerplate_markers (marker) VALUES
    ('Advertisement'), ('Story continues below'), ('Read Time:'), ('min read'), ('Featured Video Of The Day'),
    ('syndicated feed'), ('Also Read:'), ('Read more:'), ('Click here to'), ('Follow us on'),
    ('Sign up for our newsletter'), ('Download the app'), ('Scroll to continue'), ('Reporting by'), ('Editing by');

-- Per publisher: how many articles, how many came out empty or very short (under 400 characters),
-- removals by rule, and how many bodies still carry a known marker: where a layout drifted.
CREATE VIEW publisher_quality AS
WITH article_publishers AS (
    SELECT a.id, COALESCE(a.publisher, f.publisher, 'unknown') AS publisher, a.body, a.removed, a.rules_version
    FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
), removals AS (
    SELECT ap.publisher, r.value ->> 'rule' AS rule, count(*) AS removals
    FROM article_publishers ap, jsonb_array_elements(ap.removed) AS r
    GROUP BY 1, 2
), markers_left AS (
    SELECT ap.publisher, m.marker, count(*) AS articles
    FROM article_publishers ap JOIN boilerplate_markers m ON strpos(lower(ap.body), lower(m.marker)) > 0
    GROUP BY 1, 2
)
SELECT ap.publisher,
       count(*) AS articles,
       count(*) FILTER (WHERE length(ap.body) < 400) AS empty_or_short,
       COALESCE((SELECT jsonb_object_agg(r.rule, r.removals) FROM removals r WHERE r.publisher = ap.publisher),
                '{}') AS removals_by_rule,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM boilerplate_markers m
                                      WHERE strpos(lower(ap.body), lower(m.marker)) > 0)) AS articles_with_markers,
       COALESCE((SELECT jsonb_object_agg(ml.marker, ml.articles) FROM markers_left ml
                 WHERE ml.publisher = ap.publisher), '{}') AS markers_left,
       array_agg(DISTINCT ap.rules_version) FILTER (WHERE ap.rules_version IS NOT NULL) AS rules_versions
FROM article_publishers ap
GROUP BY ap.publisher;
