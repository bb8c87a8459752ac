-- TopCA schema, PostgreSQL. Times are nanoseconds since the Unix epoch (exact round trip).
CREATE TABLE accounts (
    id BIGSERIAL PRIMARY KEY,
    organization TEXT NOT NULL,
    unit TEXT NOT NULL,
    search_text TEXT NOT NULL,          -- lower-cased "O\nOU" for keyword search
    certificate_type INTEGER NOT NULL,
    verification INTEGER NOT NULL,
    algorithm TEXT NOT NULL,
    validity_days INTEGER NOT NULL,
    service_url TEXT NOT NULL,
    language INTEGER NOT NULL
);

CREATE TABLE requests (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL,
    kind INTEGER NOT NULL,
    state INTEGER NOT NULL,
    holder_name TEXT NOT NULL,
    holder_email TEXT NOT NULL,
    holder_phone TEXT,
    holder_state TEXT,
    holder_locality TEXT,
    password_hash TEXT,                 -- Argon2id PHC string, never the password
    pin_hash BYTEA,                      -- SHA-256 of the PIN, never the PIN
    pin_expires BIGINT,
    failed_attempts INTEGER NOT NULL,
    submitted_at BIGINT NOT NULL,
    reject_reason TEXT,
    issued_serial TEXT,
    csr BYTEA,
    previous_serial TEXT,
    version BIGINT NOT NULL
);
CREATE INDEX requests_account_state ON requests (account_id, state);

CREATE TABLE certificates (
    serial TEXT PRIMARY KEY NOT NULL,
    account_id BIGINT,
    request_id BIGINT,
    holder_name TEXT NOT NULL,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    usage INTEGER NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    status INTEGER NOT NULL,
    revoked_at BIGINT,
    revocation_reason INTEGER,
    der BYTEA NOT NULL
);
CREATE INDEX certificates_email ON certificates (email_lower);
CREATE INDEX certificates_holder_name ON certificates (holder_name);
CREATE INDEX certificates_expiry ON certificates (status, not_after);
CREATE INDEX certificates_revoked ON certificates (revoked_at);

CREATE TABLE crls (
    number BIGINT PRIMARY KEY NOT NULL,
    delta_base BIGINT,
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    der BYTEA NOT NULL
);

CREATE TABLE escrowed_keys (
    encryption_serial TEXT PRIMARY KEY NOT NULL,
    signing_serial TEXT NOT NULL,
    email TEXT NOT NULL,
    email_lower TEXT NOT NULL,
    master_key_id BYTEA NOT NULL,
    nonce BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,           -- AES-256-GCM under the KMC master key
    escrowed_at BIGINT NOT NULL
);
CREATE INDEX escrowed_keys_email ON escrowed_keys (email_lower);

CREATE TABLE recoveries (
    id BIGSERIAL PRIMARY KEY,
    encryption_serial TEXT NOT NULL,
    email TEXT NOT NULL,
    holder_name TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    state INTEGER NOT NULL,
    decided_by TEXT,
    code_hash BYTEA,                     -- SHA-256 of the authorization code
    code_expires BIGINT,
    failed_attempts INTEGER NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX recoveries_state ON recoveries (state);

CREATE TABLE audit_entries (
    sequence BIGINT PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    actor_kind INTEGER NOT NULL,
    actor_name TEXT NOT NULL,
    action INTEGER NOT NULL,
    target TEXT NOT NULL,
    outcome INTEGER NOT NULL,
    detail TEXT NOT NULL,
    previous_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);

-- The schema version this database is at; a binary that knows fewer versions
-- refuses to open it rather than alter it.
CREATE TABLE topca_schema (
    version BIGINT PRIMARY KEY NOT NULL
);
