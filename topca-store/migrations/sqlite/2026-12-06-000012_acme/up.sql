-- ACME (RFC 8555): replay nonces (spent by deleting them), accounts (by the
-- RFC 7638 thumbprint of their key), orders, authorizations and challenges.
-- Identifiers are random text; times in nanoseconds since the Unix epoch;
-- statuses are numbers (topca_core::store::AcmeStatus); lists one item per line.
CREATE TABLE acme_nonces (
    nonce TEXT PRIMARY KEY NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX acme_nonces_expires ON acme_nonces (expires);
CREATE TABLE acme_accounts (
    id TEXT PRIMARY KEY NOT NULL,
    profile TEXT NOT NULL,
    thumbprint TEXT NOT NULL UNIQUE,
    jwk TEXT NOT NULL,
    contact TEXT NOT NULL,
    status SMALLINT NOT NULL,
    created BIGINT NOT NULL
);
CREATE TABLE acme_orders (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES acme_accounts (id),
    identifiers TEXT NOT NULL,
    status SMALLINT NOT NULL,
    expires BIGINT NOT NULL,
    error TEXT,
    certificate TEXT
);
CREATE INDEX acme_orders_certificate ON acme_orders (certificate);
CREATE TABLE acme_authorizations (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES acme_orders (id),
    position INTEGER NOT NULL,
    identifier TEXT NOT NULL,
    status SMALLINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX acme_authorizations_order ON acme_authorizations (order_id);
CREATE TABLE acme_challenges (
    id TEXT PRIMARY KEY NOT NULL,
    authorization_id TEXT NOT NULL REFERENCES acme_authorizations (id),
    kind TEXT NOT NULL,
    token TEXT NOT NULL,
    status SMALLINT NOT NULL,
    validated BIGINT,
    error TEXT
);
CREATE INDEX acme_challenges_authorization ON acme_challenges (authorization_id);
