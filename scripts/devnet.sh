#!/usr/bin/env bash
# A local Modicum devnet on 127.0.0.1: validators, and a market ready to take a job — a provider
# node (Eve) running jobs in Docker, and a market node running the mediator (Ferdie), the solver
# (Charlie) and the directory (Dave) in front of a docker-registry. All are funded at genesis.
#
#   scripts/devnet.sh [start] [--detach] [--validators N] [--no-roles]
#                      start a fresh chain with N validators (1-4, default 2: jobs need CPU
#                      too), wait for finality and for every role to be registered, print the
#                      endpoints; without --detach, Ctrl-C stops it
#   scripts/devnet.sh status               best and finalized block of each node
#   scripts/devnet.sh stop-node NAME       stop one node (e.g. bob, or eve the provider)
#   scripts/devnet.sh restart-node NAME    start a stopped node again with its data
#   scripts/devnet.sh publish-job DIR REPO [BASE]
#                                          build the job in DIR — its own Dockerfile (FROM
#                                          modicum/base:busybox or :python), else its run.sh on
#                                          BASE (busybox, the default, or python) — and push it
#                                          to the directory as REPO; prints
#                                          `<manifest digest> <base layer diff_id>`
#   scripts/devnet.sh stop                 stop exactly the processes the devnet started
#
# Ports (MODICUM_DEVNET_PORT_OFFSET shifts them all): node i (validators first, then eve, then
# market) p2p 30333+i, JSON-RPC (WS and HTTP) 9944+i, Prometheus 9615+i; the registry 5000.
# Everything lives under devnet/ in the checkout (or MODICUM_DEVNET_DIR): data/, logs/, config/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEVNET="${MODICUM_DEVNET_DIR:-$ROOT/devnet}"
PIDS="$DEVNET/pids"
NODES_FILE="$DEVNET/nodes"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modicum/target}"
NODE="$CARGO_TARGET_DIR/release/modicum-node"
VALIDATORS=(alice bob charlie dave)
OFFSET="${MODICUM_DEVNET_PORT_OFFSET:-0}"
REGISTRY_PORT=$((5000 + OFFSET))
# The job base images (scripts/base-images/): the provider and mediator support both.
BASE_KINDS=(busybox python)

# shellcheck source=scripts/services.sh
. "$ROOT/scripts/services.sh"

log() { printf '[devnet] %s\n' "$*"; }

rpc_port() { echo $((9944 + OFFSET + $1)); }

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

is_ours() { # pid: true if it is a live process we started (a node or the registry)
	[ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -E "(modicum-node|docker-registry).*$DEVNET"
}

# Unmounts the /out of job runs a killed provider or mediator left under the devnet.
unmount_runs() {
	awk -v dir="$DEVNET/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | xargs -r -n1 umount 2>/dev/null || true
}

stop_all() {
	[ -f "$PIDS" ] || { log "not running"; unmount_runs; return 0; }
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
	unmount_runs
}

stop_node() {
	local target="$1" found=""
	[ -f "$PIDS" ] || { echo "the devnet is not running" >&2; exit 1; }
	while read -r name pid; do
		if [ "$name" = "$target" ] && is_ours "$pid"; then
			kill "$pid" && found="$pid"
		fi
	done <"$PIDS"
	[ -n "$found" ] || { echo "no running node named $target" >&2; exit 1; }
	# Gone only once it has closed its database, so it can be restarted at once.
	for _ in $(seq 300); do is_ours "$found" || break; sleep 0.1; done
	log "stopped $target (pid $found)"
}

status() {
	[ -f "$NODES_FILE" ] || { echo "the devnet has not been started" >&2; exit 1; }
	local i=0 name port best finalized
	while read -r name; do
		port="$(rpc_port "$i")"
		if best="$(block_number "$port" 2>/dev/null)"; then
			finalized="$(finalized_number "$port")"
			printf '%-8s ws://127.0.0.1:%s  best #%s  finalized #%s  lag %s\n' \
				"$name" "$port" "$best" "$finalized" "$((best - finalized))"
		else
			printf '%-8s ws://127.0.0.1:%s  down\n' "$name" "$port"
		fi
		i=$((i + 1))
	done <"$NODES_FILE"
}

# A chain spec whose genesis keeps the first N local validators as authorities. Its fork id is
# new on every start: a node left over from an earlier devnet (same genesis) cannot join.
write_chain_spec() { # validators
	"$NODE" build-spec --chain local --disable-default-bootnode 2>/dev/null | python3 -c '
import json, secrets, sys
n = int(sys.argv[1])
spec = json.load(sys.stdin)
patch = spec["genesis"]["runtimeGenesis"]["patch"]
patch["aura"]["authorities"] = patch["aura"]["authorities"][:n]
patch["grandpa"]["authorities"] = patch["grandpa"]["authorities"][:n]
spec["forkId"] = "devnet-" + secrets.token_hex(4)
json.dump(spec, sys.stdout, indent=1)' "$1" >"$DEVNET/config/spec.json"
}

# SS58 of a dev seed.
account_of() {
	"$NODE" key inspect --output-type json "$1" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["ss58Address"])'
}

