#!/usr/bin/env bash
# Runs every Spotlight check: formatting, lints, every test of every crate (with the
# failpoints compiled in, so the crash tests run; the AWS adapters' conformance cases against
# moto, started here on loopback; the tenant policies through a real IAM policy evaluator;
# the summaries against a real small model served on loopback), and schemathesis against the
# real binary. Installs nothing it cannot find, except the pinned Python tools (moto,
# schemathesis) into ./.venv (scripts/venv.sh), the pinned IAM policy evaluator into
# ./.tools/iam-simulate (scripts/iam-simulate.sh, needs node and npm), and the local model
# server's runtime and model into ./.tools (scripts/local-model.sh, needs node and npm).
set -euo pipefail
cd "$(dirname "$0")/.."

# The toolchain's formatter and linter ship with rustup's default profile; say so plainly if not.
for tool in cargo-fmt cargo-clippy; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "scripts/test.sh: $tool is missing; install it with: rustup component add ${tool#cargo-}" >&2
    exit 1
  fi
done

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

echo "==> moto (the AWS-compatible server the AWS adapters are tested against)"
moto_env=$(bash scripts/moto.sh)
export "$(echo "$moto_env" | grep '^SPOTLIGHT_TEST_MOTO_ENDPOINT=')"
moto_pid=$(echo "$moto_env" | sed -n 's/^MOTO_PID=//p')
echo "    at $SPOTLIGHT_TEST_MOTO_ENDPOINT"

echo "==> local model server (SmolLM2-135M over the Ollama API; the insights tests run against it)"
model_env=$(bash scripts/local-model.sh start) || { kill "$moto_pid" 2>/dev/null || true; exit 1; }
export SPOTLIGHT_TEST_OLLAMA_URL="$(echo "$model_env" | sed -n 's/^SPOTLIGHT_OLLAMA_URL=//p')"
model_pid=$(echo "$model_env" | sed -n 's/^LOCAL_MODEL_PID=//p')
trap 'kill "$moto_pid" "$model_pid" 2>/dev/null || true' EXIT
echo "    at $SPOTLIGHT_TEST_OLLAMA_URL"

echo "==> IAM policy evaluator (the tenant policies are checked with it)"
bash scripts/iam-simulate.sh

echo "==> cargo test (all crates, all features)"
cargo test --workspace --all-features --locked

echo "==> schemathesis (the served OpenAPI document against the real server)"
bash scripts/schemathesis.sh
