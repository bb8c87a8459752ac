-- CMP: credentials (the secret sealed under the master key, never in clear)
-- and transactions (a transactionID is used once: replays are refused).
-- Times in nanoseconds since the Unix epoch.
CREATE TABLE cmp_credentials (
    reference TEXT PRIMARY KEY NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    sealed_secret BLOB NOT NULL,
    created BIGINT NOT NULL
);
CREATE TABLE cmp_transactions (
    transaction_id BLOB PRIMARY KEY NOT NULL,
    sender TEXT NOT NULL,
    nonce BLOB NOT NULL,
    serial TEXT,
    request_id BIGINT,
    state TEXT NOT NULL,
    started BIGINT NOT NULL
);
