-- Cartable vault, SQLite: a service's description. Never edited once landed.

-- What the service says it is, shown to families beside its name when it asks them for access (its request cards,
-- the grants page). Optional: services registered before, or without one, keep NULL.
ALTER TABLE services ADD COLUMN description TEXT;
