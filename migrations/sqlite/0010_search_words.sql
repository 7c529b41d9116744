-- Free-text words as terms of search_terms (field 'word'), like exports and imports (issue 4,
-- item 6).
--
-- A free-text search used to count its matches through FTS5: every artifact with the words was
-- read from the full-text index and joined to its entries for the total and the facets, 20 ms
-- at the 99th percentile for a word in one module of six at 100,000 modules. As terms, a word's
-- rows carry the artifact's facet row, privacy and tag count (kept in step by the triggers of
-- migration 0005), so a total and facets are one index range with no join, and the other
-- filters probe each row. FTS5 stays, to rank short result lists by relevance.
--
-- The words are those of `search_text`, which the index stores as lower-case letters and digits
-- separated by single spaces (`text_words`), so they split here with `json_each` over a JSON
-- array made by replacing the spaces (letters and digits need no JSON escaping; anything else
-- is refused by `json_valid` and indexes no words rather than failing the write).

CREATE TRIGGER search_words_insert AFTER INSERT ON wasm_artifacts BEGIN
    -- The facet row may not exist yet: triggers on one event run in no promised order.
    INSERT INTO search_facets (runtime_type, kind, format, abi_list)
        VALUES (new.runtime_type, new.kind, new.format, new.abi_list) ON CONFLICT DO NOTHING;
    INSERT INTO search_terms (field, term, artifact_id, facet_id, private, tag_count)
        SELECT DISTINCT 'word', w.value, new.id, f.id, r.private,
               (SELECT COUNT(*) FROM search_entries e WHERE e.artifact_id = new.id)
        FROM json_each(CASE WHEN json_valid('["' || replace(new.search_text, ' ', '","') || '"]')
                            THEN '["' || replace(new.search_text, ' ', '","') || '"]' ELSE '[]' END) w
        JOIN repositories r ON r.id = new.repository_id
        JOIN search_facets f ON f.format = new.format AND f.abi_list = new.abi_list
                             AND f.runtime_type IS new.runtime_type AND f.kind IS new.kind
        WHERE w.value <> ''
        ON CONFLICT DO NOTHING;
END;

INSERT INTO search_terms (field, term, artifact_id, facet_id, private, tag_count)
    SELECT DISTINCT 'word', w.value, a.id, f.id, r.private,
           (SELECT COUNT(*) FROM search_entries e WHERE e.artifact_id = a.id)
    FROM wasm_artifacts a
    JOIN json_each(CASE WHEN json_valid('["' || replace(a.search_text, ' ', '","') || '"]')
                        THEN '["' || replace(a.search_text, ' ', '","') || '"]' ELSE '[]' END) w
    JOIN repositories r ON r.id = a.repository_id
    JOIN search_facets f ON f.format = a.format AND f.abi_list = a.abi_list
                         AND f.runtime_type IS a.runtime_type AND f.kind IS a.kind
    WHERE w.value <> ''
    ON CONFLICT DO NOTHING;

-- A signed-in user's searches start by listing the private repositories the user may see:
-- from this index, a scan of the private repositories only, not of every repository.
CREATE INDEX repositories_private ON repositories(id) WHERE private <> 0;

-- FTS5 now intersects several words and ranks, while one word is matched in search_terms: both
-- must see the same words. Its default tokenizer folds diacritics ("café" indexed as "cafe"),
-- which `text_words` does not, so "cafe" found "café" only when another word came with it.
DROP TRIGGER wasm_artifacts_fts_insert;
DROP TRIGGER wasm_artifacts_fts_delete;
DROP TABLE wasm_fts;
CREATE VIRTUAL TABLE wasm_fts USING fts5(
    search_text, content='wasm_artifacts', content_rowid='id', tokenize='unicode61 remove_diacritics 0'
);
INSERT INTO wasm_fts(wasm_fts) VALUES ('rebuild');
CREATE TRIGGER wasm_artifacts_fts_insert AFTER INSERT ON wasm_artifacts BEGIN
    INSERT INTO wasm_fts(rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER wasm_artifacts_fts_delete AFTER DELETE ON wasm_artifacts BEGIN
    INSERT INTO wasm_fts(wasm_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
END;
