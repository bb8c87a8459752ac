-- Each account's server certificate policy; an account without a row has the
-- default (no domain allowed, no wildcards, no IP addresses, at most 100 names).
-- allowed_domains holds one lower-case domain suffix per line.
CREATE TABLE account_policies (
    account_id BIGINT PRIMARY KEY NOT NULL REFERENCES accounts (id),
    allowed_domains TEXT NOT NULL,
    allow_wildcards BOOLEAN NOT NULL,
    allow_ip_addresses BOOLEAN NOT NULL,
    max_names INTEGER NOT NULL
);
