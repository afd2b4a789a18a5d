-- Cartable vault, PostgreSQL: data protection officers and what they were shown. Never edited once landed.

-- A DPO answers for a controller: the operator (`service_id` NULL: every family on this server) or one registered
-- service (its grants and its accesses only). They sign in with a name (SHA-256 of its normalized form, in one
-- namespace with the members') and a password (argon2id), both set when they accept their invitation.
CREATE TABLE dpos (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    service_id TEXT,
    login_hash TEXT UNIQUE,
    password_hash TEXT,
    created_at BIGINT NOT NULL
);

-- A DPO's sessions, apart from the members': a DPO's token can never pass for a member's.
CREATE TABLE dpo_sessions (
    token_hash TEXT PRIMARY KEY,
    dpo_id TEXT NOT NULL,
    csrf_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dpo_sessions_by_expiry ON dpo_sessions(expires_at);

-- The last checkpoint of each family's log a DPO was shown (its size, root and signed note): the next time, the log
-- must extend it, so a rewritten history shows up as an inconsistency.
CREATE TABLE dpo_seen_checkpoints (
    dpo_id TEXT NOT NULL,
    family_id TEXT NOT NULL,
    size BIGINT NOT NULL,
    root BYTEA NOT NULL,
    note TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (dpo_id, family_id)
);

-- A DPO's invitation names the DPO (`kind` = `dpo`, no family).
ALTER TABLE invitations ADD COLUMN dpo_id TEXT;

-- Every index on the log is paid at every append (one per access decision). The filters of a family's register
-- (event, subject, service) scan the family's own range of the primary key, whose reads never used these two:
DROP INDEX ledger_by_event;
DROP INDEX ledger_by_subject;
-- A service's DPO finds the families whose log names the service: the service leads the index. Entries without a
-- service (most of a family's own) are left out of it.
DROP INDEX ledger_by_service;
CREATE INDEX ledger_by_service ON ledger_entries(service_id, family_id, idx) WHERE service_id IS NOT NULL;
