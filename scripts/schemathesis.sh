#!/usr/bin/env bash
# Checks the control plane against its own OpenAPI document with schemathesis (`--checks all`):
# builds the real `control-plane` binary, starts it on a free loopback port over a fresh data
# directory, runs schemathesis on `/openapi.json`, and stops the server. Fails on any finding.
#
# schemathesis (pinned in scripts/requirements-test.txt) is installed into ./.venv by
# scripts/venv.sh, only when that is missing or the pin changed. Settings and the reason for every exclusion live in
# scripts/schemathesis.toml; the one check excluded on the command line is explained below.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/venv.sh
venv=.venv

echo "==> cargo build (control-plane binary)"
# The same targets and features as the test run (scripts/test.sh), so that after it this
# builds nothing: a narrower build would resolve other features of the shared dependencies
# and compile the AWS SDK crates a second time.
cargo build --workspace --all-targets --all-features --locked
binary="${CARGO_TARGET_DIR:-target}/debug/control-plane"

work=$(mktemp -d)
server=""
stop() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT

# Only the settings given here: none from the caller's environment or a ./spotlight.toml.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^SPOTLIGHT_' || true)
token="schemathesis-operator-token"
SPOTLIGHT_CONFIG="$work/none.toml" \
  SPOTLIGHT_DATA_DIR="$work/data" \
  SPOTLIGHT_OPERATOR_TOKEN="$token" \
  SPOTLIGHT_CONTROL_PLANE_ADDR=127.0.0.1:0 \
  SPOTLIGHT_WAIT_TIMEOUT_SECS=5 \
  RUST_LOG=warn \
  "$binary" >"$work/stdout" 2>"$work/server.log" &
server=$!

# The binary prints its address first thing on stdout; then /readyz says when it serves.
base=""
for _ in $(seq 1 100); do
  base=$(sed -n 's/^Spotlight control plane listening on \(http:[^ ]*\)$/\1/p' "$work/stdout")
  if [ -n "$base" ] || ! kill -0 "$server" 2>/dev/null; then break; fi
  sleep 0.1
done
ready() {
  "$venv/bin/python" - "$1/readyz" <<'PY'
import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}
for _ in $(seq 1 100); do
  if [ -n "$base" ] && ready "$base"; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then base=""; break; fi
  sleep 0.1
done
if [ -z "$base" ] || ! ready "$base"; then
  echo "scripts/schemathesis.sh: the control plane did not become ready; its log:" >&2
  cat "$work/server.log" >&2
  exit 1
fi

echo "==> schemathesis --checks all on $base/openapi.json"
# `use_after_free` is left out: offboarding keeps a tombstone (`GET /tenants/{id}` answers 200
# with `status: deleted`, its API keys stay listed as revoked, the id is never reused), so a
# DELETE in this API never makes a resource vanish, which is all that check asserts.
# `--generation-deterministic` makes every run generate the same cases (it takes no seed).
status=0
HYPOTHESIS_STORAGE_DIRECTORY="$work/hypothesis" \
  "$venv/bin/schemathesis" --config-file scripts/schemathesis.toml \
  run "$base/openapi.json" --no-color \
  --checks all --exclude-checks use_after_free \
  --header "Authorization: Bearer $token" \
  --generation-deterministic \
  | tee "$work/schemathesis.out" || status=$?

# One plain closing line with the counts of schemathesis's summary.
counts=$(grep -E '^ *[0-9]+ generated, ' "$work/schemathesis.out" | tail -n 1 || true)
if [ "$status" -eq 0 ]; then
  passed=$(sed -n 's/.* \([0-9][0-9]*\) passed.*/\1/p' <<<"$counts")
  echo "schemathesis: ${passed:-0} passed, 0 failed"
else
  echo "scripts/schemathesis.sh: schemathesis reported findings (exit $status); server log:" >&2
  tail -n 50 "$work/server.log" >&2
  echo "schemathesis: failed:${counts:- no summary}"
fi
exit "$status"
