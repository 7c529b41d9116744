-- Free-text words as terms of search_terms (field 'word'), like exports and imports; see the
-- SQLite migration for why. Words match as prefixes, by an index range: terms compare bytewise
-- (COLLATE "C"), whatever the database's own collation, so a prefix's words are contiguous.
-- The GIN index over search_vector served the filter that the terms now answer; ts_rank reads
-- the stored vector of a page's rows, not the index.

ALTER TABLE search_terms ALTER COLUMN term TYPE TEXT COLLATE "C";
DROP INDEX wasm_artifacts_text;

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
