#!/usr/bin/env bash
# Server throughput on loopback, TopCA against the django-ca peer kit in the same run,
# interleaved in rounds (TopCA, then the peer, ROUNDS times; the median of the rounds
# is printed). TopCA is the release topca-server on a fresh --demo data directory
# (P-256 CA, SQLite) with a machine client of the demo server account; the load
# client is wrk (with Lua scripts) or Python on the same cores.
#
# Prints TSV lines `metric  alg  clients  topca  peer  ratio`; lines starting with `#`
# say how each figure was measured. The ratio is how many times better TopCA is:
# topca/peer for rates, peer/topca for times; `-` where the peer has no figure.
#
# Environment (defaults in brackets):
#   TOPCA_BENCH_PEER  the django-ca peer kit [../shared/peers/django-ca from the repository root]
#   ROUNDS            rounds of TopCA then peer [3]
#   DURATION          each wrk run [10s]
#   OCSP_CLIENTS      wrk connections for OCSP [32]
#   BATCH_CALLS       batch calls of 1,000 CSRs per round [3]
#   PEER_N            certificates per in-process peer issuance run [200]
#   CRL_COUNTS        revoked entries of the TopCA CRLs, built in this order [10000 100000]
#   PEER_CRL          1: also run the peer's bench_crl.py (P-256 CA) at the first count:
#                     minutes (the kit's README: ~11 min for 10,000 on both its CAs) [0]
#   OTHER_CAS         CA algorithms whose single calls at c=8 are measured too, each on
#                     its own fresh --demo server after the P-256 rounds, with an
#                     `openssl speed rsa2048` sign/s row as the RSA reference [rsa2048 sm2]
#   MEM_ISSUES        certificates issued through the API in the memory bursts [100000]
#   MEM_OCSP          OCSP GET requests in the memory bursts [1000000]
#   MEM_BURSTS        bursts they are split into, RSS sampled after each [10]
#   TOPCA_BENCH_BIN   a topca-server binary to measure instead of building this tree's [unset]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
peer=$(realpath -m "${TOPCA_BENCH_PEER:-$root/../shared/peers/django-ca}")
rounds=${ROUNDS:-3}
duration=${DURATION:-10s}
ocsp_clients=${OCSP_CLIENTS:-32}
batch_calls=${BATCH_CALLS:-3}
peer_n=${PEER_N:-200}
crl_counts=${CRL_COUNTS:-10000 100000}
peer_crl=${PEER_CRL:-0}
other_cas=${OTHER_CAS-rsa2048 sm2}
mem_issues=${MEM_ISSUES:-100000}
mem_ocsp=${MEM_OCSP:-1000000}
mem_bursts=${MEM_BURSTS:-10}

[ -x "$peer/setup.sh" ] || { echo "server.sh: no django-ca peer kit at $peer (set TOPCA_BENCH_PEER)" >&2; exit 1; }
command -v wrk >/dev/null 2>&1 || {
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq wrk; else sudo apt-get install -y -qq wrk; fi
}
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install --quiet cryptography

if [ -n "${TOPCA_BENCH_BIN:-}" ]; then
  bin=$(realpath "$TOPCA_BENCH_BIN")
else
  cargo build --release --quiet --locked -p topca-server
  bin=$root/target/release/topca-server
fi
work=$(mktemp -d)
server=""
other_server=""
peer_started=0
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  # shellcheck disable=SC2086 # a list of pids
  if [ -n "$other_server" ]; then kill $other_server 2>/dev/null || true; wait $other_server 2>/dev/null || true; fi
  if [ "$peer_started" = 1 ]; then "$peer/setup.sh" stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
fetch() { curl -fsS --noproxy '*' "$@"; }
results=$work/results   # lines: metric alg clients side value
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$results"; }
# measure METRIC ALG CLIENTS SIDE COMMAND...: records what COMMAND prints (it must succeed).
measure() { local value; value=$("${@:5}"); record "$1" "$2" "$3" "$4" "$value"; }
# wrk's Requests/sec; an answer other than 2xx (201 for issuance) fails the benchmark,
# socket errors (timeouts of a saturated peer) are reported on stderr.
wrk_rate() {
  local out
  out=$(wrk --timeout 10s "$@")
  if grep -Eq 'Non-2xx|^refused: [1-9]' <<< "$out"; then
    echo "server.sh: wrk $* had failures:" >&2; echo "$out" >&2; exit 1
  fi
  grep "Socket errors" <<< "$out" | sed "s|^ *|# wrk: |" >&2 || true
  awk '/^Requests\/sec:/ {print $2}' <<< "$out"
}

