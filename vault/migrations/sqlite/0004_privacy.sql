-- Cartable vault, SQLite: what a security review asked for. Never edited once landed.

-- Services registered over the API may wait for the operator's approval (`registration = "operator-approved"`).
ALTER TABLE services ADD COLUMN approved INTEGER NOT NULL DEFAULT 1;

-- A grant's purpose is free text that may name a child: it is encrypted to the family key (so erasure shreds it),
-- and `grant_json` keeps it empty. The ledger holds only a salted digest of it.
ALTER TABLE grants ADD COLUMN purpose_enc BLOB;
ALTER TABLE grants ADD COLUMN purpose_digest TEXT;
-- When an active grant ends (unix milliseconds), so the expiry sweep reads only the grants that are due.
ALTER TABLE grants ADD COLUMN expires_at INTEGER;
CREATE INDEX grants_by_expiry ON grants(family_id, expires_at);

-- Prohibitions have a scope: `minors` (set by a guardian; covers the children who are not adults) or the id of an
-- adult child (their own, over their own data).
CREATE TABLE prohibitions (
    family_id TEXT NOT NULL REFERENCES families(id),
    doctype TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (family_id, doctype, scope)
);
INSERT INTO prohibitions (family_id, doctype, scope, created_at) SELECT family_id, doctype, 'minors', created_at FROM forbids;
DROP TABLE forbids;

-- What the ledger's filters look at, in clear columns beside the canonical entry (ids and event names only; filled
-- at start for older rows).
ALTER TABLE ledger_entries ADD COLUMN event TEXT;
ALTER TABLE ledger_entries ADD COLUMN subject_id TEXT;
ALTER TABLE ledger_entries ADD COLUMN actor_id TEXT;
ALTER TABLE ledger_entries ADD COLUMN service_id TEXT;
CREATE INDEX ledger_by_event ON ledger_entries(family_id, event, idx);
CREATE INDEX ledger_by_subject ON ledger_entries(family_id, subject_id, idx);
CREATE INDEX ledger_by_service ON ledger_entries(family_id, service_id, idx);

-- Refusals of callers from outside a family (another family's member or service): counted per day and caller, for
-- the operator, and never written to the family's consent ledger, which they could otherwise grow without bound.
CREATE TABLE outsider_refusals (
    day INTEGER NOT NULL,
    caller TEXT NOT NULL,
    family_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, caller, family_id, reason)
);
