-- Cartable vault, PostgreSQL: how people get in. Never edited once landed.

-- One-time invitations: only the SHA-256 of the link's token (256 random bits) is stored. `kind` says what accepting
-- one does (`family_guardian`: become a guardian of `family_id`; later kinds, such as a DPO's, reuse the table).
-- `invited_by` is `operator` or `member:<id>`; `used_at` is set once, when it is accepted.
CREATE TABLE invitations (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    family_id TEXT,
    invited_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX invitations_by_family ON invitations(family_id);

-- The name a member signs in to the web UI with, as the SHA-256 of its normalized form (trimmed, lower case):
-- the table does not list who has an account.
CREATE TABLE member_logins (
    login_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL UNIQUE,
    family_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX member_logins_by_family ON member_logins(family_id);
