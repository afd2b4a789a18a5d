-- Cartable vault, PostgreSQL. Migrations are never edited once landed: add a new file instead.
-- Clear columns hold only ids, doctypes, states, timestamps (unix milliseconds) and sizes;
-- every *_enc column is age-encrypted to the family key.

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE families (
    id TEXT PRIMARY KEY,
    wrapped_key BYTEA NOT NULL,
    name_enc BYTEA NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE members (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES families(id),
    role TEXT NOT NULL CHECK (role IN ('guardian', 'child')),
    name_enc BYTEA NOT NULL,
    birth_date_enc BYTEA,
    password_hash TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX members_by_family ON members(family_id);

CREATE TABLE collections (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES families(id),
    child_id TEXT NOT NULL REFERENCES members(id),
    doctype TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (family_id, child_id, doctype)
);

CREATE TABLE records (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES families(id),
    collection_id TEXT NOT NULL REFERENCES collections(id),
    child_id TEXT NOT NULL,
    doctype TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('record', 'file')),
    source TEXT NOT NULL,
    version BIGINT NOT NULL,
    body_enc BYTEA,
    blob_key TEXT,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX records_by_collection ON records(family_id, collection_id, id);
CREATE INDEX records_by_family ON records(family_id, id);

CREATE TABLE services (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES families(id),
    service_id TEXT,
    child_id TEXT NOT NULL,
    state TEXT NOT NULL,
    grant_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX grants_by_family ON grants(family_id, state);

CREATE TABLE forbids (
    family_id TEXT NOT NULL REFERENCES families(id),
    doctype TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (family_id, doctype)
);

-- The ledger outlives the family: no foreign key, and its entries hold no personal data.
CREATE TABLE ledger_heads (
    family_id TEXT PRIMARY KEY,
    size BIGINT NOT NULL
);

CREATE TABLE ledger_entries (
    family_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    entry BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (family_id, idx)
);

CREATE TABLE ledger_nodes (
    family_id TEXT NOT NULL,
    level BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    PRIMARY KEY (family_id, level, idx)
);

-- The latest signed checkpoint handed out for each tree size: `ledger verify` checks the log against them.
CREATE TABLE ledger_checkpoints (
    family_id TEXT NOT NULL,
    size BIGINT NOT NULL,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (family_id, size)
);
