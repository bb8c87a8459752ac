-- Key recoveries are named by 128 random bits (hex) wherever they appear (rows made
-- before this get the random bits of a version 4 UUID); the
-- sequential row number stays internal.
ALTER TABLE recoveries ADD COLUMN public_id TEXT;
UPDATE recoveries SET public_id = replace(gen_random_uuid()::text, '-', '');
ALTER TABLE recoveries ALTER COLUMN public_id SET NOT NULL;
CREATE UNIQUE INDEX recoveries_public_id ON recoveries (public_id);
-- When another administrator created this one or gave it the kmc role through the
-- console (nanoseconds since the epoch); NULL when only the local operator did.
ALTER TABLE admins ADD COLUMN quarantine_from BIGINT;
