#!/bin/sh
# The GPU benchmark (bench/gpu.ts): decode against the bandwidth limit, attention per KV dtype,
# batch scaling; writes reports/bench/gpu.md. Stops on a software adapter unless
# --allow-software (tiny sizes, no time limit: lavapipe on a shared CPU is slow).
#   bench/gpu.sh [--out FILE] [--bandwidth-gbs N] [--allow-software]
cd "$(dirname "$0")/.." || exit 1
case " $* " in
*" --allow-software "*) exec deno run -A bench/gpu.ts "$@" ;;
*) exec timeout 300 deno run -A bench/gpu.ts "$@" ;;
esac
