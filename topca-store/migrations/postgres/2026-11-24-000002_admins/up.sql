-- Administrators: Argon2id password hashes, roles as comma-separated codes.
CREATE TABLE admins (
    name TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    failed_logins INTEGER NOT NULL,
    locked_until BIGINT,
    version BIGINT NOT NULL
);
CREATE INDEX requests_state ON requests (state, id);
