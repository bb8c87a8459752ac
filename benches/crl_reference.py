"""The reference for TopCA's CRL bench: Python `cryptography`'s
CertificateRevocationListBuilder on the same input (see crl_bench_entry in
benches/src/lib.rs). Prints `seconds<TAB>peak_rss_bytes<TAB>crl_bytes` for one build.

usage: python3 benches/crl_reference.py ENTRIES
"""
import datetime
import resource
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

REASONS = [x509.ReasonFlags.key_compromise, x509.ReasonFlags.superseded, None]


def main() -> None:
    entries = int(sys.argv[1])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Issuing CA")])
    revoked_at = datetime.datetime.fromtimestamp(1_795_000_000, datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    start = time.perf_counter()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=1))
        .add_extension(x509.CRLNumber(1), critical=False)
    )
    for i in range(entries):
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number((0x4000_0000_0000_0000 << 64) | i)
            .revocation_date(revoked_at)
        )
        reason = REASONS[i % 3]
        if reason is not None:
            revoked = revoked.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(revoked.build())
    crl = builder.sign(key, hashes.SHA256())
    der = crl.public_bytes(Encoding.DER)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{seconds}\t{peak}\t{len(der)}")


if __name__ == "__main__":
    main()