# --- the peer: installed (idempotent), CSRs for its in-process issuance, gunicorn ---
"$peer/setup.sh" > "$work/peer-setup.log" 2>&1 || { cat "$work/peer-setup.log" >&2; exit 1; }
peer_py=$peer/.venv/bin/python
"$peer_py" "$peer/bench/gen_csrs.py" "$peer_n" > /dev/null
peer_port=$(free_port)
if [ -f "$peer/run/server.pid" ] && kill -0 "$(cat "$peer/run/server.pid")" 2>/dev/null; then
  echo "server.sh: a peer server started by someone else is running; stop it first" >&2
  exit 1
fi
PORT=$peer_port "$peer/setup.sh" serve > /dev/null
peer_started=1
peer_base="http://127.0.0.1:$peer_port"

# --- TopCA: a fresh demo server and a machine client of the demo server account ---
port=$(free_port)
base="http://127.0.0.1:$port"
# start_server: the release server on $work/data in the background ($server); prints
# the seconds from exec to its first answer (GET /healthz, polled every 10 ms).
start_server() {
  local started
  started=$(date +%s.%N)
  "$bin" --data-dir "$work/data" --listen "127.0.0.1:$port" --algorithm p256 --demo \
    > "$work/server.out" 2>> "$work/server.log" &
  server=$!
  for _ in $(seq 1 1500); do fetch -o /dev/null "$base/healthz" 2>/dev/null && break; sleep 0.01; done
  python3 -c "print(f'{$(date +%s.%N) - $started:.3f}')"
}
# A fresh --demo start makes the CA keys and hashes the demo passwords; a restart
# on the data of the whole run is measured at the end.
start_server > "$work/first-answer"
grep -q "TopCA is running" "$work/server.out" || { cat "$work/server.log" >&2; exit 1; }
record first_answer_s P-256 fresh topca "$(cat "$work/first-answer")"
record rss_start_mb P-256 0 topca "$(rss_mb "$server")"
account=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT account_id FROM machine_clients WHERE name = ?", ("acme",)).fetchone()[0])' "$work/data/topca.db")
"$bin" client add bench --account "$account" --data-dir "$work/data" > "$work/client.out"
token=$(awk 'found {print $1; exit} /its API token/ {found = 1}' "$work/client.out")
[ -n "$token" ] || { cat "$work/client.out" >&2; exit 1; }

# 2,000 P-256 CSRs for names under example.cn (a key each), made before any timing:
# one JSON request a line for the single calls, the first 1,000 as a batch body.
python3 - "$work" <<'PY'
import json, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
work = sys.argv[1]
requests = []
for i in range(2000):
    name = f"bench{i}.example.cn"
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    requests.append({"csr": csr.public_bytes(serialization.Encoding.PEM).decode()})
with open(f"{work}/single.jsonl", "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in requests)
with open(f"{work}/batch.json", "w") as f:
    json.dump({"requests": requests[:1000]}, f)
PY

cat > "$work/single.lua" <<'LUA'
-- POST /api/v1/certificates with the bodies of a file (one a line), each thread
-- from its own offset; any answer but 201 is counted and reported.
local threads, count = {}, 0
function setup(thread)
  thread:set("tid", count)
  count = count + 1
  table.insert(threads, thread)
end
function init(args)
  bodies = {}
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. args[2] }
  i, bad = tid * 997, 0
