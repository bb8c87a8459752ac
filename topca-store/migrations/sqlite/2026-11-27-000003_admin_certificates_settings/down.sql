DROP TABLE settings;
ALTER TABLE admins DROP COLUMN certificate_sha256;
