"""A real SMTP server for TopCA's mail tests, and a decoder for what it received.

    smtp_sink.py serve PORT DIR [starttls|implicit CERT KEY USER PASSWORD]
                                  aiosmtpd on 127.0.0.1:PORT; each message is saved
                                  as DIR/NNNNNN.eml; recipients containing "refuse"
                                  are refused with 550. With a TLS mode, the server
                                  requires STARTTLS or speaks TLS from the start
                                  (certificate and key in PEM files) and requires
                                  AUTH with USER and PASSWORD. Prints "ready" when
                                  listening and runs until killed.
    smtp_sink.py decode FILE      prints key<TAB>base64(value) lines: to, from,
                                  subject and body (decoded by Python's email
                                  package, independently of lettre), and for each
                                  attachment its file name and content.
"""
import base64
import email
import email.policy
import os
import sys
import time


def serve(port: int, directory: str, tls: list) -> None:
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Sink:
        async def handle_RCPT(self, server, session, envelope, address, options):
            if "refuse" in address:
                return "550 5.1.1 mailbox unavailable"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            count = len([n for n in os.listdir(directory) if n.endswith(".eml")])
            temporary = os.path.join(directory, f".{count:06}.tmp")
            with open(temporary, "wb") as f:
                f.write(envelope.original_content or envelope.content)
            os.rename(temporary, os.path.join(directory, f"{count:06}.eml"))
            return "250 Message accepted for delivery"

    options = {}
    if tls:
        mode, cert, key, user, password = tls
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == user.encode() and auth_data.password == password.encode()
            return AuthResult(success=ok)

        options = {"authenticator": authenticate, "auth_required": True}
        if mode == "starttls":
            options.update(tls_context=context, require_starttls=True)
        else:
            # aiosmtpd does not count implicit TLS as TLS for AUTH; it is, though.
            options.update(ssl_context=context, auth_require_tls=False)
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def emit(key: str, value) -> None:
    if isinstance(value, str):
        value = value.encode("utf-8")
    print(f"{key}\t{base64.b64encode(value).decode('ascii')}")


def decode(path: str) -> None:
    with open(path, "rb") as f:
        message = email.message_from_binary_file(f, policy=email.policy.default)
    emit("to", str(message["to"]))
    emit("from", str(message["from"]))
    emit("subject", str(message["subject"]))
    emit("body", message.get_body(preferencelist=("plain",)).get_content())
    for part in message.iter_attachments():
        emit("attachment", part.get_filename())
        emit("attachment_content", part.get_content())


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
    else:
        decode(sys.argv[2])
