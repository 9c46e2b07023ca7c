#!/usr/bin/env bash
# The market fuzzer over many calls (docs/security.md): random call sequences from twelve
# accounts through the real runtime, every invariant checked after every call.
#   scripts/fuzz.sh [--seed N] [--calls N] [--epoch N]   (default: seed 1, 1 000 000 calls)
# The report (calls/s, calls and errors covered, endings) goes to stdout; a violation prints
# the seed and call number that reproduce it and exits non-zero.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modicum/target}"

usage() { echo "usage: $0 [--seed N] [--calls N] [--epoch N]" >&2; exit 2; }
seed=1
calls=1000000
epoch=10000
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || usage
	case "$1" in
	--seed) seed="$2" ;;
	--calls) calls="$2" ;;
	--epoch) epoch="$2" ;;
	*) usage ;;
	esac
	shift 2
done

# The workspace build, as the tests do: building one package alone resolves features otherwise
# and would recompile shared crates.
cargo build --release --locked --workspace
exec "$CARGO_TARGET_DIR/release/market-fuzz" --seed "$seed" --calls "$calls" --epoch "$epoch"
