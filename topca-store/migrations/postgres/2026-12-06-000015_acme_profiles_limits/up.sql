-- ACME profiles (draft-ietf-acme-profiles): the certificate profile an order
-- was placed for (topca_core::ProfileKind::label; NULL: the ACME client's
-- default, for orders placed before profiles could be chosen).
ALTER TABLE acme_orders ADD COLUMN profile TEXT;
-- New-order limits shared by every node: one counter per limited key (an ACME
-- account, an identifier) and fixed window (its number since the Unix epoch),
-- raised in the transaction that checks it.
CREATE TABLE acme_order_counts (
    limit_key TEXT NOT NULL,
    window_number BIGINT NOT NULL,
    hits INTEGER NOT NULL,
    PRIMARY KEY (limit_key, window_number)
);
CREATE INDEX acme_order_counts_window ON acme_order_counts (window_number);
