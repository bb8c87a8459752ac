#!/usr/bin/env bash
# OCSP responses per second over HTTP on loopback: the release server on a fresh
# data directory (P-256 CA), one issued certificate, and wrk asking for its status
# with a GET request (RFC 6960 appendix A.1) for 10 s on 2 threads, 32 connections.
# Prints wrk's report; the "Requests/sec" line is the figure.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null 2>&1 || {
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq wrk; else sudo apt-get install -y -qq wrk; fi
}
work=$(mktemp -d)
cargo build --release --quiet --locked -p topca-server
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
target/release/topca-server --data-dir "$work/data" --listen "127.0.0.1:$port" --algorithm p256 > "$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do grep -q "TopCA is running" "$work/server.log" 2>/dev/null && break; sleep 0.2; done
base="http://127.0.0.1:$port"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench \
  -keyout "$work/user.key" -out "$work/user.csr" 2>/dev/null
python3 - "$base" "$work" <<'PY'
import email, email.policy, glob, json, os, sys, urllib.request
base, work = sys.argv[1], sys.argv[2]
def call(path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))
account = call("/api/v1/accounts?keyword=%E6%BC%94%E7%A4%BA%E9%83%A8%E9%97%A8")[0]["id"]
call(f"/api/v1/accounts/{account}/applications", {"name": "bench", "email": "bench@example.cn", "password": "bench-password-1"})
pin = None
for path in sorted(glob.glob(os.path.join(work, "data", "outbox", "*.eml"))):
    with open(path, "rb") as f:
        body = email.message_from_binary_file(f, policy=email.policy.default).get_body(("plain",)).get_content()
    for line in body.splitlines():
        if line.startswith("    "):
            pin = line.strip()
retrieved = call("/api/v1/retrievals", {"pin": pin, "password": "bench-password-1", "csr": open(os.path.join(work, "user.csr")).read()})
open(os.path.join(work, "user.pem"), "w").write(retrieved["certificate"]["pem"])
PY
python3 -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())' \
  "$base/TopCA/ca/issuing.cer" | openssl x509 -inform DER -out "$work/issuing.pem"
openssl ocsp -issuer "$work/issuing.pem" -cert "$work/user.pem" -no_nonce -reqout "$work/req.der"
request=$(base64 -w0 < "$work/req.der" | python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read(), safe=""))')
curl_check=$(python3 -c 'import sys, urllib.request; print(len(urllib.request.urlopen(sys.argv[1]).read()))' "$base/TopCA/ocsp/$request")
echo "one OCSP response: $curl_check bytes"
wrk -t2 -c32 -d10s "$base/TopCA/ocsp/$request"
