#!/usr/bin/env bash
# Honest results disputed at scale (docs/performance.md, "Metering noise"): starts its own devnet
# and has the job creator reject N honest results for their cost and N for their output
# (default 20 + 20; CI runs 5 + 5 in scripts/test.sh). The provider must never be convicted,
# and an inflated claim must be. About 15 minutes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modicum/target}"
export MODICUM_HONEST_DISPUTES="${1:-20}"
export MODICUM_DEVNET_DIR="$(mktemp -d)" MODICUM_DEVNET_PORT_OFFSET="${MODICUM_DEVNET_PORT_OFFSET:-200}"
trap 'scripts/devnet.sh stop; rm -rf "$MODICUM_DEVNET_DIR"' EXIT
cargo build --release --locked --workspace
scripts/devnet.sh start --detach --validators 2
cargo test --release --locked --workspace --test workers -- --ignored --exact \
	honest_results_disputed_for_cost_or_output_never_convict_the_provider_but_inflated_claims_do
