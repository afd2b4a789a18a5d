-- Cartable vault: the keys of records imported from open formats (an xAPI statement's id, a OneRoster sourcedId,
-- a badge's id), so that importing the same items again creates nothing. Never edited once landed.

-- A key is kept as HMAC-SHA256 under a key derived from the family's data key, bound to its collection: the table
-- tells whether an item was imported into a collection, not which item, and nothing links two collections.
CREATE TABLE record_keys (
    family_id TEXT NOT NULL REFERENCES families(id),
    collection_id TEXT NOT NULL,
    key_mac BYTEA NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (family_id, collection_id, key_mac)
);
