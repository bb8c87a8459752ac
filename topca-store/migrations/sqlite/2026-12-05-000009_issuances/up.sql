-- Record before sign: every serial is reserved with the SHA-256 of the
-- TBSCertificate about to be signed under it before the CA signs; the
-- reservation is marked issued in the transaction that stores the certificate.
-- A reservation never marked issued is an issuance that did not finish (the
-- operator lists them; OCSP answers revoked for them). Certificates stored
-- before this table existed have no reservation.
CREATE TABLE issuances (
    serial TEXT PRIMARY KEY NOT NULL,
    tbs_sha256 BLOB NOT NULL,
    profile TEXT NOT NULL,
    requester_kind INTEGER NOT NULL,
    requester_name TEXT NOT NULL,
    account_id BIGINT,
    request_id BIGINT,
    reserved_at BIGINT NOT NULL,
    issued BOOLEAN NOT NULL
);
CREATE INDEX issuances_unfinished ON issuances (issued, reserved_at);