end
function request()
  i = i + 1
  return wrk.format("POST", "/api/v1/certificates", headers, bodies[(i % #bodies) + 1])
end
function response(status)
  if status ~= 201 then bad = bad + 1 end
end
function done()
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("refused: %d\n", total))
end
LUA
cat > "$work/post.lua" <<'LUA'
-- The same OCSP request (DER, from the file in BENCH_OCSP_REQUEST) POSTed each time.
local f = assert(io.open(os.getenv("BENCH_OCSP_REQUEST"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/ocsp-request"
LUA
cat > "$work/batch.py" <<'PY'
"""CALLS batch calls of the body in BODY; prints certificates stored per second and
writes the serials to SERIALS. Usage: batch.py BASE TOKEN BODY CALLS SERIALS"""
import json, sys, time, urllib.request
base, token, body_path, calls, serials_path = sys.argv[1:6]
body = open(body_path, "rb").read()
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
serials = []
start = time.perf_counter()
for _ in range(int(calls)):
    request = urllib.request.Request(base + "/api/v1/certificates/batch", data=body, headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + token})
    results = json.load(opener.open(request, timeout=600))["results"]
    failed = [r["error"] for r in results if "serial" not in r]
    if failed:
        sys.exit(f"batch: {len(failed)} refused, first: {failed[0]}")
    serials += [r["serial"] for r in results]
elapsed = time.perf_counter() - start
with open(serials_path, "a") as f:
    f.writelines(s + "\n" for s in serials)
print(f"{len(serials) / elapsed:.1f}")
PY

# One issued certificate, its OCSP request without a nonce (GET: base64, URL-encoded,
# RFC 5019), and a check that the answer is signed and "good".
head -n1 "$work/single.jsonl" | fetch -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  --data-binary @- "$base/api/v1/certificates" > "$work/issued.json"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
issued = json.load(open(f"{work}/issued.json"))
open(f"{work}/leaf.pem", "w").write(issued["certificate"])
open(f"{work}/chain.pem", "w").write(issued["chain"])
PY
openssl x509 -in "$work/chain.pem" -out "$work/issuing.pem"
openssl ocsp -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -no_nonce -reqout "$work/req.der" > /dev/null
urlpath() { base64 -w0 < "$1" | python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.stdin.read(), safe=""))'; }
ocsp_get="$base/TopCA/ocsp/$(urlpath "$work/req.der")"
fetch "$ocsp_get" > "$work/resp.der"
openssl ocsp -respin "$work/resp.der" -issuer "$work/issuing.pem" -cert "$work/leaf.pem" -CAfile "$work/chain.pem" \
  > "$work/resp.txt" 2>&1
grep -q "Response verify OK" "$work/resp.txt" && grep -q ": good" "$work/resp.txt" ||
  { cat "$work/resp.txt" >&2; echo "server.sh: TopCA's OCSP answer is not a verified 'good'" >&2; exit 1; }

# The peer's OCSP request for its newest non-revoked P-256 leaf (made by gen/issue runs).
(cd "$peer/bench" && "$peer_py" bench_issue.py 1 1 > /dev/null)
peer_serial=$(cd "$peer/bench" && "$peer_py" - "$work" <<'PY'
import sys
from _django import RUN_DIR  # noqa: F401  (sets up Django)
from cryptography.hazmat.primitives.serialization import Encoding
from django_ca.models import Certificate, CertificateAuthority
ca = CertificateAuthority.objects.get(name="bench-ec")
cert = Certificate.objects.filter(ca=ca, revoked=False, autogenerated=False).order_by("pk").last()
open(f"{sys.argv[1]}/peer-ca.pem", "wb").write(ca.pub.loaded.public_bytes(Encoding.PEM))
open(f"{sys.argv[1]}/peer-leaf.pem", "wb").write(cert.pub.loaded.public_bytes(Encoding.PEM))
print(ca.serial)
PY
)
openssl ocsp -issuer "$work/peer-ca.pem" -cert "$work/peer-leaf.pem" -no_nonce -reqout "$work/peer-req.der" > /dev/null
peer_ocsp="$peer_base/django_ca/ocsp/$peer_serial/cert/"
peer_get="$peer_ocsp$(urlpath "$work/peer-req.der")"
peer_get_ok=1
fetch -o /dev/null "$peer_get" 2>/dev/null || peer_get_ok=0

for round in $(seq 1 "$rounds"); do
  echo "# round $round of $rounds: TopCA" >&2
  measure issue_single_certs_per_s P-256 1 topca \
    wrk_rate -t1 -c1 -d"$duration" -s "$work/single.lua" "$base" -- "$work/single.jsonl" "$token"
  measure issue_single_certs_per_s P-256 8 topca \
    wrk_rate -t2 -c8 -d"$duration" -s "$work/single.lua" "$base" -- "$work/single.jsonl" "$token"
  measure issue_batch_certs_per_s P-256 1 topca \
    python3 "$work/batch.py" "$base" "$token" "$work/batch.json" "$batch_calls" "$work/batch-serials"
  measure ocsp_get_per_s P-256 "$ocsp_clients" topca wrk_rate -t2 -c"$ocsp_clients" -d"$duration" "$ocsp_get"
  export BENCH_OCSP_REQUEST=$work/req.der
  measure ocsp_post_per_s P-256 "$ocsp_clients" topca \
    wrk_rate -t2 -c"$ocsp_clients" -d"$duration" -s "$work/post.lua" "$base/TopCA/ocsp"

  echo "# round $round of $rounds: django-ca" >&2
  rate=$(cd "$peer/bench" && "$peer_py" bench_issue.py "$peer_n" 1 | tail -n1 |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["ec"]["median_certs_per_s"])')
  [ -n "$rate" ]
  record issue_single_certs_per_s P-256 1 peer "$rate"
  record issue_single_certs_per_s P-256 8 peer "$rate"
  record issue_batch_certs_per_s P-256 1 peer "$rate"
  if [ "$peer_get_ok" = 1 ]; then
    measure ocsp_get_per_s P-256 "$ocsp_clients" peer wrk_rate -t2 -c"$ocsp_clients" -d"$duration" "$peer_get"
  fi
  export BENCH_OCSP_REQUEST=$work/peer-req.der
  measure ocsp_post_per_s P-256 "$ocsp_clients" peer \
    wrk_rate -t2 -c"$ocsp_clients" -d"$duration" -s "$work/post.lua" "$peer_ocsp"
done
record rss_after_load_mb P-256 0 topca "$(rss_mb "$server")"
peer_rss=0
for pid in $(cat "$peer/run/server.pid") $(pgrep -P "$(cat "$peer/run/server.pid")" || true); do
  peer_rss=$(python3 -c "print($peer_rss + $(rss_mb "$pid"))")
done
record rss_after_load_mb P-256 0 peer "$peer_rss"

# Memory: MEM_ISSUES certificates through the API and MEM_OCSP OCSP GET requests, in
# MEM_BURSTS bursts; the server's VmRSS after each (the burst's number in the clients
# column), so growth from burst to burst shows. A burst: a fifth of its certificates
# by single calls (wrk c=8, 2 s runs until the count is reached), the rest in batch
# calls of 1,000; then its OCSP requests (wrk c=32, 5 s runs until the count) spread
# over every certificate issued so far, so the in-memory responses fill up.
cat > "$work/paths.lua" <<'LUA'
-- GET the paths of a file (one a line) in turn, each thread from its own offset;
-- any answer but 200 is counted and reported.
local threads, count = {}, 0
function setup(thread)
  thread:set("tid", count)
  count = count + 1
  table.insert(threads, thread)
end
function init(args)
  paths = {}
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i, bad = tid * 7919, 0
end
function request()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
function response(status)
  if status ~= 200 then bad = bad + 1 end
end
function done()
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("refused: %d\n", total))
end
LUA
# OCSP GET paths (RFC 5019) for the serials in SERIALS, named by the issuing CA's hashes.
cat > "$work/ocsp_paths.py" <<'PY'
import base64, sys, urllib.parse
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
issuing, serials, out = sys.argv[1:4]
issuer = x509.load_pem_x509_certificate(open(issuing, "rb").read())
def sha1(data):
    h = hashes.Hash(hashes.SHA1())
    h.update(data)
    return h.finalize()
name_hash = sha1(issuer.subject.public_bytes())
key_hash = sha1(issuer.public_key().public_bytes(
    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
with open(out, "w") as f:
    for serial in open(serials):
        request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
            name_hash, key_hash, int(serial, 16), hashes.SHA1()).build()
        der = base64.b64encode(request.public_bytes(serialization.Encoding.DER)).decode()
        f.write("/TopCA/ocsp/" + urllib.parse.quote(der, safe="") + "\n")
PY
# wrk_count N ARGS...: wrk runs of ARGS until N requests were answered (all 2xx).
wrk_count() {
  local want=$1 done=0 out
  shift
  while [ "$done" -lt "$want" ]; do
    out=$(wrk --timeout 10s "$@")
    if grep -Eq 'Non-2xx|^refused: [1-9]' <<< "$out"; then
      echo "server.sh: wrk $* had failures:" >&2; echo "$out" >&2; exit 1
    fi
    done=$((done + $(awk '/ requests in / {print $1}' <<< "$out")))
  done
}
per_burst=$(( (mem_issues + mem_bursts - 1) / mem_bursts ))
singles=$(( per_burst / 5 ))
batches=$(( (per_burst - singles + 999) / 1000 ))
ocsp_per_burst=$(( (mem_ocsp + mem_bursts - 1) / mem_bursts ))
: > "$work/mem-serials"
for burst in $(seq 1 "$mem_bursts"); do
  echo "# memory burst $burst of $mem_bursts" >&2
  wrk_count "$singles" -t2 -c8 -d2s -s "$work/single.lua" "$base" -- "$work/single.jsonl" "$token"
  python3 "$work/batch.py" "$base" "$token" "$work/batch.json" "$batches" "$work/mem-serials" > /dev/null
  python3 "$work/ocsp_paths.py" "$work/issuing.pem" "$work/mem-serials" "$work/ocsp-paths"
  wrk_count "$ocsp_per_burst" -t2 -c32 -d5s -s "$work/paths.lua" "$base" -- "$work/ocsp-paths"
  record rss_mb_after_burst P-256 "$burst" topca "$(rss_mb "$server")"
  record threads_after_burst P-256 "$burst" topca "$(find "/proc/$server/task" -mindepth 1 -maxdepth 1 | wc -l)"
done
# The same server at rest: what is still held 15 s after the last burst.
sleep 15
record rss_mb_idle_after_bursts P-256 "$mem_bursts" topca "$(rss_mb "$server")"

# CRLs built from the store: certificates issued through the batch API, revoked in the
# store directly (no bulk revocation call exists; the CRL reads only the store), then
# `topca-server ca crl` timed 3 times (a process: start, load, build, sign, store).
now_ns=$(python3 -c 'import time; print(time.time_ns())')
revoked=0
for count in $crl_counts; do
  echo "# CRL of $count entries: issuing and revoking" >&2
  : > "$work/crl-serials"
  need=$(( (count - revoked + 999) / 1000 ))
  python3 "$work/batch.py" "$base" "$token" "$work/batch.json" "$need" "$work/crl-serials" > /dev/null
  python3 - "$work/data/topca.db" "$work/crl-serials" "$((count - revoked))" "$now_ns" <<'PY'
import sqlite3, sys
db, serials, n, at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = [(at, s.strip().upper()) for s in open(serials)][:n]
with sqlite3.connect(db, timeout=60) as c:
    c.executemany("UPDATE certificates SET status = 2, revoked_at = ?, revocation_reason = 1 WHERE serial = ?", rows)
PY
  revoked=$count
  times=()
  for _ in 1 2 3; do
    start=$(date +%s.%N)
    "$bin" ca crl --data-dir "$work/data" > "$work/crl.out"
    times+=("$(python3 -c "print(f'{$(date +%s.%N) - $start:.3f}')")")
    entries=$(grep -Eo '[0-9]+ revoked certificates' "$work/crl.out" | cut -d' ' -f1)
    [ "${entries:-0}" -ge "$count" ] || { cat "$work/crl.out" >&2; exit 1; }
  done
  for t in "${times[@]}"; do record "crl_${count}_entries_s" P-256 1 topca "$t"; done
done
record rss_after_crl_mb P-256 0 topca "$(rss_mb "$server")"
# A restart on the data of the whole run: the time to the first answer and the RSS then.
kill "$server"; wait "$server" 2>/dev/null || true
start_server > "$work/first-answer"
record first_answer_s P-256 restart topca "$(cat "$work/first-answer")"
record rss_restart_mb P-256 0 topca "$(rss_mb "$server")"
if [ "$peer_crl" = 1 ]; then
  first=${crl_counts%% *}
  (cd "$peer/bench" && "$peer_py" bench_crl.py ec "$first") > "$work/peer-crl.log"
  record "crl_${first}_entries_s" P-256 1 peer "$(awk '/in-process CRL median/ {print $5}' "$work/peer-crl.log" | tr -d s)"
fi

# Single calls at c=8 with CAs of other algorithms (the same P-256 CSRs: what changes
# is the CA's signature), each on its own fresh --demo server, ROUNDS runs each; and
# OpenSSL's raw RSA-2048 signatures per second on one core and on every core, the
# reference of the RSA row (ratio = TopCA's certificates/s over OpenSSL's sign/s).
# The reference of every other row is a fresh P-256 CA started with it and measured
# in turn with it, round by round (the host's speed moves between the parts of a run).
# start_other ALG NAME: a fresh --demo server of ALG in $work/data-NAME; sets
# other_port, other_token, and adds its pid to other_server.
start_other() {
  local alg=$1 name=$2 account
  other_port=$(free_port)
  "$bin" --data-dir "$work/data-$name" --listen "127.0.0.1:$other_port" --algorithm "$alg" --demo \
    > "$work/server-$name.out" 2> "$work/server-$name.log" &
  other_server="$other_server $!"
  for _ in $(seq 1 300); do grep -q "TopCA is running" "$work/server-$name.out" 2>/dev/null && break; sleep 0.1; done
  grep -q "TopCA is running" "$work/server-$name.out" || { cat "$work/server-$name.log" >&2; exit 1; }
  account=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT account_id FROM machine_clients WHERE name = ?", ("acme",)).fetchone()[0])' "$work/data-$name/topca.db")
  "$bin" client add bench --account "$account" --data-dir "$work/data-$name" > "$work/client-$name.out"
  other_token=$(awk 'found {print $1; exit} /its API token/ {found = 1}' "$work/client-$name.out")
  [ -n "$other_token" ] || { cat "$work/client-$name.out" >&2; exit 1; }
}
for alg in $other_cas; do
  label=$(case $alg in rsa2048) echo RSA-2048 ;; sm2) echo SM2 ;; p384) echo P-384 ;; ed25519) echo Ed25519 ;; *) echo "$alg" ;; esac)
  echo "# single calls, $label CA" >&2
  other_server=""
  start_other "$alg" "$alg"
  port_alg=$other_port token_alg=$other_token
  if [ "$alg" != rsa2048 ]; then
    start_other p256 "p256-for-$alg"
    port_ref=$other_port token_ref=$other_token
  fi
  for round in $(seq 1 "$rounds"); do
    if [ "$alg" != rsa2048 ]; then
      measure issue_single_fresh_p256_certs_per_s "$label" 8 topca \
        wrk_rate -t2 -c8 -d"$duration" -s "$work/single.lua" "http://127.0.0.1:$port_ref" -- "$work/single.jsonl" "$token_ref"
    fi
    measure issue_single_certs_per_s "$label" 8 topca \
      wrk_rate -t2 -c8 -d"$duration" -s "$work/single.lua" "http://127.0.0.1:$port_alg" -- "$work/single.jsonl" "$token_alg"
  done
  # shellcheck disable=SC2086 # a list of pids
  kill $other_server; wait $other_server 2>/dev/null || true; other_server=""
  if [ "$alg" = rsa2048 ]; then
    for cores in 1 "$(nproc)"; do
      sign=$(openssl speed -seconds 3 -multi "$cores" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6}')
      [ -n "$sign" ] || { echo "server.sh: no figure from openssl speed rsa2048" >&2; exit 1; }
      record openssl_rsa2048_sign_per_s RSA-2048 "$cores" topca "$sign"
    done
  fi
