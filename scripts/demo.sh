#!/usr/bin/env bash
# Onboards the demo tenant `demo` through the control plane (idempotent: a second run finds it),
# publishes one content item of each of the eight kinds through the data plane's admin API
# (only when the tenant has no content yet), issues a secret and a publishable API key and
# prints them with curl calls to try. Needs curl. Called by scripts/run.sh once both services
# answer; CONTROL_PLANE and DATA_PLANE are their base URLs.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTROL_PLANE="${CONTROL_PLANE:-http://127.0.0.1:8080}"
DATA_PLANE="${DATA_PLANE:-http://127.0.0.1:8081}"
DEMO_ORIGIN="http://localhost:3000"
TOKEN="${SPOTLIGHT_OPERATOR_TOKEN:-$(cat "$SPOTLIGHT_DATA_DIR/operator-token")}"

# The value of the first "name":"…" string field of the JSON on stdin.
field() { grep -o "\"$1\":\"[^\"]*\"" | head -n 1 | cut -d'"' -f4; }

operator() {
  curl -sS --fail-with-body -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"
}

operator -X POST "$CONTROL_PLANE/tenants?wait=true" -H 'Idempotency-Key: spotlight-demo-tenant' \
  -d "{\"id\":\"demo\",\"name\":\"Demo Inc.\",\"owner_email\":\"ops@demo.example\",\"allowed_origins\":[\"$DEMO_ORIGIN\"]}" \
  >/dev/null
status=$(operator "$CONTROL_PLANE/tenants/demo" | field status)
if [ "$status" != active ]; then
  echo "the demo tenant is $status, not active; see the control plane's log" >&2
  exit 1
fi
SECRET=$(operator -X POST "$CONTROL_PLANE/tenants/demo/api-keys" -d '{"kind":"secret"}' | field key)
PUBLISHABLE=$(operator -X POST "$CONTROL_PLANE/tenants/demo/api-keys" -d '{"kind":"publishable"}' | field key)

admin() { curl -sS --fail-with-body -H "X-Api-Key: $SECRET" "$@"; }

# The data plane may still be reading the new tenant's origins: its key answers at once.
if [ "$(admin "$DATA_PLANE/v1/admin/content" | tr -d ' ')" = '{"items":[]}' ]; then
  while IFS= read -r body; do
    draft=$(admin -X POST "$DATA_PLANE/v1/admin/content" -H 'Content-Type: application/json' -d "$body")
    id=$(printf '%s' "$draft" | field id)
    admin -X POST "$DATA_PLANE/v1/admin/content/$id/publish" -H 'If-Match: "1"' >/dev/null
  done < scripts/demo/content.jsonl
fi
listed=$(admin "$DATA_PLANE/v1/admin/content")
# One line per object with an id (content items and their steps); the tour's line names it.
TOUR=$(printf '%s' "$listed" | sed 's/{"id":"/\n/g' | grep '"name":"Welcome tour"' | cut -d'"' -f1)
STEP=$(admin "$DATA_PLANE/v1/admin/content/$TOUR" | sed -n 's/.*"steps":\[{"id":"\([^"]*\)".*/\1/p')

cat <<MSG

Demo tenant "demo" is active with one published content item of each kind.
  secret API key (servers and curl; shown once):      $SECRET
  publishable API key (browsers on $DEMO_ORIGIN): $PUBLISHABLE

Try it:
  KEY=$SECRET TOUR=$TOUR STEP=$STEP
  curl -sS "$DATA_PLANE/v1/sdk/content?url=$DEMO_ORIGIN/dashboard" -H "X-Api-Key: \$KEY"
  curl -sS -X POST $DATA_PLANE/v1/sdk/events -H "X-Api-Key: \$KEY" -H 'Content-Type: application/json' \\
    -d "{\"sent_at\":\"\$(date -u +%FT%TZ)\",\"events\":[{\"event_id\":\"\$(cat /proc/sys/kernel/random/uuid)\",\"type\":\"impression\",\"content_id\":\"\$TOUR\",\"content_version\":1,\"step_id\":\"\$STEP\",\"ts\":\"\$(date -u +%FT%TZ)\",\"anonymous_id\":\"visitor-1\"}]}"
  curl -sS $DATA_PLANE/v1/admin/analytics/funnels/\$TOUR -H "X-Api-Key: \$KEY"
MSG
