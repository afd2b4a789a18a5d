-- A member's (a DPO's) sessions, newest first: a sign-in beyond the limit ends the oldest ones.
CREATE INDEX api_sessions_by_member ON api_sessions(member_id, created_at);
CREATE INDEX dpo_sessions_by_dpo ON dpo_sessions(dpo_id, created_at);
-- A service's requests waiting in a family, counted before another is added.
CREATE INDEX grants_by_service_state ON grants(family_id, service_id, state);
