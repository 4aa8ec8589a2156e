#!/bin/sh
# The GPU benchmark (bench/gpu.ts): decode against the bandwidth limit, attention per KV dtype,
# batch scaling; writes reports/bench/gpu.md. Stops on a software adapter unless --allow-software.
#   bench/gpu.sh [--out FILE] [--bandwidth-gbs N] [--allow-software]
cd "$(dirname "$0")/.." || exit 1
exec timeout 300 deno run -A bench/gpu.ts "$@"
