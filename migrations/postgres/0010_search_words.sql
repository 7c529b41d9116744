-- Free-text words as terms of search_terms (field 'word'), like exports and imports; see the
-- SQLite migration for why. Words match as prefixes, by an index range: terms compare bytewise
-- (COLLATE "C"), whatever the database's own collation, so a prefix's words are contiguous.
-- The GIN index over search_vector goes: several words are intersected by joining their
-- terms' index-only scans (10 ms for two words in a sixth of 100,000 modules each, against
-- 39 ms through the GIN index, whose matches were rechecked against the wide artifact rows);
-- ts_rank reads the stored vector of the rows it ranks, not the index.

ALTER TABLE search_terms ALTER COLUMN term TYPE TEXT COLLATE "C";
DROP INDEX wasm_artifacts_text;
-- A term's rows in artifact order with everything a count needs, so two terms intersect by a
-- merge join of two index-only scans (13 ms for two words in a sixth of 100,000 modules each,
-- against 24 ms by hashing one of them).
DROP INDEX search_terms_counted;
CREATE INDEX search_terms_covering ON search_terms(field, term, artifact_id) INCLUDE (facet_id, private, tag_count);

-- How many rows a (field, term) has is what decides between walking the page's order and
-- starting from the term's rows. Field and term are strongly correlated (no export is named
-- like a description word), and the words crowd other terms out of a default statistics
-- sample: without these the planner guessed 103 rows for an import 10,240 modules have, and
-- started from those rows (26 ms instead of 1 ms for one page). 200, not more: at 1000 the
-- planning alone of a two-word search took 8-11 ms.
ALTER TABLE search_terms ALTER COLUMN term SET STATISTICS 200;
CREATE STATISTICS search_terms_field_term (mcv, dependencies) ON field, term FROM search_terms;
ALTER STATISTICS search_terms_field_term SET STATISTICS 200;

CREATE FUNCTION search_words_insert() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    facet BIGINT;
BEGIN
    facet := search_facet_of(NEW);
    INSERT INTO search_terms (field, term, artifact_id, facet_id, private, tag_count)
        SELECT DISTINCT 'word', w, NEW.id, facet, r.private,
               (SELECT COUNT(*) FROM search_entries e WHERE e.artifact_id = NEW.id)
        FROM unnest(string_to_array(NEW.search_text, ' ')) w
        JOIN repositories r ON r.id = NEW.repository_id
        WHERE w <> ''
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER search_words_insert AFTER INSERT ON wasm_artifacts
    FOR EACH ROW EXECUTE FUNCTION search_words_insert();

INSERT INTO search_terms (field, term, artifact_id, facet_id, private, tag_count)
    SELECT DISTINCT 'word', w, a.id, f.id, r.private, COALESCE(tc.n, 0)
    FROM wasm_artifacts a
    CROSS JOIN LATERAL unnest(string_to_array(a.search_text, ' ')) w
    JOIN repositories r ON r.id = a.repository_id
    JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                         AND f.runtime_type IS NOT DISTINCT FROM a.runtime_type
                         AND f.kind IS NOT DISTINCT FROM a.kind
    LEFT JOIN (SELECT artifact_id, COUNT(*) AS n FROM search_entries GROUP BY artifact_id) tc
           ON tc.artifact_id = a.id
    WHERE w <> ''
    ON CONFLICT DO NOTHING;
ANALYZE search_terms;

-- A signed-in user's searches start by listing the private repositories the user may see:
-- from this index, a scan of the private repositories only, not of every repository.
CREATE INDEX repositories_private ON repositories(id) WHERE private <> 0;
