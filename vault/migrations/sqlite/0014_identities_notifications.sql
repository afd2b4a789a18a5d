-- Cartable vault, sqlite: sign-in through OpenID providers, and notifications. Never edited once landed.

-- A member's identity at a provider, found by the SHA-256 of (provider, subject): the subject itself is not kept.
CREATE TABLE member_identities (
    identity_hash TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    member_id TEXT NOT NULL REFERENCES members(id),
    family_id TEXT NOT NULL,
    linked_at INTEGER NOT NULL,
    UNIQUE (member_id, provider)
);
-- A family may turn a linked member's password sign-in off (1: on).
ALTER TABLE members ADD COLUMN password_sign_in INTEGER NOT NULL DEFAULT 1;

-- A sign-in at a provider in progress, found by its state's hash and used once. The browser that started it is
-- named by the hash of a cookie of its own; the nonce and the PKCE verifier live for minutes and open nothing alone.
CREATE TABLE oidc_pending (
    state_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    provider TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    link_member_id TEXT,
    link_family_id TEXT,
    expires_at INTEGER NOT NULL
);

-- What a member chooses: their address sealed to the family's key, their language, the kinds they get by e-mail.
CREATE TABLE notification_settings (
    member_id TEXT PRIMARY KEY REFERENCES members(id),
    family_id TEXT NOT NULL,
    email_enc BLOB,
    language TEXT NOT NULL,
    email_kinds TEXT NOT NULL
);

-- One notification per member, kind and grant (ids and times only: its words are made when it is shown or sent).
-- email_state: pending (to send, from email_next_at), sent, skipped (no address, not wanted, or too old), failed.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    grant_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    read_at INTEGER,
    email_state TEXT NOT NULL,
    email_attempts INTEGER NOT NULL DEFAULT 0,
    email_next_at INTEGER NOT NULL,
    email_error TEXT,
    UNIQUE (member_id, kind, grant_id)
);
CREATE INDEX notifications_by_member ON notifications(member_id, created_at);
CREATE INDEX notifications_outbox ON notifications(email_state, email_next_at);

-- When a grant was first used (its notification is made once, by whoever sets this).
ALTER TABLE grants ADD COLUMN first_used_at INTEGER;