# Role configuration files (docs/workers.md) for the devnet's accounts and base images.
write_role_configs() { # base_layer...
	local mediator directory layers
	mediator="$(account_of //Ferdie)"
	directory="$(account_of //Dave)"
	layers="$(printf '"%s", ' "$@")"
	layers="[${layers%, }]"
	cat >"$DEVNET/config/provider.toml" <<TOML
account = "$(account_of //Eve)"
architecture = "amd64"
speed = 1000
trusted_mediators = ["$mediator"]
trusted_directories = ["$directory"]
base_layers = $layers

[offer]
cpu = 120000
memory = 256
storage = 64
bandwidth = 65536
cpu_price = "1 uMDC"
bandwidth_price = "1000 planck"
deposit = "100 MDC"
window = 600
TOML
	cat >"$DEVNET/config/mediator.toml" <<TOML
account = "$mediator"
architecture = "amd64"
fee = "10 mMDC"
bond = "100 MDC"
trusted_directories = ["$directory"]
base_layers = $layers
TOML
	cat >"$DEVNET/config/directory.toml" <<TOML
account = "$directory"
endpoint = "http://127.0.0.1:$REGISTRY_PORT"
fee = "10 mMDC"
bond = "100 MDC"
TOML
	cat >"$DEVNET/config/solver.toml" <<TOML
account = "$(account_of //Charlie)"
TOML
}

# Starts node NAME; its command line is kept in data/NAME.command for restart-node.
start_node() { # index name [flags...]
	local i="$1" name="$2"
	shift 2
	printf '%q ' "$NODE" --chain "$DEVNET/config/spec.json" "$@" \
		--base-path "$DEVNET/data/$name" --node-key-file "$DEVNET/data/$name.node-key" \
		--port $((30333 + OFFSET + i)) --rpc-port "$(rpc_port "$i")" --prometheus-port $((9615 + OFFSET + i)) \
		--rpc-cors all --state-pruning archive-canonical --no-mdns --no-telemetry --bootnodes "$BOOTNODE" --name "$name" \
		>"$DEVNET/data/$name.command"
	restart_node "$name"
}

restart_node() { # name
	local command="$DEVNET/data/$1.command"
	[ -f "$command" ] || { echo "no node named $1" >&2; exit 1; }
	(eval "exec $(cat "$command")") >>"$DEVNET/logs/$1.log" 2>&1 &
	echo "$1 $!" >>"$PIDS"
}

insert_key() { # node seed
	"$NODE" key insert --chain "$DEVNET/config/spec.json" --base-path "$DEVNET/data/$1" \
		--key-type mdcm --scheme sr25519 --suri "$2"
}

# Whether the provider, mediator and directory are registered (market_actors over JSON-RPC).
roles_registered() {
	rpc "$(rpc_port 0)" market_actors | python3 -c '
import json, sys
actors = json.load(sys.stdin)
registered = lambda role: {entry[0] for entry in actors[role]}
sys.exit(0 if sys.argv[1] in registered("resourceProviders") and sys.argv[2] in registered("mediators")
         and sys.argv[3] in registered("directories") else 1)' \
		"$(account_of //Eve)" "$(account_of //Ferdie)" "$(account_of //Dave)"
}

wait_until() { # seconds what command...
	local deadline=$((SECONDS + $1)) what="$2"
	shift 2
	until "$@" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "$what did not happen; see $DEVNET/logs/" >&2
			stop_all
			exit 1
		fi
		sleep 1
	done
}

finalizing() { [ "$(finalized_number "$(rpc_port 0)")" -ge 2 ]; }

