-- Sealed values (see ARCHITECTURE.md, "Integrity at rest"): each family gets a data key, 256 random bits wrapped
-- with age to the family's identity (itself wrapped to the master key). Every *_enc column then holds a value
-- sealed with XChaCha20-Poly1305 under that key and bound to its place. Rows written before are upgraded once, at
-- start, by the vault (`meta` key `storage_format` is set when that is done); until then this column is NULL.
ALTER TABLE families ADD COLUMN data_key_enc BLOB;
