DROP INDEX requests_public_ref;
ALTER TABLE requests DROP COLUMN public_ref;
ALTER TABLE requests ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
DROP TABLE holder_attempts;
