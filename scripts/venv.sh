#!/usr/bin/env bash
# Makes ./.venv hold the Python tools the tests use, pinned in scripts/requirements-test.txt
# (schemathesis; moto, the AWS-compatible server the AWS adapters are tested against).
# Installs only when the venv is missing or the pins changed. Sourced or run from the repo root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.venv
requirements=scripts/requirements-test.txt
installed="$venv/requirements-test.txt" # the requirements the venv was last installed from

if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv"
  if ! python3 -m venv "$venv"; then
    rm -rf "$venv"
    # Debian's python3 ships venv separately; install it when we may.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing python3-venv"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    fi
    if ! python3 -m venv "$venv"; then
      echo "scripts/venv.sh: 'python3 -m venv' failed; install Python's venv module (Debian: apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi
if ! cmp -s "$requirements" "$installed"; then
  echo "==> installing $(grep -v '^#' "$requirements" | tr '\n' ' ')into $venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements"
  cp "$requirements" "$installed"
fi
