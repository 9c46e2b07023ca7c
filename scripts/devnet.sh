#!/usr/bin/env bash
# A local Modicum devnet: four validators (Alice, Bob, Charlie, Dave) on 127.0.0.1.
#
#   scripts/devnet.sh [start] [--detach]   start (fresh chain), wait for finality, print endpoints;
#                                          without --detach, Ctrl-C stops it
#   scripts/devnet.sh status               best and finalized block of each validator
#   scripts/devnet.sh stop-validator NAME  stop one validator (e.g. dave); the rest keep finalizing
#   scripts/devnet.sh stop                 stop exactly the processes the devnet started
#
# Ports of validator i (0-based): p2p 30333+i, JSON-RPC (WS and HTTP) 9944+i, Prometheus 9615+i.
# Everything lives under devnet/ in the checkout: data/<name>/ and logs/<name>.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEVNET="${MODICUM_DEVNET_DIR:-$ROOT/devnet}"
PIDS="$DEVNET/pids"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modicum/target}"
NODE="$CARGO_TARGET_DIR/release/modicum-node"
VALIDATORS=(alice bob charlie dave)

log() { printf '[devnet] %s\n' "$*"; }

rpc_port() { echo $((9944 + $1)); }

# JSON-RPC call over HTTP; prints the `result` as JSON.
rpc() {
	local port="$1" method="$2" params="${3:-[]}"
	curl -sf -m 5 -H 'Content-Type: application/json' \
		-d "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"$method\",\"params\":$params}" \
		"http://127.0.0.1:$port" |
		python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["result"]))'
}

block_number() { # port [hash]
	local params="[]"
	[ -n "${2:-}" ] && params="[$2]"
	rpc "$1" chain_getHeader "$params" | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["number"], 16))'
}

finalized_number() {
	block_number "$1" "$(rpc "$1" chain_getFinalizedHead)"
}

is_ours() { # pid: true if it is a live modicum-node we started
	[ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q "modicum-node.*$DEVNET"
}

stop_all() {
	[ -f "$PIDS" ] || { log "not running"; return 0; }
	while read -r name pid; do
		if is_ours "$pid"; then
			kill "$pid" 2>/dev/null || true
			log "stopped $name (pid $pid)"
		fi
	done <"$PIDS"
	# Wait for them to close their databases.
	while read -r _ pid; do
		for _ in $(seq 50); do is_ours "$pid" || break; sleep 0.1; done
	done <"$PIDS"
	rm -f "$PIDS"
}

stop_validator() {
	local target="$1" found=""
	[ -f "$PIDS" ] || { echo "the devnet is not running" >&2; exit 1; }
	while read -r name pid; do
		if [ "$name" = "$target" ] && is_ours "$pid"; then
			kill "$pid" && found=1 && log "stopped $name (pid $pid)"
		fi
	done <"$PIDS"
	[ -n "$found" ] || { echo "no running validator named $target" >&2; exit 1; }
}

status() {
	for i in "${!VALIDATORS[@]}"; do
		local port best finalized
		port="$(rpc_port "$i")"
		if best="$(block_number "$port" 2>/dev/null)"; then
			finalized="$(finalized_number "$port")"
			printf '%-8s ws://127.0.0.1:%s  best #%s  finalized #%s  lag %s\n' \
				"${VALIDATORS[$i]}" "$port" "$best" "$finalized" "$((best - finalized))"
		else
			printf '%-8s ws://127.0.0.1:%s  down\n' "${VALIDATORS[$i]}" "$port"
		fi
	done
}

start() {
	local detach="$1"
	[ -f "$ROOT/.setup-done" ] || "$ROOT/scripts/setup.sh"
	if [ -f "$PIDS" ]; then
		while read -r _ pid; do
			is_ours "$pid" && { echo "the devnet is already running; scripts/devnet.sh stop first" >&2; exit 1; }
		done <"$PIDS"
	fi
	log "building modicum-node (a no-op when it is up to date)"
	(cd "$ROOT" && cargo build --release --locked --workspace)

	rm -rf "$DEVNET/data" "$DEVNET/logs"
	mkdir -p "$DEVNET/data" "$DEVNET/logs"
	: >"$PIDS"

	# Fixed node keys make every peer id, and so the bootnode address, known in advance.
	local bootnode=""
	for i in "${!VALIDATORS[@]}"; do
		local name="${VALIDATORS[$i]}" key_file="$DEVNET/data/${VALIDATORS[$i]}.node-key"
		printf '%064x' $((i + 1)) >"$key_file"
		if [ "$i" -eq 0 ]; then
			bootnode="/ip4/127.0.0.1/tcp/30333/p2p/$("$NODE" key inspect-node-key --file "$key_file")"
		fi
		"$NODE" --chain local --"$name" --validator \
			--base-path "$DEVNET/data/$name" --node-key-file "$key_file" \
			--port $((30333 + i)) --rpc-port "$(rpc_port "$i")" --prometheus-port $((9615 + i)) \
			--rpc-cors all --no-mdns --no-telemetry --bootnodes "$bootnode" \
			--name "$name" >"$DEVNET/logs/$name.log" 2>&1 &
		echo "$name $!" >>"$PIDS"
	done

	log "waiting for finality"
	local deadline=$((SECONDS + 180))
	until [ "$(finalized_number 9944 2>/dev/null || echo 0)" -ge 2 ]; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "no block finalized within 180 s; see $DEVNET/logs/" >&2
			stop_all
			exit 1
		fi
		sleep 1
	done
	status
	cat <<EOF

Modicum devnet is up: ${#VALIDATORS[@]} validators finalizing.
  JSON-RPC:        ws://127.0.0.1:9944 (alice) … ws://127.0.0.1:$((9944 + ${#VALIDATORS[@]} - 1))
  Polkadot.js:     https://polkadot.js.org/apps/?rpc=ws%3A%2F%2F127.0.0.1%3A9944#/explorer
  Logs:            $DEVNET/logs/
  Stop:            scripts/devnet.sh stop
EOF
	if [ "$detach" = 0 ]; then
		trap 'echo; stop_all; exit 0' INT TERM
		log "running; Ctrl-C stops it"
		while sleep 1; do :; done
	fi
}

case "${1:-start}" in
start) start "$([ "${2:-}" = --detach ] && echo 1 || echo 0)" ;;
--detach) start 1 ;;
stop) stop_all ;;
status) status ;;
stop-validator) stop_validator "${2:?which validator?}" ;;
*) sed -n '2,12p' "$0"; exit 2 ;;
esac
