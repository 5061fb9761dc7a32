-- A known boilerplate marker is left in a body when it occurs in it, ignoring case; a marker of one word
-- ("Advertisement", an ordinary word too) only where it makes up a paragraph of its own, apart from spaces, bullets,
-- dashes, brackets, quotes and punctuation. pipeline.clean.boilerplate_markers_left is the same test (a test keeps
-- them equal). publisher_quality and the Airflow run check used any occurrence, so a story that spoke of
-- "carefully sculpted advertisements" counted as boilerplate left and failed its batch's check.
-- depends: 0010_learned_lines_index

CREATE FUNCTION boilerplate_marker_left(body text, marker text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT strpos(lower(body), lower(marker)) > 0
       AND (strpos(marker, ' ') > 0
            OR EXISTS (SELECT 1
                       FROM regexp_split_to_table(lower(body), E'\n') AS paragraph (text),
                            translate(paragraph.text, E' \t\r\u00a0•·*#>|()[]-–—:;,.!?"''“”‘’…', '') AS bare
                       WHERE bare <> '' AND replace(bare, lower(marker), '') = ''))
$$;

CREATE OR REPLACE VIEW publisher_quality AS
WITH article_publishers AS (
    SELECT a.id, COALESCE(a.publisher, f.publisher, 'unknown') AS publisher, a.body, a.removed, a.rules_version
    FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
), removals AS (
    SELECT ap.publisher, r.value ->> 'rule' AS rule, count(*) AS removals
    FROM article_publishers ap, jsonb_array_elements(ap.removed) AS r
    GROUP BY 1, 2
), markers_left AS (
    SELECT ap.publisher, m.marker, count(*) AS articles
    FROM article_publishers ap JOIN boilerplate_markers m ON boilerplate_marker_left(ap.body, m.marker)
    GROUP BY 1, 2
)
SELECT ap.publisher,
       count(*) AS articles,
       count(*) FILTER (WHERE length(ap.body) < 400) AS empty_or_short,
       COALESCE((SELECT jsonb_object_agg(r.rule, r.removals) FROM removals r WHERE r.publisher = ap.publisher),
                '{}') AS removals_by_rule,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM boilerplate_markers m
                                      WHERE boilerplate_marker_left(ap.body, m.marker))) AS articles_with_markers,
       COALESCE((SELECT jsonb_object_agg(ml.marker, ml.articles) FROM markers_left ml
                 WHERE ml.publisher = ap.publisher), '{}') AS markers_left,
       array_agg(DISTINCT ap.rules_version) FILTER (WHERE ap.rules_version IS NOT NULL) AS rules_versions
FROM article_publishers ap
GROUP BY ap.publisher;