done

echo "# TopCA: release topca-server, --demo data directory on SQLite, P-256 CA; load from wrk/Python on the same cores"
echo "# issue_single: wrk POST /api/v1/certificates (bearer token of a machine client), pre-made CSRs; peer: django-ca's in-process create_cert() loop (bench/bench_issue.py, one process, no HTTP), the same figure for c=1, c=8 and batch"
echo "# issue_batch: $batch_calls calls of 1,000 CSRs to /api/v1/certificates/batch per round, certificates stored per second"
echo "# ocsp_get/post: wrk, one request without nonce (GET: RFC 5019 base64 path); peer: django-ca under gunicorn -w 2 (setup.sh serve)$([ "$peer_get_ok" = 1 ] || echo "; the peer's GET path did not answer: -")"
echo "# crl_N_entries_s: seconds for \`topca-server ca crl\` with N revoked; peer: bench_crl.py in-process CRL creation$([ "$peer_crl" = 1 ] || echo " (not run: set PEER_CRL=1; minutes per 10,000)")"
echo "# rss: VmRSS of topca-server; peer: gunicorn master and workers after the OCSP load"
echo "# issue_single with RSA-2048, SM2 (OTHER_CAS): the same wrk load at c=8 on a fresh --demo server with a CA of that algorithm; openssl_rsa2048_sign_per_s: \`openssl speed -seconds 3 -multi N rsa2048\` sign/s on N cores, the RSA row's ratio is over the figure on every core; issue_single_fresh_p256: a fresh P-256 CA started with each other (non-RSA) CA and measured in turn with it, round by round, the reference of its ratio"
echo "# rss_mb_after_burst, threads_after_burst: clients = the burst's number; $mem_bursts bursts of $per_burst certificates (a fifth by single calls, the rest in batches) and $ocsp_per_burst OCSP GETs spread over every certificate issued in them"
echo "# first_answer_s: seconds from exec to the first answer to GET /healthz; clients = fresh (--demo first start) or restart (on the run's data)"
echo "# median of $rounds rounds (CRL: of 3 runs); ratio = topca/peer for rates, peer/topca for seconds"
printf 'metric\talg\tclients\ttopca\tpeer\tratio\n'
python3 - "$results" <<'PY'
import statistics, sys
values = {}
for line in open(sys.argv[1]):
    metric, alg, clients, side, value = line.rstrip("\n").split("\t")
    values.setdefault((metric, alg, clients), {}).setdefault(side, []).append(float(value))
