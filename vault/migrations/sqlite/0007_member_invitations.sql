-- Cartable vault, SQLite: invitations for a family's own members. Never edited once landed.

-- A child's invitation (`kind` = `family_child`) names the existing child member whose sign-in name and password
-- accepting it sets; the family's guardians' and DPOs' invitations leave it NULL.
ALTER TABLE invitations ADD COLUMN member_id TEXT;
