#!/usr/bin/env python3
"""The load client and the checks of the multi-node test (scripts/multinode).

`load`: client threads issue certificates through the balancer for a fixed time,
with one administrator bearer token made beforehand (central issuance, the one
call that takes a holder to a certificate without a mail round trip), and
revoke every Nth certificate they received. A request answered with an error
or not answered is counted and retried; only a certificate the client got back
counts as received, and only a revocation answered with success (or, after a
lost answer, shown revoked by the CA) counts as acknowledged. The outcome is
written as JSON.

`check`: compares what the clients recorded with the database (psql) and with
every node asked directly: each received certificate is stored exactly once
and byte for byte, no serial is stored twice, each acknowledged revocation is
in the CRL every node serves (signature checked by OpenSSL) and answered
"revoked" by every node's OCSP responder, and the bearer token still works on
every node. Prints the counts; exits non-zero on any failed check.

Python 3 standard library plus the `openssl` and `psql` commands.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 30


class Answer:
    """An HTTP answer: status (0 when there was none) and parsed JSON body."""

    def __init__(self, status, body, problem=""):
        self.status = status
        self.body = body
        self.problem = problem

    @property
    def ok(self):
        return 200 <= self.status < 300


def call(method, url, token=None, body=None):
    """One request; never raises for HTTP or connection errors."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            raw = response.read()
            return Answer(response.status, json.loads(raw) if raw else None)
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        text = " ".join(raw[:300].decode("utf-8", "replace").split())
        return Answer(error.code, parsed, re.sub(r"<[^>]+>", " ", text).strip()[:120])
    except (OSError, ValueError) as error:  # refused, reset, timed out, cut short
        return Answer(0, None, type(error).__name__)


def der_of_pem(pem):
    """The DER bytes of the first PEM block."""
    body = re.search(r"-----BEGIN [A-Z ]+-----(.*?)-----END", pem, re.S)
    if not body:
        raise ValueError("no PEM block")
    return base64.b64decode("".join(body.group(1).split()))


def serial_key(serial):
    """A serial as an integer, whatever its spelling (leading zeros, case)."""
    return int(serial, 16)


class Tally:
    """What all client threads saw, behind one lock."""

    def __init__(self, started):
        self.started = started
        self.lock = threading.Lock()
        self.received = {}  # serial -> {"sha256", "email"}
        self.revoked = []  # serials whose revocation was acknowledged
        self.failures = {}  # "issue 502" -> count
        self.examples = {}  # "issue 502" -> the first answer's text
        self.crashed = []  # tracebacks of client threads that stopped on a bug
        self.anomalies = []  # what must not happen: each fails the check
        self.failure_times = []
        self.retries = 0
        self.lost_issuances = 0  # error answers after which the CA had issued anyway

    def failed(self, what, answer):
        label = f"{what} {answer.status or answer.problem}"
        with self.lock:
            self.failures[label] = self.failures.get(label, 0) + 1
            self.examples.setdefault(label, answer.problem)
            self.failure_times.append(round(time.monotonic() - self.started, 1))


def holder_certificates(base, token, email, tally):
    """The CA's records for `email` (status and serials), asked until answered."""
    query = urllib.parse.urlencode({"email": email})
    for _ in range(60):
        answer = call("GET", f"{base}/api/v1/admin/certificates?{query}", token)
        if answer.ok:
            return answer.body
        tally.failed("look-up", answer)
        time.sleep(0.5)
    raise RuntimeError(f"the CA did not answer a look-up of {email} for 30 s")


def issue(base, token, account, tally, name, email):
    """Issues one certificate, retrying until received or out of time."""
    body = {"name": name, "email": email, "password": secrets.token_urlsafe(12)}
    url = f"{base}/api/v1/admin/accounts/{account}/central-issuance"
    while True:
        answer = call("POST", url, token, body)
        if answer.ok:
            pem = answer.body["certificate"]
            der = der_of_pem(pem)
            if base64.b64decode(answer.body["pkcs12"])[:1] != b"\x30":
                raise RuntimeError(f"{email}: the PKCS#12 file is not DER")
            return answer.body["serial"], hashlib.sha256(der).hexdigest()
        tally.failed("issue", answer)
        with tally.lock:
            tally.retries += 1
        # The answer may be lost after the CA issued: the client looks it up.
        time.sleep(0.3)
        found = holder_certificates(base, token, email, tally)
        if found:
            with tally.lock:
                tally.lost_issuances += len(found)
            # Those certificates came without their key: ask for a new one,
            # under a new address so the records stay apart.
            email = "retry-" + email
            body["email"] = email
        if time.monotonic() - tally.started > tally.deadline + 30:
            with tally.lock:
                tally.anomalies.append(f"no certificate for {email} 30 s after the run")
            return None, None


