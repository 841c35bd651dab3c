#!/usr/bin/env bash
# Run examples/demo.c against the bundled emulator: build, start, run, stop.
# Usage: examples/run-demo.sh   (or: make demo)
set -euo pipefail
cd "$(dirname "$0")/.."

lib=target/release
[ -f "$lib/libgcdn.so" ] && [ -x "$lib/gcdn-emulator" ] && [ -x "$lib/gcdn" ] ||
  { echo "run 'make build' first" >&2; exit 1; }
mkdir -p target/demo
cc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude examples/demo.c \
   -o target/demo/demo -L"$lib" -Wl,-rpath,"$PWD/$lib" -lgcdn

# The emulator: resources 1-6 (cdn1.example.com ... cdn6.example.com), purge windows of 2 s
# instead of a minute, purges "In progress" for 1.5 s, an edge (--edge-port), request log on
# stderr. It exits when this script's pipe to its stdin closes.
exec 3> >(exec "$lib/gcdn-emulator" --seed 1-6 --url-window-ms 2000 --pattern-window-ms 2000 \
                 --all-window-ms 2000 --purge-status-delay-ms 1500 --api-key demo-key \
                 --edge-port 0 --exit-on-stdin-eof \
                 > target/demo/emulator.out 2> >(sed -u 's/^/    [emulator] /' >&2))
for _ in $(seq 100); do
  grep -q GCDN_EMULATOR_EDGE_URL target/demo/emulator.out 2>/dev/null && break
  sleep 0.05
done
url=$(sed -n 's/^GCDN_EMULATOR_URL=//p' target/demo/emulator.out)
edge=$(sed -n 's/^GCDN_EMULATOR_EDGE_URL=//p' target/demo/emulator.out)
[ -n "$url" ] && [ -n "$edge" ] || { echo "the emulator did not start" >&2; exit 1; }
echo "emulator of the Gcore CDN API at $url"
# For the job at the end: resource 6's first purge answers 503, and its 2 retries too (the
# report says which items were left out, and the demo resumes them).
curl -fsS -X POST "$url/__emulator/faults" -H 'Content-Type: application/json' \
  -d '{"method": "POST", "path_prefix": "/cdn/resources/6/purge", "times": 3,
       "action": {"respond": {"status": 503, "body": "{\"errors\": [\"upstream down\"]}"}}}' >/dev/null
GCORE_API_KEY=demo-key GCORE_BASE_URL="$url" target/demo/demo

# The bulk part, with the gcdn command as a deploy pipeline would run it: the deploy's changed
# files (here made up; in CI `git diff --name-only`) become full URLs over two CDN hosts, read
# from stdin, batched, paced, purged and confirmed; the exit code says whether all of it was.
# The emulator's windows are 2 s and its limits endpoint says so: gcdn paces by them.
echo
echo "== gcdn purge: 232 changed files over 2 hosts, from stdin, mapped to URLs (--map), confirmed (--wait)"
export GCORE_API_KEY=demo-key GCORE_BASE_URL="$url"
sleep 2   # the C demo's purges above used up this window: start on a fresh one
"$lib/gcdn" resources
# public/ is served by cdn1, static/ by cdn2; index.html is also purged as / ; src/ is skipped
# (unmapped: not CDN content, and no failure).
{ for i in $(seq 1 180); do echo "public/assets/app.$i.js"; done; echo public/index.html
  for i in $(seq 1 49); do echo "static/img/$i.png"; done; echo "static/img/new logo.svg"
  echo src/app.ts; } > target/demo/changed.txt
echo "\$ git diff --name-only | gcdn purge --from - --map public/=https://cdn.example.com/ --wait"
status=0
"$lib/gcdn" purge --from - --map public/=https://cdn1.example.com/ --map static/=https://cdn2.example.com/ \
  --wait=30 < target/demo/changed.txt || status=$?
echo "exit code $status"
echo
echo "== gcdn purge --dry-run --json: the plan, nothing sent (an unknown host is left out: exit 3)"
status=0
printf '%s\n' https://cdn1.example.com/a.css https://cdn1.example.com/a.css https://unknown.example.org/x |
  "$lib/gcdn" purge --from - --dry-run --json --quiet || status=$?
echo "exit code $status"
echo
echo "== gcdn purge --verify: the item in its cache-key form, then checked at the edge"
# cdn7 ignores query strings: its edge caches /app.js?v=1 under the key /app.js, so the item
# /app.js?v=2 is purged as /app.js (as given it would purge nothing). The edge is the emulator's.
curl -fsS -X POST "$url/__emulator/resources" -H 'Content-Type: application/json' \
  -d '{"id": 7, "cname": "cdn7.example.com",
       "options": {"ignoreQueryString": {"enabled": true, "value": true}}}' >/dev/null
curl -fsS -o /dev/null -H 'Host: cdn7.example.com' "$edge/app.js?v=1"
echo "\$ gcdn purge --verify --edge $edge https://cdn7.example.com/app.js?v=2"
status=0
"$lib/gcdn" purge --verify --edge "$edge" https://cdn7.example.com/app.js?v=2 || status=$?
echo "exit code $status"
exec 3>&-
