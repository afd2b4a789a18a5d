-- Cartable vault, PostgreSQL: each family's search index. Never edited once landed.

-- The files of a family's tantivy index, one row each: the file's name (tantivy's own: segment ids and extensions,
-- meta.json), the blob holding it (an age stream to the family key in the blob store, like a file's) and the blob's
-- head sealed at this row's place, so a blob swapped or replaced is refused before a byte is read.
CREATE TABLE search_files (
    family_id TEXT NOT NULL REFERENCES families(id),
    name TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    head_enc BYTEA NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (family_id, name)
);

-- Which process keeps a family's index on disk, until when (unix milliseconds): one writer at a time, so that two
-- servers or a server and `cartable reindex` never write the same index. A process without it searches an index of
-- its own in memory.
CREATE TABLE search_writers (
    family_id TEXT PRIMARY KEY REFERENCES families(id),
    holder TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