def revoke(base, token, tally, serial, email):
    """Revokes `serial`; True once the CA acknowledged it."""
    url = f"{base}/api/v1/admin/certificates/{serial}/revoke"
    for _ in range(20):
        answer = call("POST", url, token, {"reason": 4})
        if answer.ok:
            return True
        tally.failed("revoke", answer)
        with tally.lock:
            tally.retries += 1
        time.sleep(0.3)
        # An earlier attempt may have revoked it with the answer lost.
        found = holder_certificates(base, token, email, tally)
        if any(serial_key(c["serial"]) == serial_key(serial) and c["status"] == "revoked"
               for c in found):
            return True
    with tally.lock:
        tally.anomalies.append(f"the revocation of {serial} was never acknowledged")
    return False


def client(base, token, account, tally, number, revoke_every):
    try:
        issue_and_revoke(base, token, account, tally, number, revoke_every)
    except Exception:  # noqa: BLE001 - any bug in a client thread fails the run
        with tally.lock:
            tally.crashed.append(traceback.format_exc())


def issue_and_revoke(base, token, account, tally, number, revoke_every):
    count = 0
    while time.monotonic() - tally.started < tally.deadline:
        count += 1
        email = f"load-{tally.tag}-{number}-{count}@example.cn"
        serial, digest = issue(base, token, account, tally, f"负载测试 {number}-{count}", email)
        if serial is None:
            return
        with tally.lock:
            if serial in tally.received:
                tally.anomalies.append(f"serial {serial} received twice")
            tally.received[serial] = {"sha256": digest, "email": email}
        if count % revoke_every == 0 and revoke(base, token, tally, serial, email):
            with tally.lock:
                tally.revoked.append(serial)


def watch_crls(nodes, done):
    """Fetches every node's CRL twice a second until the clients are `done`, as
    relying parties do, so a node may hold a CRL made before the last
    revocations, which it must catch up with."""
    while not done.is_set():
        for node in nodes:
            try:
                fetch(f"{node}/TopCA/crl/current.crl")
            except OSError:
                pass  # a node being killed: the balancer's clients see that
        done.wait(0.5)


def load(args):
    token = open(args.token_file).read().strip()
    tally = Tally(time.monotonic())
    tally.deadline = args.seconds
    tally.tag = "".join(c if c.isalnum() else "-" for c in args.run)
    threads = [
        threading.Thread(target=client,
                         args=(args.url, token, args.account, tally, n, args.revoke_every))
        for n in range(1, args.clients + 1)
    ]
    done = threading.Event()
    watcher = threading.Thread(target=watch_crls, args=(args.watch_crl, done))
    for t in threads + [watcher]:
        t.start()
    for t in threads:
        t.join()
    done.set()
    watcher.join()
    elapsed = time.monotonic() - tally.started
    outcome = {
        "run": args.run,
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "received": tally.received,
        "revoked": tally.revoked,
        "failures": tally.failures,
        "examples": tally.examples,
        "anomalies": tally.anomalies,
        "failure_times": tally.failure_times,
        "retries": tally.retries,
        "lost_issuances": tally.lost_issuances,
        "per_second": round(len(tally.received) / args.seconds, 2),
    }
    with open(args.out, "w") as f:
        json.dump(outcome, f)
    print(f"{args.run}: {len(tally.received)} certificates received "
          f"({outcome['per_second']}/s over {args.seconds} s, {args.clients} clients), "
          f"{len(tally.revoked)} revocations acknowledged, "
          f"{sum(tally.failures.values())} failed requests {tally.failures}, "
          f"{tally.retries} retries, {tally.lost_issuances} issued with the answer lost")
    for label, text in tally.examples.items():
        print(f"  first {label}: {text}")
    if tally.crashed:
        print("client threads stopped on an error:\n" + "\n".join(tally.crashed))
        sys.exit(1)


# ---- checks ----

class Checks:
    """Failed checks, kept to be reported together."""

    def __init__(self):
        self.failed = []

    def expect(self, condition, message):
        if not condition:
            self.failed.append(message)
            print("FAILED: " + message)
        return condition


def database_rows(url):
    """serial -> [sha256 of the DER, revoked] for every stored certificate of a
    holder, and the serials stored more than once. The CA's own service
    certificates (OCSP responder 4, server TLS 5), recorded like any other, are
    left out: no client asks for them."""
    out = subprocess.run(
        ["psql", url, "-At", "-F", " ", "-c",
         "SELECT serial, encode(sha256(der), 'hex'), revoked_at IS NOT NULL FROM certificates"
         " WHERE usage NOT IN (4, 5)"],
        check=True, capture_output=True, text=True).stdout
    rows, twice = {}, []
    for line in out.splitlines():
        serial, digest, revoked = line.split(" ")
        key = serial_key(serial)
        if key in rows:
            twice.append(serial)
        rows[key] = (digest, revoked == "t")
    return rows, twice