for (metric, alg, clients), sides in values.items():
    topca = statistics.median(sides["topca"])
    peer = statistics.median(sides["peer"]) if "peer" in sides else None
    ratio = "-"
    if peer and topca and not metric.startswith("rss"):
        ratio = f"{(peer / topca if metric.endswith('_s') and metric.startswith('crl') else topca / peer):.2f}"
    fmt = (lambda v: f"{v:.3f}") if metric.startswith(("crl", "first_answer")) else (lambda v: f"{v:.1f}")
    if metric.startswith("threads"):
        fmt = lambda v: f"{v:.0f}"
    print("\t".join([metric, alg, clients, fmt(topca), "-" if peer is None else fmt(peer), ratio]))
# The other CAs' single calls against their references: RSA-2048 over OpenSSL's
# raw RSA-2048 sign/s on every core, the others over the fresh P-256 CA measured in
# turn with them (else the P-256 CA of the rounds).
single = {alg: statistics.median(v["topca"]) for (m, alg, c), v in values.items()
          if m == "issue_single_certs_per_s" and c == "8"}
fresh_p256 = {alg: statistics.median(v["topca"]) for (m, alg, c), v in values.items()
              if m == "issue_single_fresh_p256_certs_per_s"}
speed = [(int(c), statistics.median(v["topca"])) for (m, alg, c), v in values.items()
         if m == "openssl_rsa2048_sign_per_s"]
for alg, rate in single.items():
    if alg == "P-256":
        continue
    if alg == "RSA-2048" and speed:
        reference, name = max(speed)[1], "openssl_rsa2048_sign_per_s"
    elif alg in fresh_p256:
        reference, name = fresh_p256[alg], "fresh P-256 in turn"
    elif "P-256" in single:
        reference, name = single["P-256"], "P-256"
    else:
        continue
    print(f"issue_single_vs_reference\t{alg}\t8\t{rate:.1f}\t{reference:.1f} ({name})\t{rate / reference:.2f}")
PY
