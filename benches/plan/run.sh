#!/usr/bin/env bash
# Plan a purge job of 1,000,000 URLs over 50 resources (full URLs mapped by host; paths by
# resource id with covering patterns) and print plan time and peak RSS, one JSON line each.
# Usage: benches/plan/run.sh [URLS]   (release build; make bench can call it)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000000}
cargo build --release --quiet --example plan_bench
for case in full_urls paths; do
  target/release/examples/plan_bench "$n" "$case"
done