def scalar(url, query):
    """The one number `query` answers."""
    out = subprocess.run(["psql", url, "-At", "-c", query],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip())


def fetch(url):
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        return response.read()


def crl_serials(node, chain, work):
    """The serials of the CRL `node` serves, after OpenSSL checked its signature."""
    path = os.path.join(work, "node.crl")
    with open(path, "wb") as f:
        f.write(fetch(f"{node}/TopCA/crl/current.crl"))
    run = subprocess.run(
        ["openssl", "crl", "-inform", "DER", "-in", path, "-CAfile", chain, "-noout", "-text"],
        capture_output=True, text=True)
    if run.returncode != 0 or "verify OK" not in run.stdout + run.stderr:
        raise RuntimeError(f"{node}: the CRL does not verify: {run.stderr.strip()}")
    number = re.search(r"X509v3 CRL Number: *\n *(\d+)", run.stdout)
    issued = re.search(r"Last Update: (.*)", run.stdout)
    serials = {int(s, 16) for s in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", run.stdout)}
    return serials, f"CRL {number.group(1) if number else '?'} of {issued.group(1) if issued else '?'}"


def ocsp_statuses(node, issuing, chain, serials):
    """serial -> "good" / "revoked" / "unknown" as `node`'s OCSP responder answers,
    32 serials per request, each response verified by OpenSSL."""
    statuses = {}
    serials = list(serials)
    for at in range(0, len(serials), 32):
        batch = serials[at:at + 32]
        command = ["openssl", "ocsp", "-issuer", issuing, "-CAfile", chain,
                   "-url", f"{node}/TopCA/ocsp", "-no_nonce"]
        for s in batch:
            command += ["-serial", f"0x{s:X}"]
        run = subprocess.run(command, capture_output=True, text=True)
        if "Response verify OK" not in run.stderr + run.stdout:
            raise RuntimeError(f"{node}: the OCSP response does not verify: {run.stderr.strip()}")
        for serial, status in re.findall(r"^0x([0-9A-Fa-f]+): (\w+)", run.stdout, re.M):
            statuses[int(serial, 16)] = status
    return statuses


def check(args):
    checks = Checks()
    token = open(args.token_file).read().strip()
    received, revoked, loads = {}, set(), []
    for path in args.results:
        with open(path) as f:
            outcome = json.load(f)
        loads.append(outcome)
        checks.expect(outcome["received"], f"{outcome['run']}: no certificate received")
        checks.expect(outcome["revoked"], f"{outcome['run']}: no revocation acknowledged")
        for anomaly in outcome["anomalies"]:
            checks.expect(False, f"{outcome['run']}: {anomaly}")
        for serial, got in outcome["received"].items():
            key = serial_key(serial)
            checks.expect(key not in received, f"serial {serial} received by two clients")
            received[key] = dict(got, serial=serial)
        revoked.update(serial_key(s) for s in outcome["revoked"])

    rows, twice = database_rows(args.database)
    checks.expect(not twice, f"serials stored twice: {twice}")
    missing = [k for k in received if k not in rows]
    checks.expect(not missing, f"{len(missing)} received certificates not in the database")
    differing = [k for k in received if k in rows and rows[k][0] != received[k]["sha256"]]
    checks.expect(not differing,
                  f"{len(differing)} received certificates differ from the database's")
    not_revoked = [k for k in revoked if k in rows and not rows[k][1]]
    checks.expect(not not_revoked,
                  f"{len(not_revoked)} acknowledged revocations not recorded in the database")
    unreceived = len([k for k in rows if k not in received])
    lost = sum(outcome["lost_issuances"] for outcome in loads)
    checks.expect(unreceived == lost,
                  f"{unreceived} certificates stored that no client received, but the clients "
                  f"found {lost} issued after an error answer: some were issued unasked")
    print(f"database: {len(rows)} certificates, {len(received)} received by clients, "
          f"each exactly once; {unreceived} issued without a client receiving them "
          f"(answers lost in the kill); "
          f"{sum(1 for d in rows.values() if d[1])} revoked, {len(revoked)} acknowledged")
    recorded = scalar(args.database, "SELECT count(*) FROM certificates WHERE usage IN (4, 5)")
    unissued = scalar(args.database, "SELECT count(*) FROM issuances WHERE NOT issued")
    stored = scalar(args.database, "SELECT count(*) FROM certificates")
    reserved = scalar(args.database, "SELECT count(*) FROM issuances WHERE issued")
    checks.expect(stored == reserved,
                  f"{stored} certificates stored but {reserved} reservations marked issued")
    print(f"record before sign: {reserved} reservations issued (the CA's own service "
          f"certificates among them: {recorded}), {unissued} reserved and never issued "
          f"(signing in flight when a node died, or losers of a race)")

    # Every node serves a CRL now; then one more certificate is revoked on the
    # second node alone: the others must catch up with it, not only with the
    # revocations they handled themselves.
    work = tempfile.mkdtemp()
    for node in args.nodes:
        fetch(f"{node}/TopCA/crl/current.crl")
    probe = next(k for k in sorted(received) if k not in revoked)
    probe_serial = received[probe]["serial"]
    tally = Tally(time.monotonic())
    tally.deadline = 0
    checks.expect(revoke(args.nodes[1], token, tally, probe_serial, received[probe]["email"]),
                  f"{args.nodes[1]}: the revocation of {probe_serial} was refused")
    revoked.add(probe)
    print(f"{probe_serial} revoked on {args.nodes[1]} after the CRLs were fetched from every node")
    deadline = time.monotonic() + args.crl_wait
    for node in args.nodes:
        while True:
            try:
                listed, crl_name = crl_serials(node, args.chain, work)
                absent = revoked - listed
            except (OSError, RuntimeError) as error:
                absent, problem, crl_name = revoked, str(error), "no CRL"
            else:
                problem = ""
            if not absent or time.monotonic() > deadline:
                break
            time.sleep(2)
        waited = round(args.crl_wait - max(0, deadline - time.monotonic()))
        checks.expect(not absent and not problem,
                      f"{node}: {len(absent)} acknowledged revocations missing from its CRL "
                      f"after {waited} s, e.g. {[hex(k) for k in sorted(absent)[:3]]} {problem}")
        try:
            answered = ocsp_statuses(node, args.issuing, args.chain, sorted(revoked))
            good_sample = sorted(k for k in received if k not in revoked)[:32]
            good = ocsp_statuses(node, args.issuing, args.chain, good_sample)
        except RuntimeError as error:
            checks.expect(False, str(error))
            continue
        wrong = [k for k in revoked if answered.get(k) != "revoked"]
        checks.expect(not wrong, f"{node}: OCSP does not answer revoked for {len(wrong)} "
                                 f"serials, e.g. {[hex(k) for k in wrong[:3]]}")
        wrong_good = [k for k in good_sample if good.get(k) != "good"]
        checks.expect(not wrong_good,
                      f"{node}: OCSP does not answer good for {len(wrong_good)} valid serials")
        session = call("GET", f"{node}/api/v1/admin/requests", token)
        checks.expect(session.ok, f"{node}: the session made before the kill is refused "
                                  f"({session.status} {session.problem})")
        print(f"{node}: {crl_name} lists {len(revoked) - len(absent)}/{len(revoked)} "
              f"({waited} s after the last revocation), OCSP revoked {len(revoked) - len(wrong)}/{len(revoked)}, "
              f"OCSP good {len(good_sample) - len(wrong_good)}/{len(good_sample)}, "
              f"session {'valid' if session.ok else 'refused'}")

    for outcome in loads:
        times = outcome["failure_times"]
        window = f" between {min(times)} s and {max(times)} s" if times else ""
        print(f"{outcome['run']}: {outcome['per_second']} certificates/s "
              f"({len(outcome['received'])} in {outcome['seconds']} s, "
              f"{outcome['clients']} clients), {len(outcome['revoked'])} revoked, "
              f"{sum(outcome['failures'].values())} failed requests{window} "
              f"{outcome['failures']}, {outcome['retries']} retries")
    if checks.failed:
        print(f"{len(checks.failed)} checks failed")
        sys.exit(1)
    print("all checks passed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("load")
    p.add_argument("--url", required=True, help="the balancer's base URL")
    p.add_argument("--token-file", required=True)
    p.add_argument("--account", required=True, type=int)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--revoke-every", type=int, default=4)
    p.add_argument("--run", required=True, help="a label for this run")
    p.add_argument("--watch-crl", nargs="*", default=[],
                   help="nodes whose CRL is fetched twice a second during the run")
    p.add_argument("--out", required=True)
    p = commands.add_parser("check")
    p.add_argument("--database", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--chain", required=True)
    p.add_argument("--issuing", required=True)
    p.add_argument("--crl-wait", type=float, default=75)
    p.add_argument("--nodes", required=True, nargs="+")
    p.add_argument("--results", required=True, nargs="+")
    args = parser.parse_args()
    {"load": load, "check": check}[args.command](args)


if __name__ == "__main__":
    main()
