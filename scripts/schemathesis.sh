#!/usr/bin/env bash
# Checks both services against their own OpenAPI documents with schemathesis (`--checks all`):
# builds the real binaries, starts the control plane on a free loopback port over a fresh data
# directory and runs schemathesis on its `/openapi.json`; then starts the data plane over the
# same directory, onboards a tenant through the control plane, and runs schemathesis on the data
# plane's document with that tenant's secret key. Fails on any finding of either run.
#
# schemathesis (pinned in scripts/requirements-test.txt) is installed into ./.venv by
# scripts/venv.sh, only when that is missing or the pin changed. Settings and the reason for
# every exclusion live in scripts/schemathesis.toml (control plane) and
# scripts/schemathesis-data-plane.toml; the checks excluded on the command line are explained
# below.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/venv.sh
venv=.venv

echo "==> cargo build (the control-plane and data-plane binaries)"
# The same targets and features as the test run (scripts/test.sh), so that after it this
# builds nothing: a narrower build would resolve other features of the shared dependencies
# and compile the AWS SDK crates a second time.
cargo build --workspace --all-targets --all-features --locked

work=$(mktemp -d)
servers=()
stop() {
  for pid in "${servers[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap stop EXIT

# Only the settings given here: none from the caller's environment or a ./spotlight.toml.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^SPOTLIGHT_' || true)
token="schemathesis-operator-token"
export SPOTLIGHT_CONFIG="$work/none.toml" SPOTLIGHT_DATA_DIR="$work/data" \
  SPOTLIGHT_OPERATOR_TOKEN="$token" SPOTLIGHT_CONTROL_PLANE_ADDR=127.0.0.1:0 \
  SPOTLIGHT_DATA_PLANE_ADDR=127.0.0.1:0 SPOTLIGHT_WAIT_TIMEOUT_SECS=5 RUST_LOG=warn

ready() {
  "$venv/bin/python" - "$1/readyz" <<'PY'
import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

# Starts binary $1 (its banner says "Spotlight $2 listening on …") and sets $base to its
# address once /readyz answers; its output goes to $work/$1.{stdout,log}.
start() {
  local binary="${CARGO_TARGET_DIR:-target}/debug/$1"
  "$binary" >"$work/$1.stdout" 2>"$work/$1.log" &
  local pid=$!
  servers+=("$pid")
  base=""
  for _ in $(seq 1 100); do
    base=$(sed -n "s/^Spotlight $2 listening on \(http:[^ ]*\)$/\1/p" "$work/$1.stdout")
    if [ -n "$base" ] || ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  for _ in $(seq 1 100); do
    if [ -n "$base" ] && ready "$base"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "scripts/schemathesis.sh: the $2 did not become ready; its log:" >&2
  cat "$work/$1.log" >&2
  exit 1
}

# check NAME URL CONFIG ARGS…: runs schemathesis with scripts/CONFIG.toml on URL/openapi.json
# with ARGS; NAME is the binary whose log is shown on findings. Prints one closing line.
status=0
check() {
  local name=$1 url=$2 config=$3
  shift 3
  echo "==> schemathesis --checks all on $url/openapi.json ($name)"
  local code=0
  HYPOTHESIS_STORAGE_DIRECTORY="$work/hypothesis-$name" \
    "$venv/bin/schemathesis" --config-file "scripts/$config.toml" \
    run "$url/openapi.json" --no-color --checks all --generation-deterministic "$@" \
    | tee "$work/$name.out" || code=$?
  local counts
  counts=$(grep -E '^ *[0-9]+ generated, ' "$work/$name.out" | tail -n 1 || true)
  if [ "$code" -eq 0 ]; then
    local passed
    passed=$(sed -n 's/.* \([0-9][0-9]*\) passed.*/\1/p' <<<"$counts")
    echo "schemathesis ($name): ${passed:-0} passed, 0 failed"
  else
    echo "scripts/schemathesis.sh: schemathesis reported findings on the $name (exit $code); server log:" >&2
    tail -n 50 "$work/$name.log" >&2 || true
    echo "schemathesis ($name): failed:${counts:- no summary}"
    status=$code
  fi
}

start control-plane "control plane"
control_plane=$base
# `use_after_free` is left out: offboarding keeps a tombstone (`GET /tenants/{id}` answers 200
# with `status: deleted`, its API keys stay listed as revoked, the id is never reused), so a
# DELETE in this API never makes a resource vanish, which is all that check asserts.
# `ensure_resource_availability` is left out: it follows `POST /tenants` to every GET under
# `/tenants/{id}` and takes `404 identity_not_configured` — a new tenant has no end-user
# identity until one is PUT, as documented — for a lost tenant (a per-operation setting in the
# config file does not hold against `--checks all`).
# `--generation-deterministic` makes every run generate the same cases (it takes no seed).
check control-plane "$control_plane" schemathesis \
  --exclude-checks use_after_free,ensure_resource_availability --header "Authorization: Bearer $token"

# The data plane, over the same data directory, with a tenant of its own and a secret key
# (a server-side caller: no Origin), onboarded through the control plane.
start data-plane "data plane"
data_plane=$base
key=$("$venv/bin/python" - "$control_plane" "$token" <<'PY'
import json, sys, urllib.request
base, token = sys.argv[1], sys.argv[2]
def call(path, body):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=30))
tenant = call("/tenants?wait=true", {"id": "schemathesis-dp", "name": "Schemathesis",
    "owner_email": "ops@schemathesis.example", "allowed_origins": ["https://app.schemathesis.example"]})
assert tenant["status"] == "active", tenant
print(call("/tenants/schemathesis-dp/api-keys", {"kind": "secret"})["key"])
PY
)
check data-plane "$data_plane" schemathesis-data-plane --header "X-Api-Key: $key"
exit "$status"
