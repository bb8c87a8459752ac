-- ACME external account binding keys (RFC 8555 §7.3.4): the HMAC key sealed
-- under the KMC master key (AES-256-GCM, bound to key_id), the ACME profile it
-- is for, and the account it bound once used (a key binds one account).
CREATE TABLE acme_eab_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    profile TEXT NOT NULL,
    sealed_key BLOB NOT NULL,
    created BIGINT NOT NULL,
    account_id TEXT
);
CREATE INDEX acme_eab_keys_profile ON acme_eab_keys (profile);
