#!/usr/bin/env bash
# Metering noise (docs/performance.md, "Metering noise"): runs CPU- and memory-bound jobs of about
# 1 s, 10 s and 60 s through the executor many times each, alone and beside a busy neighbour,
# and prints the spread of the measured CPU time and the TooMuchCost defaults it implies.
# Not part of CI: about 25 minutes on the reference machine. `--quick` runs fewer, shorter jobs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modicum/target}"
# shellcheck source=scripts/services.sh
. "$ROOT/scripts/services.sh"

port="${MODICUM_METERING_PORT:-5900}"
start_job_registry "$port"
work="$WORK"

# Work per second of CPU on this machine's busybox sh (about 1 s for one million iterations).
jobs=""
for seconds in 1 10 60; do
	mkdir -p "$work/cpu-$seconds" "$work/mem-$seconds"
	cat >"$work/cpu-$seconds/run.sh" <<JOB
i=0
while [ "\$i" -lt $((seconds * 1000000)) ]; do i=\$((i + 1)); done
echo "\$i" >/out/count.txt
JOB
	# Memory-bound: the kernel zero-fills a 64 MiB buffer over and over (about 8 GB/s here).
	cat >"$work/mem-$seconds/run.sh" <<JOB
dd if=/dev/zero of=/dev/null bs=64M count=$((seconds * 110)) 2>/out/dd.txt
JOB
	for kind in cpu mem; do
		digest="$(publish_job "$work/$kind-$seconds" "metering/$kind-$seconds" "127.0.0.1:$port" "$BASE" | awk '{print $1}')"
		jobs="$jobs $kind-$seconds=$digest"
	done
done
export MODICUM_METERING_REGISTRY="http://127.0.0.1:$port"
export MODICUM_METERING_BASE="$(base_layer_of "$BASE")"
export MODICUM_METERING_JOBS="${jobs# }"
export MODICUM_METERING_QUICK="$([ "${1:-}" = --quick ] && echo 1 || echo 0)"
cargo test --release --locked --workspace --bench metering
