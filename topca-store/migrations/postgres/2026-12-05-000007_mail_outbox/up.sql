-- Mails waiting to be sent: written right after the change they tell of,
-- delivered and retried by the sender, deleted once sent. The message is sealed
-- under the KMC master key (it may carry a PIN or a code).
CREATE TABLE mail_outbox (
    id BIGSERIAL PRIMARY KEY,
    recipient TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL            -- nanoseconds since the Unix epoch
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt);
