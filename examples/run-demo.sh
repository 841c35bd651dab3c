#!/usr/bin/env bash
# Run examples/demo.c against the bundled emulator: build, start, run, stop.
# Usage: examples/run-demo.sh   (or: make demo)
set -euo pipefail
cd "$(dirname "$0")/.."

lib=target/release
[ -f "$lib/libgcdn.so" ] && [ -x "$lib/gcdn-emulator" ] || { echo "run 'make build' first" >&2; exit 1; }
mkdir -p target/demo
cc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude examples/demo.c \
   -o target/demo/demo -L"$lib" -Wl,-rpath,"$PWD/$lib" -lgcdn

# The emulator: resources 1-4, purge windows of 6 s instead of a minute (10 times the
# documented rate: the fastest account limits the client believes; faster ones it replaces by
# the documented 2 a minute), request log on stderr. It exits when this script's pipe to its
# stdin closes.
exec 3> >(exec "$lib/gcdn-emulator" --seed 1-4 --url-window-ms 6000 --pattern-window-ms 6000 \
                 --all-window-ms 6000 --api-key demo-key --exit-on-stdin-eof \
                 > target/demo/emulator.out 2> >(sed -u 's/^/    [emulator] /' >&2))
for _ in $(seq 100); do
  grep -q GCDN_EMULATOR_URL target/demo/emulator.out 2>/dev/null && break
  sleep 0.05
done
url=$(sed -n 's/^GCDN_EMULATOR_URL=//p' target/demo/emulator.out)
[ -n "$url" ] || { echo "the emulator did not start" >&2; exit 1; }
echo "emulator of the Gcore CDN API at $url"
GCORE_API_KEY=demo-key GCORE_BASE_URL="$url" target/demo/demo
exec 3>&-
