DROP INDEX cmp_transactions_started;
DROP INDEX acme_eab_keys_created;
DROP INDEX cmp_credentials_created;
ALTER TABLE acme_eab_keys DROP COLUMN revoked;
ALTER TABLE cmp_credentials DROP COLUMN last_used;
ALTER TABLE cmp_credentials DROP COLUMN revoked;
