-- Administrator sessions, shared by every node: the SHA-256 of the token, never
-- the token; times in nanoseconds since the Unix epoch.
CREATE TABLE admin_sessions (
    token_hash BLOB PRIMARY KEY NOT NULL,
    admin TEXT NOT NULL,
    opened BIGINT NOT NULL,
    last_used BIGINT NOT NULL
);
CREATE INDEX admin_sessions_admin ON admin_sessions (admin);
