-- On PostgreSQL this migration spreads each search count over several rows, so that concurrent
-- pushes do not wait for each other's commit on one row, and makes one PL/pgSQL trigger of an
-- artifact's two. SQLite has one writer at a time, and its triggers are plain SQL: nothing to
-- change here. (A statement, so that the migration is not empty.)
SELECT 1;
