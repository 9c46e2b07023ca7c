#!/usr/bin/env bash
# The whole test suite: unit, runtime and node tests (`cargo test --release --workspace`), the
# market fuzzer on a fixed seed, the Polkadot.js compatibility check against a real dev node, the market workers end to end on the
# devnet (real dockerd, real registry), the solver benchmark, and the 4-validator devnet's
# finality with one validator stopped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modicum/target}"

step() { printf '\n==> %s\n' "$*"; }
elapsed() { printf '    (%ds)\n' "$((SECONDS - $1))"; }

"$ROOT/scripts/setup.sh"

step "cargo test --release --workspace"
t=$SECONDS
cargo test --release --locked --workspace
elapsed "$t"

NODE="$CARGO_TARGET_DIR/release/modicum-node"
cargo build --release --locked --workspace

step "market fuzzer, fixed seed (docs/security.md; scripts/fuzz.sh runs a million calls)"
t=$SECONDS
"$CARGO_TARGET_DIR/release/market-fuzz" --seed 1 --calls 60000
elapsed "$t"

step "Polkadot.js @polkadot/api against a dev node"
t=$SECONDS
tmp="$(mktemp -d)"
"$NODE" --dev --base-path "$tmp" --rpc-port 19944 --port 30999 --no-prometheus --no-telemetry --no-mdns \
	>"$tmp/node.log" 2>&1 &
node_pid=$!
trap 'kill $node_pid 2>/dev/null || true; wait $node_pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 120); do
	curl -sf -m 2 -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"system_health","params":[]}' http://127.0.0.1:19944 >/dev/null && break
	sleep 0.5
done
(cd tests/js && node polkadot-js.mjs ws://127.0.0.1:19944) || { tail -n 50 "$tmp/node.log"; exit 1; }
kill $node_pid; wait $node_pid 2>/dev/null || true
trap - EXIT
rm -rf "$tmp"
elapsed "$t"

step "market workers and the modicum CLI end to end: devnet with provider, solver, mediator, directory; real Docker"
t=$SECONDS
# Its own directory and ports (shifted by 100), so a devnet of the user's is left alone.
export MODICUM_DEVNET_DIR="$(mktemp -d)" MODICUM_DEVNET_PORT_OFFSET="${MODICUM_DEVNET_PORT_OFFSET:-100}"
trap 'scripts/devnet.sh stop; rm -rf "$MODICUM_DEVNET_DIR"' EXIT
scripts/devnet.sh start --detach --validators 2
cargo test --release --locked --workspace --test workers --test cli -- --ignored ||
	{ tail -n 40 "$MODICUM_DEVNET_DIR"/logs/eve.log "$MODICUM_DEVNET_DIR"/logs/market.log; exit 1; }
scripts/devnet.sh stop
elapsed "$t"

step "solver benchmark (docs/performance.md)"
t=$SECONDS
cargo test --release --locked --workspace --bench solver
elapsed "$t"

step "4-validator devnet finalizes, and keeps finalizing with one validator stopped"
t=$SECONDS
scripts/devnet.sh start --detach --validators 4 --no-roles
scripts/devnet.sh stop-node dave
RPC="http://127.0.0.1:$((9944 + MODICUM_DEVNET_PORT_OFFSET))"
finalized() {
	curl -sf -m 5 -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"chain_getFinalizedHead","params":[]}' "$RPC" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["result"])' |
		xargs -I{} curl -sf -m 5 -H 'Content-Type: application/json' \
			-d '{"id":1,"jsonrpc":"2.0","method":"chain_getHeader","params":["{}"]}' "$RPC" |
		python3 -c 'import json,sys; print(int(json.load(sys.stdin)["result"]["number"], 16))'
}
before="$(finalized)"
deadline=$((SECONDS + 120))
until [ "$(finalized)" -ge $((before + 5)) ]; do
	[ "$SECONDS" -lt "$deadline" ] || { echo "finality stalled with 3 of 4 validators" >&2; scripts/devnet.sh status; exit 1; }
	sleep 2
done
scripts/devnet.sh status
echo "finalized #$before -> #$(finalized) with dave stopped"
elapsed "$t"

step "all tests passed in $((SECONDS / 60)) min $((SECONDS % 60)) s"
