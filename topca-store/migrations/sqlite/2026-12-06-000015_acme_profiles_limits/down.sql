DROP TABLE acme_order_counts;
ALTER TABLE acme_orders DROP COLUMN profile;
