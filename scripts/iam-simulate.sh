#!/usr/bin/env bash
# Installs the IAM policy evaluator the policy check runs (npm @cloud-copilot/iam-simulate,
# pinned with its dependencies in scripts/iam-simulate/package-lock.json) into
# ./.tools/iam-simulate with `npm ci`. It is AGPL-licensed: an outside tool the tests call
# through scripts/iam-eval.mjs, installed here at test time, never vendored, linked or
# shipped. Reaches the npm registry only when the pinned install is not there yet; once
# installed it runs offline.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "scripts/iam-simulate.sh: $tool is missing; install Node.js 20 or later with npm (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done

dir=.tools/iam-simulate
if cmp -s scripts/iam-simulate/package-lock.json "$dir/package-lock.json" \
  && [ -f "$dir/node_modules/@cloud-copilot/iam-simulate/package.json" ]; then
  exit 0
fi
mkdir -p "$dir"
cp scripts/iam-simulate/package.json scripts/iam-simulate/package-lock.json "$dir/"
# --ignore-scripts: nothing of the package runs at install time.
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
