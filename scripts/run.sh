#!/usr/bin/env bash
# Builds and runs the Spotlight control plane on the embedded backend: no AWS account, no
# network. State lives in ./.spotlight (ignored by git) unless SPOTLIGHT_DATA_DIR says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
export SPOTLIGHT_DATA_DIR="${SPOTLIGHT_DATA_DIR:-$PWD/.spotlight}"
export RUST_LOG="${RUST_LOG:-info}"
exec cargo run --locked -p control-plane --bin control-plane