start() {
	local detach="$1" validators="$2" roles="$3"
	[ -f "$ROOT/.setup-done" ] || "$ROOT/scripts/setup.sh"
	if [ -f "$PIDS" ]; then
		while read -r _ pid; do
			is_ours "$pid" && { echo "the devnet is already running; scripts/devnet.sh stop first" >&2; exit 1; }
		done <"$PIDS"
	fi
	log "building modicum-node (a no-op when it is up to date)"
	(cd "$ROOT" && cargo build --release --locked --workspace)

	unmount_runs
	rm -rf "$DEVNET/data" "$DEVNET/logs" "$DEVNET/config" "$DEVNET/registry"
	mkdir -p "$DEVNET/data" "$DEVNET/logs" "$DEVNET/config"
	: >"$PIDS"
	write_chain_spec "$validators"

	local names=("${VALIDATORS[@]:0:$validators}")
	[ "$roles" = 1 ] && names+=(eve market)
	printf '%s\n' "${names[@]}" >"$NODES_FILE"
	# Fixed node keys make every peer id, and so the bootnode address, known in advance.
	for i in "${!names[@]}"; do printf '%064x' $((i + 1)) >"$DEVNET/data/${names[$i]}.node-key"; done
	BOOTNODE="/ip4/127.0.0.1/tcp/$((30333 + OFFSET))/p2p/$("$NODE" key inspect-node-key --file "$DEVNET/data/${names[0]}.node-key")"

	if [ "$roles" = 1 ]; then
		ensure_dockerd
		local kind layers=()
		for kind in "${BASE_KINDS[@]}"; do
			build_base_image "modicum/base:$kind" "$kind"
			layers+=("$(base_layer_of "modicum/base:$kind")")
		done
		start_registry "$DEVNET/registry" "$REGISTRY_PORT" >>"$PIDS"
		write_role_configs "${layers[@]}"
		insert_key eve //Eve
		insert_key market //Ferdie
		insert_key market //Charlie
		insert_key market //Dave
	fi

	for i in $(seq 0 $((validators - 1))); do
		start_node "$i" "${names[$i]}" --"${names[$i]}" --validator
	done
	log "waiting for finality"
	wait_until 180 "finality" finalizing

	if [ "$roles" = 1 ]; then
		start_node "$((validators + 1))" market \
			--mediator "$DEVNET/config/mediator.toml" --solver "$DEVNET/config/solver.toml" \
			--directory "$DEVNET/config/directory.toml"
		start_node "$validators" eve --provider "$DEVNET/config/provider.toml"
		log "waiting for the provider, mediator and directory to register"
		wait_until 120 "registration of every role" roles_registered
	fi
	status
	local market=""
	[ "$roles" = 1 ] && market=", provider, solver, mediator and directory registered"
	cat <<EOF

Modicum devnet is up: $validators validator(s) finalizing$market.
  JSON-RPC:        ws://127.0.0.1:$(rpc_port 0) (${names[0]}), and each node listed above
  Polkadot.js:     https://polkadot.js.org/apps/?rpc=ws%3A%2F%2F127.0.0.1%3A$(rpc_port 0)#/explorer
  Registry:        http://127.0.0.1:$REGISTRY_PORT (directory: Dave)
  Base images:     modicum/base:busybox, modicum/base:python (scripts/base-images/README.md)
  Publish a job:   scripts/devnet.sh publish-job DIR REPOSITORY [busybox|python]
  Logs:            $DEVNET/logs/
  Stop:            scripts/devnet.sh stop
EOF
	if [ "$detach" = 0 ]; then
		trap 'echo; stop_all; exit 0' INT TERM
		log "running; Ctrl-C stops it"
		while sleep 1; do :; done
	fi
}

usage() { sed -n '2,23p' "$0"; exit 2; }

case "${1:-start}" in
start | --*)
	[ "${1:-}" = start ] && shift
	detach=0 validators=2 roles=1
	while [ $# -gt 0 ]; do
		case "$1" in
		--detach) detach=1 ;;
		--no-roles) roles=0 ;;
		--validators) validators="${2:?--validators N}" && shift ;;
		*) usage ;;
		esac
		shift
	done
	[ "$validators" -ge 1 ] && [ "$validators" -le 4 ] || { echo "--validators takes 1 to 4" >&2; exit 2; }
	start "$detach" "$validators" "$roles"
	;;
stop) stop_all ;;
status) status ;;
stop-node) stop_node "${2:?which node?}" ;;
restart-node) restart_node "${2:?which node?}" && log "restarted $2" ;;
publish-job)
	base="${4:-busybox}"
	case "$base" in busybox | python) ;; *) echo "publish-job: BASE is busybox or python" >&2; exit 2 ;; esac
	# Both bases, as a Dockerfile of DIR may name either (a no-op when they are up to date).
	for kind in "${BASE_KINDS[@]}"; do build_base_image "modicum/base:$kind" "$kind" >&2; done
	publish_job "${2:?job directory}" "${3:?repository}" "127.0.0.1:$REGISTRY_PORT" "modicum/base:$base"
	;;
*) usage ;;
esac
