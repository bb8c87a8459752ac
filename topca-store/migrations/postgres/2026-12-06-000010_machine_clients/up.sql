-- Machine clients: the SHA-256 of each API token, never the token; profiles and
-- name suffixes one per line; times in nanoseconds since the Unix epoch.
CREATE TABLE machine_clients (
    id BIGSERIAL PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    profiles TEXT NOT NULL,
    allowed_names TEXT NOT NULL,
    validity_days INTEGER NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    revoked BIGINT
);
