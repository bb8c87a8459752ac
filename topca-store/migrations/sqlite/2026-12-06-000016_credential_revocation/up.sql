-- CMP/EST credentials and ACME EAB keys are revoked by an RA administrator
-- (console and API): revoked holds when (nanoseconds since the Unix epoch),
-- NULL while live. A credential's last successful use is kept (to the minute).
-- CMP transactions are pruned by start time after their retention period.
ALTER TABLE cmp_credentials ADD COLUMN revoked BIGINT;
ALTER TABLE cmp_credentials ADD COLUMN last_used BIGINT;
ALTER TABLE acme_eab_keys ADD COLUMN revoked BIGINT;
CREATE INDEX cmp_credentials_created ON cmp_credentials (created);
CREATE INDEX acme_eab_keys_created ON acme_eab_keys (created);
CREATE INDEX cmp_transactions_started ON cmp_transactions (started);
