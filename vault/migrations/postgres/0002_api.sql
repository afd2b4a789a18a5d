-- PostgreSQL. The HTTP API's credentials and counters. Only SHA-256 hashes of secrets are stored (sessions, CSRF tokens,
-- continuation handles, access tokens): a copy of the database lets nobody act as a member or a service.
-- Rows hold ids and timestamps (unix milliseconds) only.

-- A member signed in: the cookie's token and the CSRF token, hashed.
CREATE TABLE api_sessions (
    token_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL,
    family_id TEXT NOT NULL,
    csrf_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX api_sessions_by_expiry ON api_sessions(expires_at);

-- The handle a service continues an access request with (GNAP's continuation access token).
CREATE TABLE api_continuations (
    handle_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL UNIQUE,
    service_id TEXT NOT NULL,
    family_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Access tokens, each bound to one grant; a fresh one per successful continuation.
CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    family_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX api_tokens_by_grant ON api_tokens(grant_id);
CREATE INDEX api_tokens_by_expiry ON api_tokens(expires_at);

-- Failed sign-ins, per member (`member:<id>`) and per client address (`ip:<address>`).
CREATE TABLE api_login_failures (
    subject TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    first_at BIGINT NOT NULL,
    locked_until BIGINT
);
