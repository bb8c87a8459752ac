-- Certificate log-in: the SHA-256 (hex) of the certificate bound to an administrator.
ALTER TABLE admins ADD COLUMN certificate_sha256 TEXT;
-- CA settings changed at run time (for example the CRL schedule).
CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
