ALTER TABLE admins DROP COLUMN quarantine_from;
DROP INDEX recoveries_public_id;
ALTER TABLE recoveries DROP COLUMN public_id;
