DROP TABLE audit_entries;
DROP TABLE recoveries;
DROP TABLE escrowed_keys;
DROP TABLE crls;
DROP TABLE certificates;
DROP TABLE requests;
DROP TABLE accounts;
