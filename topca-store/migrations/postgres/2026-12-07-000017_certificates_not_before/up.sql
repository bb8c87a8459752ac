-- The OCSP pre-signer looks for certificates issued since its last look by
-- their notBefore (nanoseconds since the Unix epoch), instead of scanning every
-- unexpired certificate at each tick.
CREATE INDEX certificates_not_before ON certificates (not_before);
