#!/usr/bin/env bash
# The official MCP conformance suite against /mcp. The suite needs Node >= 22: it runs on the
# `node` npm package installed in this folder only (never in the root package.json, whose
# scripts would then all run on Node 22). Vutler itself runs on the project's Node 20.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
if [ ! -x node_modules/.bin/node ] || [ ! -d node_modules/@modelcontextprotocol/conformance ]; then
  npm ci --no-audit --no-fund >/dev/null
fi
node22="$here/node_modules/.bin/node"
suite="$here/node_modules/@modelcontextprotocol/conformance/dist/index.js"

out="$(mktemp)"
(cd "$root" && exec node --import tsx tests/conformance/serve.ts) >"$out" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 120); do
  [ -s "$out" ] && break
  kill -0 $pid 2>/dev/null || { echo "conformance server failed to start" >&2; exit 1; }
  sleep 0.5
done
url="$(head -n1 "$out")"
echo "conformance against $url ($("$node22" --version))"
status=0
for scenario in server-initialize ping tools-list dns-rebinding-protection; do
  if "$node22" "$suite" server --url "$url" --scenario "$scenario"; then
    echo "PASS $scenario"
  else
    echo "FAIL $scenario"
    status=1
  fi
done
exit $status
