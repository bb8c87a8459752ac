#!/usr/bin/env python3
"""tls-alpn-01 (RFC 8737) end to end: an ACME client written with the `acme`
library (certbot's) and Python's ssl, against a TopCA server.

It registers an account, orders a certificate for NAME, answers the
tls-alpn-01 challenge by serving on 127.0.0.1:PORT (the server's
TOPCA_ACME_TLS_ALPN_PORT) a self-signed certificate for NAME carrying the
critical acmeIdentifier extension (SHA-256 of the key authorization) to
connections that offer the ALPN protocol "acme-tls/1", then finalizes and
writes the certificate chain to OUT.

Usage: acme_tls_alpn.py DIRECTORY_URL PORT NAME OUT
"""
import datetime
import hashlib
import os
import socket
import ssl
import sys
import tempfile
import threading

import josepy as jose
from acme import challenges, client, crypto_util, messages
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ACME_TLS_1 = "acme-tls/1"


# The `acme` library dropped its tls-alpn-01 classes (certbot never served
# it); the protocol part is a key-authorization challenge like http-01's.
@challenges.ChallengeResponse.register
class TlsAlpn01Response(challenges.KeyAuthorizationChallengeResponse):
    typ = "tls-alpn-01"


@challenges.Challenge.register
class TlsAlpn01(challenges.KeyAuthorizationChallenge):
    response_cls = TlsAlpn01Response
    typ = response_cls.typ

    def validation(self, account_key, **kwargs):
        """The challenge certificate is made by challenge_certificate()."""
        return None


# id-pe-acmeIdentifier (RFC 8737 §6.1).
ACME_IDENTIFIER = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.31")


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def challenge_certificate(name, key_authorization):
    """A self-signed certificate for `name` whose critical acmeIdentifier is
    the OCTET STRING of SHA-256(key authorization), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(key_authorization.encode()).digest()
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        # DER OCTET STRING of the 32-byte digest: tag 0x04, length 0x20.
        .add_extension(x509.UnrecognizedExtension(ACME_IDENTIFIER, b"\x04\x20" + digest),
                       critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def serve_challenge(port, certificate, key, seen):
    """Serves `certificate` over TLS on 127.0.0.1:`port` to clients offering
    acme-tls/1; records each negotiated protocol in `seen`. Returns the socket."""
    folder = tempfile.mkdtemp()
    cert_file = os.path.join(folder, "challenge.pem")
    with open(cert_file, "wb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM) + pem_key(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file)
    context.set_alpn_protocols([ACME_TLS_1])
    listener = socket.create_server(("127.0.0.1", port))

    def accept():
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    seen.append(tls.selected_alpn_protocol())
            except (ssl.SSLError, OSError) as e:
                seen.append(f"handshake failed: {e}")

    threading.Thread(target=accept, daemon=True).start()
    return listener


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    directory_url, port, name, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

    account_key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    net = client.ClientNetwork(account_key, alg=jose.ES256, user_agent="topca-acme-test")
    acme = client.ClientV2(client.ClientV2.get_directory(directory_url, net), net)
    acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))

    csr = crypto_util.make_csr(pem_key(ec.generate_private_key(ec.SECP256R1())), [name])
    order = acme.new_order(csr)
    [authorization] = order.authorizations
    offered = [c for c in authorization.body.challenges
               if isinstance(c.chall, TlsAlpn01)]
    if not offered:
        sys.exit(f"no tls-alpn-01 challenge offered for {name}")
    challenge = offered[0]
    key_authorization = challenge.chall.key_authorization(account_key)
    certificate, key = challenge_certificate(name, key_authorization)
    seen = []
    listener = serve_challenge(port, certificate, key, seen)
    try:
        acme.answer_challenge(challenge, challenge.chall.response(account_key))
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=60)
        order = acme.poll_and_finalize(order, deadline)
    finally:
        listener.close()
    if ACME_TLS_1 not in seen:
        sys.exit(f"the server never validated over acme-tls/1: {seen}")
    with open(out, "w") as f:
        f.write(order.fullchain_pem)
    print(f"tls-alpn-01: issued for {name} after {len(seen)} validation connection(s)")


if __name__ == "__main__":
    main()
