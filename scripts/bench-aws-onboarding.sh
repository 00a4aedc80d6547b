#!/usr/bin/env bash
# The paced onboarding benchmark on the AWS adapters against moto (provisioner/benches/
# aws_onboarding.rs), run by hand, never in CI. Arguments go to the benchmark: the number of
# tenants (default 1000), `in-flight=N`, `unpaced`.
#
# moto runs on one core per process (its threads share one Python interpreter lock), so DynamoDB — most of the calls — gets a process of its own and
# KMS, IAM, STS and Cognito share a second; the SDK reaches them through the standard
# AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL. Both run with --bench (see
# scripts/moto_bench_server.py). At the end the script prints the CPU time and peak memory
# each moto process used, sampled from /proc every second.
#
# `--check` instead runs scripts/moto_bench_check.py: the same requests to stock moto and to
# the --bench one, which must answer alike, and what the change saves.
set -euo pipefail
cd "$(dirname "$0")/.."

# Starts moto (with the given scripts/moto.sh option) and prints its endpoint, then its pid.
start_moto() {
  local out
  out=$(bash scripts/moto.sh "$@")
  sed -n 's/^SPOTLIGHT_TEST_MOTO_ENDPOINT=//p' <<<"$out"
  sed -n 's/^MOTO_PID=//p' <<<"$out"
}

# Stops with a message when a moto did not start (its endpoint or pid came back empty).
started() {
  if [ -z "$1" ] || [ -z "$2" ]; then
    echo "scripts/bench-aws-onboarding.sh: moto did not start" >&2
    exit 1
  fi
}

if [ "${1:-}" = --check ]; then
  { read -r stock_endpoint; read -r stock_pid; } < <(start_moto) || true
  started "$stock_endpoint" "$stock_pid"
  trap 'kill "$stock_pid" 2>/dev/null || true' EXIT
  { read -r bench_endpoint; read -r bench_pid; } < <(start_moto --bench) || true
  started "$bench_endpoint" "$bench_pid"
  trap 'kill "$stock_pid" "$bench_pid" 2>/dev/null || true' EXIT
  .venv/bin/python scripts/moto_bench_check.py "$stock_endpoint" "$bench_endpoint" "$stock_pid" "$bench_pid"
  exit
fi
{ read -r dynamodb_endpoint; read -r dynamodb_pid; } < <(start_moto --bench) || true
started "$dynamodb_endpoint" "$dynamodb_pid"
trap 'kill "$dynamodb_pid" 2>/dev/null || true' EXIT
{ read -r other_endpoint; read -r other_pid; } < <(start_moto --bench) || true
started "$other_endpoint" "$other_pid"
samples=$(mktemp)
trap 'kill "$dynamodb_pid" "$other_pid" 2>/dev/null || true; rm -f "$samples"' EXIT

# CPU seconds (user + system) and resident MB of a process, from /proc.
usage() {
  local ticks rss
  ticks=$(awk '{print $14 + $15}' "/proc/$1/stat")
  rss=$(awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$1/status")
  echo "$((ticks / $(getconf CLK_TCK))) $rss"
}
(
  while kill -0 "$dynamodb_pid" 2>/dev/null && kill -0 "$other_pid" 2>/dev/null; do
    echo "$(usage "$dynamodb_pid") $(usage "$other_pid")" >>"$samples"
    sleep 1
  done
) &
sampler=$!

started=$(date +%s)
AWS_ENDPOINT_URL=$other_endpoint AWS_ENDPOINT_URL_DYNAMODB=$dynamodb_endpoint \
  cargo bench -p provisioner --bench aws_onboarding --profile dev -- "$@"
wall=$(($(date +%s) - started))
kill "$sampler" 2>/dev/null || true

awk -v wall="$wall" '
  { cpu1 = $1; if ($2 > rss1) rss1 = $2; cpu2 = $3; if ($4 > rss2) rss2 = $4 }
  END {
    printf "moto, over the %d s of the run (build included):\n", wall
    printf "  DynamoDB process:           %4d s of CPU, peak %5d MB resident\n", cpu1, rss1
    printf "  KMS/IAM/STS/Cognito process: %4d s of CPU, peak %5d MB resident\n", cpu2, rss2
  }' "$samples"
