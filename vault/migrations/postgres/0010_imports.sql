-- Cartable vault: families being imported from an archive. Never edited once landed.

-- An import uploads a family's files before the one transaction that writes its rows: while this row stands, the
-- blobs of a family that has no row yet are an import's, not an erased family's, and the sweep at start keeps them
-- (for `orphan_blob_grace` after `started_at`, moved at each file uploaded: an import silent that long was cut short, and its
-- blobs are removed with this row).
CREATE TABLE family_imports (
    family_id TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL
);
