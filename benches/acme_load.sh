#!/usr/bin/env bash
# ACME load run: a --demo server (P-256 CA) on a free loopback port in a
# scratch data directory, its http-01 validator pointed at a free port
# (TOPCA_ACME_HTTP01_PORT) where benches/acme_load.py answers for all its
# clients; N clients loop full http-01 orders for `localhost` for D seconds.
# The server's new-order limits (TOPCA_ACME_ORDERS_PER_ACCOUNT, 300 an hour,
# and TOPCA_ACME_ORDERS_PER_NAME, 50 an hour) are raised for the run to
# ACME_ORDER_LIMIT (1,000,000) so that it measures the server, not the limit;
# set ACME_ORDER_LIMIT=50 to see the limit at work (rateLimited answers are
# counted as errors, then 1 s of waiting).
#
# Usage: benches/acme_load.sh PATH/TO/topca-server [SCRATCH_DIR]
# Env: ACME_ORDER_LIMIT (1000000), ACME_CLIENTS (8), ACME_DURATION (60), ACME_POLL, ACME_ON_RATE_LIMIT,
# ACME_NAMES (see benches/acme_load.py). Installs acme/josepy/cryptography
# with pip when missing. Stops the server it started.
set -euo pipefail

bin=$(realpath "${1:?usage: benches/acme_load.sh PATH/TO/topca-server [SCRATCH_DIR]}")
scratch=${2:-$(mktemp -d /tmp/acme-load.XXXXXX)}
rm -rf "$scratch"
mkdir -p "$scratch"
scratch=$(realpath "$scratch")
here=$(dirname "$(realpath "$0")")

if ! python3 -c 'import acme, josepy, cryptography' >/dev/null 2>&1; then
  echo "acme_load: installing acme josepy cryptography (pip)"
  python3 -m pip install -q acme josepy cryptography > "$scratch/pip.log" 2>&1 \
    || { cat "$scratch/pip.log" >&2; exit 1; }
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
http01=$(free_port)

server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap "exit 143" TERM INT

mkdir -m 700 "$scratch/data"
limit=${ACME_ORDER_LIMIT:-1000000}
TOPCA_ACME_ORDERS_PER_ACCOUNT=$limit TOPCA_ACME_ORDERS_PER_NAME=$limit TOPCA_ACME_HTTP01_PORT=$http01 "$bin" --data-dir "$scratch/data" --listen "127.0.0.1:$port" \
  --algorithm p256 --demo > "$scratch/server.out" 2> "$scratch/server.log" &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q "TopCA is running" "$scratch/server.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.2
done
if ! grep -q "TopCA is running" "$scratch/server.out"; then
  cat "$scratch/server.out" "$scratch/server.log" >&2
  echo "acme_load: the server did not start" >&2
  exit 1
fi

echo "acme_load: server $bin on 127.0.0.1:$port, http-01 on $http01, scratch $scratch"
TOPCA_ACME_HTTP01_PORT=$http01 python3 "$here/acme_load.py" \
  --directory "http://127.0.0.1:$port/acme/directory"
