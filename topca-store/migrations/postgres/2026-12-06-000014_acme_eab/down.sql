DROP TABLE acme_eab_keys;
