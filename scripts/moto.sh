#!/usr/bin/env bash
# Starts moto (pinned in scripts/requirements-test.txt, installed into ./.venv) in server mode
# on a free loopback port, waits until it answers, and prints two lines for the caller:
#   SPOTLIGHT_TEST_MOTO_ENDPOINT=http://127.0.0.1:PORT
#   MOTO_PID=PID
# The caller stops it (kill "$MOTO_PID"). scripts/test.sh does all of this around the tests.
#
# The tests run moto as scripts/moto_server.py: moto's own server with DynamoDB's item writes
# made atomic with respect to each other, as DynamoDB's are (see that file). --bench runs
# scripts/moto_bench_server.py, which also takes out two of moto's costs that grow with a
# table (a transaction's whole-table snapshot, a query's whole-table scan; see that file); the
# paced onboarding benchmark uses it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh >&2

server=(.venv/bin/python scripts/moto_server.py)
case "${1:-}" in
  "") ;;
  --bench) server=(.venv/bin/python scripts/moto_bench_server.py) ;;
  *)
    echo "scripts/moto.sh: unknown argument '$1' (the one option is --bench)" >&2
    exit 2
    ;;
esac

port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
log=$(mktemp)
"${server[@]}" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if .venv/bin/python - "$port" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/", timeout=1)
PY
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "scripts/moto.sh: moto did not start; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "SPOTLIGHT_TEST_MOTO_ENDPOINT=http://127.0.0.1:$port"
echo "MOTO_PID=$pid"
