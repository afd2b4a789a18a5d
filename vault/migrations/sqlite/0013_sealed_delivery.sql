-- Cartable vault, sqlite: sealed delivery (MLS groups per grant). Never edited once landed.

-- A service that has published a KeyPackage is sealed for good: every data response under its grants is an MLS
-- message, so that its token alone reads nothing.
ALTER TABLE services ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;

-- A service's instances, each an MLS member of its grants' groups under the identity `service:<id>/<instance>`.
-- A retired instance is taken out of every group and never comes back under the same name.
CREATE TABLE sealed_instances (
    service_id TEXT NOT NULL REFERENCES services(id),
    instance TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER,
    PRIMARY KEY (service_id, instance)
);

-- The KeyPackages an instance published (public keys, signed by the instance), each used once to add it to a group.
CREATE TABLE sealed_key_packages (
    service_id TEXT NOT NULL,
    instance TEXT NOT NULL,
    id TEXT NOT NULL,
    key_package BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (service_id, instance, id)
);

-- Each grant's group, the vault's side: its whole MLS state sealed to the family's data key at this row's place,
-- rewritten by compare-and-set on (epoch, members_version) after every commit, before the commit is delivered.
CREATE TABLE sealed_groups (
    grant_id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES families(id),
    service_id TEXT NOT NULL,
    state_enc BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    members_version INTEGER NOT NULL,
    service_members INTEGER NOT NULL,
    renewed_at INTEGER NOT NULL,
    next_seq INTEGER NOT NULL
);
CREATE INDEX sealed_groups_by_service ON sealed_groups(service_id);

-- Each grant's mailbox: the Welcomes and commits its instances fetch, in order (MLS ciphertexts, no plaintext).
CREATE TABLE sealed_mailbox (
    grant_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    family_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    message BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (grant_id, seq)
);
CREATE INDEX sealed_mailbox_by_family ON sealed_mailbox(family_id);
