#!/usr/bin/env python3
"""ACME load run against a TopCA server.

N concurrent ACME clients (threads), each with its own P-256 account key,
loop full http-01 orders for D seconds: newOrder -> authorization -> answer
http-01 -> poll -> finalize with a fresh P-256 CSR -> download the
certificate. One shared threaded HTTP server on the http-01 port serves the
key authorizations of all clients. Prints orders completed, orders/s, p50/p99
latency of a full order and the errors (rateLimited counted apart).

Starts no TopCA server: benches/acme_load.sh does. Uses the `acme` library
(certbot's) with josepy and cryptography.

Parameters (argument, else environment, else default):
  --directory  ACME_DIRECTORY    ACME directory URL (required)
  --clients    ACME_CLIENTS      concurrent clients (8)
  --duration   ACME_DURATION     seconds of load (60)
  --http01-port TOPCA_ACME_HTTP01_PORT  port of the http-01 responder (required)
  --names      ACME_NAMES        comma-separated names, client i orders names[i % len] (localhost)
  --poll       ACME_POLL         seconds between polls (0.05)
  --on-rate-limit ACME_ON_RATE_LIMIT  "continue": a client that gets rateLimited
                                  counts an error and tries again after 1 s, so
                                  the run lasts D seconds; "stop": it stops (continue)
"""
import argparse
import collections
import datetime
import http.server
import os
import statistics
import sys
import threading
import time

import josepy as jose
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# token -> key authorization, for every client at once.
TOKENS = {}
TOKENS_LOCK = threading.Lock()


class Http01Handler(http.server.BaseHTTPRequestHandler):
    PREFIX = "/.well-known/acme-challenge/"

    def do_GET(self):
        token = self.path[len(self.PREFIX):] if self.path.startswith(self.PREFIX) else None
        with TOKENS_LOCK:
            validation = TOKENS.get(token) if token else None
        if validation is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = validation.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []
        self.errors = collections.Counter()
        self.error_samples = {}
        self.last_success = None

    def ok(self, seconds, now):
        with self.lock:
            self.latencies.append(seconds)
            self.last_success = now

    def error(self, kind, detail):
        with self.lock:
            self.errors[kind] += 1
            self.error_samples.setdefault(kind, detail)


def p256_key():
    return ec.generate_private_key(ec.SECP256R1())


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def one_order(acme, account_key, name, poll):
    """One full order; returns the full chain PEM."""
    csr = crypto_util.make_csr(pem(p256_key()), [name])
    order = acme.new_order(csr)
    tokens = []
    try:
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:
                continue
            chall = next(c for c in authz.body.challenges
                         if isinstance(c.chall, challenges.HTTP01))
            response, validation = chall.response_and_validation(account_key)
            token = chall.chall.encode("token")
            with TOKENS_LOCK:
                TOKENS[token] = validation
            tokens.append(token)
            acme.answer_challenge(chall, response)
            while True:
                authz, _ = acme.poll(authz)
                status = authz.body.status
                if status == messages.STATUS_VALID:
                    break
                if status != messages.STATUS_PENDING:
                    raise errors.ValidationError([authz])
                time.sleep(poll)
    finally:
        with TOKENS_LOCK:
            for token in tokens:
                TOKENS.pop(token, None)
    order = acme.begin_finalization(order)
    body = order.body
    while not (body.status == messages.STATUS_VALID and body.certificate):
        if body.status == messages.STATUS_INVALID:
            raise errors.IssuanceError(body.error)
        time.sleep(poll)
        body = messages.Order.from_json(acme._post_as_get(order.uri).json())
    chain = acme._post_as_get(body.certificate).text
    if "BEGIN CERTIFICATE" not in chain:
        raise errors.Error("the certificate download is no PEM chain")
    return chain


def run_client(index, args, stats, stop_at):
    account_key = jose.JWKEC(key=p256_key())
    net = client.ClientNetwork(account_key, alg=jose.ES256, user_agent="topca-acme-load")
    directory = client.ClientV2.get_directory(args.directory, net)
    acme = client.ClientV2(directory, net)
    acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
    name = args.names[index % len(args.names)]
    while time.monotonic() < stop_at:
        start = time.monotonic()
        try:
            one_order(acme, account_key, name, args.poll)
        except messages.Error as e:
            if e.code == "rateLimited":
                stats.error("rateLimited", f"client {index}: {e.detail}")
                if args.on_rate_limit == "stop":
                    return
                time.sleep(1)
                continue
            stats.error(e.code or "acme", f"client {index}: {e}")
            continue
        except Exception as e:  # noqa: BLE001 -- a load run counts every failure
            stats.error(type(e).__name__, f"client {index}: {e}")
            continue
        end = time.monotonic()
        stats.ok(end - start, end)


def percentile(values, p):
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(-(-p * len(ordered) // 100)) - 1))
    return ordered[rank]


def main():
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--directory", default=env("ACME_DIRECTORY"))
    parser.add_argument("--clients", type=int, default=int(env("ACME_CLIENTS", "8")))
    parser.add_argument("--duration", type=float, default=float(env("ACME_DURATION", "60")))
    parser.add_argument("--http01-port", type=int, default=env("TOPCA_ACME_HTTP01_PORT"))
    parser.add_argument("--names", default=env("ACME_NAMES", "localhost"))
    parser.add_argument("--poll", type=float, default=float(env("ACME_POLL", "0.05")))
    parser.add_argument("--on-rate-limit", choices=["stop", "continue"],
                        default=env("ACME_ON_RATE_LIMIT", "continue"))
    args = parser.parse_args()
    if not args.directory or not args.http01_port:
        parser.error("--directory (ACME_DIRECTORY) and --http01-port "
                     "(TOPCA_ACME_HTTP01_PORT) are needed")
    args.http01_port = int(args.http01_port)
    args.names = [n.strip() for n in args.names.split(",") if n.strip()]

    responder = http.server.ThreadingHTTPServer(("127.0.0.1", args.http01_port), Http01Handler)
    responder.daemon_threads = True
    threading.Thread(target=responder.serve_forever, daemon=True).start()

    stats = Stats()
    began = time.monotonic()
    stop_at = began + args.duration
    threads = []
    for i in range(args.clients):
        t = threading.Thread(target=run_client, args=(i, args, stats, stop_at), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    responder.shutdown()

    lat = stats.latencies
    n = len(lat)
    print(f"ACME load: {args.clients} clients, {args.duration:g} s, names {','.join(args.names)}, "
          f"directory {args.directory}")
    print(f"orders completed: {n} in {elapsed:.1f} s")
    print(f"orders/s: {n / elapsed:.2f}")
    if n and stats.last_success is not None:
        busy = stats.last_success - began
        print(f"orders/s until the last completed order ({busy:.1f} s): {n / busy:.2f}")
    if n:
        print(f"latency of a full order: p50 {statistics.median(lat) * 1000:.0f} ms, "
              f"p99 {percentile(lat, 99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms "
              f"(n={n})")
    total_errors = sum(stats.errors.values())
    print(f"errors: {total_errors}" + ("" if not total_errors else " (" + ", ".join(
        f"{kind} {count}" for kind, count in stats.errors.most_common()) + ")"))
    for kind, detail in stats.error_samples.items():
        print(f"  first {kind}: {detail}")
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main())
