#!/usr/bin/env bash
# Runs every Spotlight check: formatting, lints, every test of every crate (with the
# failpoints compiled in, so the crash tests run), and schemathesis against the real binary.
# Installs nothing it cannot find, except schemathesis into ./.venv (scripts/schemathesis.sh).
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

echo "==> cargo test (all crates, all features)"
cargo test --workspace --all-features --locked

echo "==> schemathesis (the served OpenAPI document against the real server)"
bash scripts/schemathesis.sh
