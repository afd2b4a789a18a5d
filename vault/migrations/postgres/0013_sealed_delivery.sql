-- Cartable vault, postgres: sealed delivery (MLS groups per grant). Never edited once landed.

-- A service that has published a KeyPackage is sealed for good: every data response under its grants is an MLS
-- message, so that its token alone reads nothing.
ALTER TABLE services ADD COLUMN sealed BIGINT NOT NULL DEFAULT 0;

-- A service's instances, each an MLS member of its grants' groups under the identity `service:<id>/<instance>`.
-- A retired instance is taken out of every group and never comes back under the same name.
CREATE TABLE sealed_instances (
    service_id TEXT NOT NULL REFERENCES services(id),
    instance TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    PRIMARY KEY (service_id, instance)
);

-- The KeyPackages an instance published (public keys, signed by the instance), each used once to add it to a group.
CREATE TABLE sealed_key_packages (
    service_id TEXT NOT NULL,
    instance TEXT NOT NULL,
    id TEXT NOT NULL,
    key_package BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (service_id, instance, id)
);

-- Each grant's group, the vault's side: its whole MLS state sealed to the family's data key at this row's place,
-- rewritten by compare-and-set on (epoch, members_version) after every commit, before the commit is delivered.
CREATE TABLE sealed_groups (
    grant_id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES families(id),
    service_id TEXT NOT NULL,
    state_enc BYTEA NOT NULL,
    epoch BIGINT NOT NULL,
    members_version BIGINT NOT NULL,
    service_members BIGINT NOT NULL,
    renewed_at BIGINT NOT NULL,
    next_seq BIGINT NOT NULL
);
CREATE INDEX sealed_groups_by_service ON sealed_groups(service_id);

-- Each grant's mailbox: the Welcomes and commits its instances fetch, in order (MLS ciphertexts, no plaintext).
CREATE TABLE sealed_mailbox (
    grant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    family_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    message BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (grant_id, seq)
);
CREATE INDEX sealed_mailbox_by_family ON sealed_mailbox(family_id);
