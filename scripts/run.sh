#!/usr/bin/env bash
# Builds and runs Spotlight on the embedded backend — the control plane and the data plane
# together, no AWS account, no network — then onboards a demo tenant with one content item of
# each kind and prints API keys and curl calls to try (scripts/demo.sh; needs curl). State
# lives in ./.spotlight (ignored by git) unless SPOTLIGHT_DATA_DIR says otherwise. Ctrl-C stops
# both services.
set -euo pipefail
cd "$(dirname "$0")/.."
export SPOTLIGHT_DATA_DIR="${SPOTLIGHT_DATA_DIR:-$PWD/.spotlight}"
export RUST_LOG="${RUST_LOG:-info}"
CONTROL_PLANE_ADDR="${SPOTLIGHT_CONTROL_PLANE_ADDR:-127.0.0.1:8080}"
DATA_PLANE_ADDR="${SPOTLIGHT_DATA_PLANE_ADDR:-127.0.0.1:8081}"
command -v curl >/dev/null || { echo "scripts/run.sh needs curl to onboard the demo tenant" >&2; exit 1; }

cargo build --locked -p control-plane -p data-plane --bins

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM

# Waits until $1/healthz answers, for up to 30 s, or until the process $2 exits.
wait_healthy() {
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "$1/healthz" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "the service behind $1 stopped; see its log above" >&2; exit 1; }
    sleep 0.1
  done
  echo "$1 did not become healthy in 30 s" >&2
  exit 1
}

target/debug/control-plane & pids+=($!)
wait_healthy "http://$CONTROL_PLANE_ADDR" "${pids[0]}"
# The data plane opens the same data directory (SQLite in WAL mode is shared safely).
target/debug/data-plane & pids+=($!)
wait_healthy "http://$DATA_PLANE_ADDR" "${pids[1]}"

CONTROL_PLANE="http://$CONTROL_PLANE_ADDR" DATA_PLANE="http://$DATA_PLANE_ADDR" scripts/demo.sh

# Until either service stops (or Ctrl-C).
wait -n "${pids[@]}"
