-- Pre-signed OCSP responses, one per certificate (upper-case hex serial), shared
-- by the nodes; times in nanoseconds since the Unix epoch.
CREATE TABLE ocsp_responses (
    serial TEXT PRIMARY KEY NOT NULL,
    der BYTEA NOT NULL,
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL
);
CREATE INDEX ocsp_responses_this_update ON ocsp_responses (this_update);
CREATE INDEX ocsp_responses_next_update ON ocsp_responses (next_update);
