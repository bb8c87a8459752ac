-- Attempts at holder secrets (PIN, authorization code, replacement link, user
-- password), counted per request and client address until window_ends
-- (nanoseconds since the Unix epoch). They replace the per-request counter.
CREATE TABLE holder_attempts (
    request_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    window_ends BIGINT NOT NULL,
    PRIMARY KEY (request_id, source)
);
ALTER TABLE requests DROP COLUMN failed_attempts;
-- Public references of requests: random lower-case hex. Holders see only these;
-- the integer id stays internal. Existing requests get the random part of a
-- version 4 UUID (122 bits); new ones 128 bits from the server.
ALTER TABLE requests ADD COLUMN public_ref TEXT;
UPDATE requests SET public_ref = replace(gen_random_uuid()::text, '-', '');
ALTER TABLE requests ALTER COLUMN public_ref SET NOT NULL;
CREATE UNIQUE INDEX requests_public_ref ON requests (public_ref);
