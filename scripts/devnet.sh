#!/usr/bin/env bash
# A local Modicum devnet on 127.0.0.1: validators, and a market ready to take a job — a provider
# node (Eve) running jobs in Docker, and a market node running the mediator (Ferdie), the solver
# (Charlie) and the directory (Dave) in front of a docker-registry. All are funded at genesis.
#
#   scripts/devnet.sh [start] [--detach] [--validators N] [--no-roles] [--hosts]
#                      start a fresh chain with N validators (1-4, default 2: jobs need CPU
#                      too), wait for finality and for every role to be registered, print the
#                      endpoints; without --detach, Ctrl-C stops it. --hosts: every node on a
#                      "host" of its own (below)
#   scripts/devnet.sh status               best and finalized block of each node
#   scripts/devnet.sh join NAME            --hosts: a stranger's validator node on a new host
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
# market) p2p 30333+i, JSON-RPC (WS and HTTP) 9944+i, Prometheus 9615+i; the registry 5000; the
# mediator's reference download 18080.
# Everything lives under devnet/ in the checkout (or MODICUM_DEVNET_DIR): data/, logs/, config/.
#
# --hosts (root; Linux network namespaces): node i runs in the network namespace
# modicum-<offset>-<name> at 10.A.B.(10+i), on the bridge mdcm<offset> (10.A.B.1/24, in this
# namespace; A.B = 32 + offset / 256, offset % 256), with the same ports on its own address. The
# directory gets a node of its own (Dave, after market), and its registry runs on that host over
# https (a throwaway CA: registry/ca.pem) with basic auth (config/<user>.password). The provider
# and the mediator each run jobs in a dockerd of their own host (data under docker/<name>,
# socket /run/<namespace>/docker.sock). Job creators stay in this namespace: their CLI reaches
# the nodes and the registry through the bridge (config/registry.toml) and builds with this
# machine's dockerd. `stop` removes the nodes, engines, registry, namespaces and bridge.
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
REFERENCE_PORT=$((18080 + OFFSET))
# The job base images (scripts/base-images/): the provider and mediator support both.
BASE_KINDS=(busybox python)
# --hosts: the hosts (name address namespace, one a line) and the bridge (BRIDGE= SUBNET=) of a
# devnet of network namespaces; present while it has any.
HOSTS_FILE="$DEVNET/hosts"
NETWORK_FILE="$DEVNET/network"
HOSTS=0
# The registry's URL, and the bridge and /24 of a new --hosts devnet, with this offset (a --hosts
# devnet that runs has its own in its network file).
network_of_offset() {
	REGISTRY_URL="http://127.0.0.1:$REGISTRY_PORT"
	BRIDGE="mdcm$OFFSET"
	SUBNET="10.$((32 + OFFSET / 256)).$((OFFSET % 256))"
}
network_of_offset
if [ -f "$NETWORK_FILE" ]; then
	# shellcheck source=/dev/null
	. "$NETWORK_FILE"
	HOSTS=1
fi

# shellcheck source=scripts/services.sh
. "$ROOT/scripts/services.sh"

log() { printf '[devnet] %s\n' "$*"; }

rpc_port() { echo $((9944 + OFFSET + $1)); }

# The address node i listens on: 127.0.0.1, or with --hosts its own.
node_address() {
	if [ "$HOSTS" = 1 ]; then echo "$SUBNET.$((10 + $1))"; else echo 127.0.0.1; fi
}

# host:port of node i's JSON-RPC.
rpc_address() { echo "$(node_address "$1"):$(rpc_port "$1")"; }

# JSON-RPC call over HTTP; prints the `result` as JSON.
rpc() { # host:port method [params]
	local address="$1" method="$2" params="${3:-[]}"
	curl -sf -m 5 -H 'Content-Type: application/json' \
		-d "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"$method\",\"params\":$params}" \
		"http://$address" |
		python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["result"]))'
}

block_number() { # host:port [hash]
	local params="[]"
	[ -n "${2:-}" ] && params="[$2]"
	rpc "$1" chain_getHeader "$params" | python3 -c 'import json,sys; print(int(json.load(sys.stdin)["number"], 16))'
}

finalized_number() {
	block_number "$1" "$(rpc "$1" chain_getFinalizedHead)"
}

is_ours() { # pid: true if it is a live process we started (a node, the registry, a host's dockerd, the reference server)
	[ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q -E "(modicum-node|docker-registry|dockerd|busybox httpd).*$DEVNET"
}

# Unmounts what is mounted under DIR, innermost first.
unmount_under() { # dir/
	awk -v dir="$1" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount 2>/dev/null || true
}

# Unmounts the /out of job runs a killed provider or mediator left under the devnet (and with
# --hosts what the hosts' dockerds left mounted there).
unmount_runs() { unmount_under "$DEVNET/"; }

# --hosts: the network namespace of host NAME and the socket of its dockerd.
netns_of() { awk -v name="$1" '$1 == name { print $3 }' "$HOSTS_FILE"; }
docker_host_of() { echo "unix:///run/$(netns_of "$1")/docker.sock"; }

# Stops host NAME's dockerd PID: its containers first (a killed provider's runs), then the engine.
stop_dockerd() { # name pid
	local engine
	engine="$(docker_host_of "$1")"
	DOCKER_HOST="$engine" timeout 60 docker ps -aq 2>/dev/null |
		DOCKER_HOST="$engine" xargs -r timeout 60 docker rm -f >/dev/null 2>&1 || true
	kill "$2" 2>/dev/null || true
	for _ in $(seq 300); do is_ours "$2" || break; sleep 0.1; done
	log "stopped dockerd of $1 (pid $2)"
}

# --hosts: ends what still runs in the hosts' namespaces (a dockerd's containerd and shims), then
# removes their runtime state, the namespaces (their veths with them) and the bridge.
remove_hosts() {
	local i=0 name address ns
	if [ -f "$HOSTS_FILE" ]; then
		while read -r name address ns; do
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
			for _ in $(seq 50); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
			unmount_under "/run/$ns/"
			rm -rf "/run/$ns"
			# The veth pair at once (a namespace's own links go only once the kernel frees it).
			ip link delete "$BRIDGE-$i" 2>/dev/null || true
			ip netns delete "$ns" 2>/dev/null || true
			i=$((i + 1))
		done <"$HOSTS_FILE"
	fi
	ip link delete "$BRIDGE" 2>/dev/null || true
	rm -f "$HOSTS_FILE" "$NETWORK_FILE"
	log "removed the hosts' namespaces and the bridge $BRIDGE"
}

stop_all() {
	if [ ! -f "$PIDS" ]; then
		log "not running"
		unmount_runs
		[ "$HOSTS" = 1 ] && remove_hosts
		return 0
	fi
	while read -r name pid; do
		if [ "${name#dockerd-}" = "$name" ] && is_ours "$pid"; then
			kill "$pid" 2>/dev/null || true
			log "stopped $name (pid $pid)"
		fi
	done <"$PIDS"
	# Wait for them to close their databases; a provider or mediator ends or cancels its runs
	# first (a node gives its workers at most 60 s).
	while read -r name pid; do
		[ "${name#dockerd-}" = "$name" ] || continue
		for _ in $(seq 700); do is_ours "$pid" || break; sleep 0.1; done
	done <"$PIDS"
	# --hosts: the engines once no node uses them.
	while read -r name pid; do
		[ "${name#dockerd-}" != "$name" ] && is_ours "$pid" && stop_dockerd "${name#dockerd-}" "$pid"
	done <"$PIDS"
	rm -f "$PIDS"
	[ "$HOSTS" = 1 ] && remove_hosts
	unmount_runs
}

# The index of node NAME (its ports' offset), from the nodes file; empty if it has none.
node_index() { # name
	[ -f "$NODES_FILE" ] || return 0
	awk -v name="$1" '$1 == name { print NR - 1; exit }' "$NODES_FILE"
}

# Stops node NAME and succeeds only once it is down: every process of it gone (it has closed its
# database, so it can be restarted at once) and its JSON-RPC no longer answering. Otherwise it
# fails, saying what still runs.
stop_node() {
	local target="$1" pids=() alive name pid index
	[ -f "$PIDS" ] || { echo "the devnet is not running" >&2; exit 1; }
	while read -r name pid; do
		if [ "$name" = "$target" ] && is_ours "$pid"; then
			kill "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done <"$PIDS"
	[ "${#pids[@]}" -gt 0 ] || { echo "no running node named $target" >&2; exit 1; }
	for _ in $(seq 700); do
		alive=0
		for pid in "${pids[@]}"; do is_ours "$pid" && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for pid in "${pids[@]}"; do
		if is_ours "$pid"; then
			echo "stop-node: $target (pid $pid) still runs 70 s after SIGTERM (a node gives its workers at most 60 s to end); it is not stopped" >&2
			exit 1
		fi
	done
	index="$(node_index "$target")"
	if [ -n "$index" ] && rpc "$(rpc_address "$index")" system_health >/dev/null 2>&1; then
		echo "stop-node: $target's process is gone but its JSON-RPC at $(rpc_address "$index") still answers; it is not stopped" >&2
		exit 1
	fi
	log "stopped $target (pid ${pids[*]}); its JSON-RPC no longer answers"
}

status() {
	[ -f "$NODES_FILE" ] || { echo "the devnet has not been started" >&2; exit 1; }
	local i=0 name address best finalized
	while read -r name; do
		address="$(rpc_address "$i")"
		if best="$(block_number "$address" 2>/dev/null)"; then
			finalized="$(finalized_number "$address")"
			printf '%-8s ws://%s  best #%s  finalized #%s  lag %s\n' \
				"$name" "$address" "$best" "$finalized" "$((best - finalized))"
		else
			printf '%-8s ws://%s  down\n' "$name" "$address"
		fi
		i=$((i + 1))
	done <"$NODES_FILE"
}

# A chain spec whose genesis keeps the first N local validators (their session keys and their
# invulnerable seats). Its fork id is new on every start: a node left over from an earlier devnet
# (same genesis) cannot join.
write_chain_spec() { # validators
	"$NODE" build-spec --chain local --disable-default-bootnode 2>/dev/null | python3 -c '
import json, secrets, sys
n = int(sys.argv[1])
spec = json.load(sys.stdin)
patch = spec["genesis"]["runtimeGenesis"]["patch"]
patch["session"]["keys"] = patch["session"]["keys"][:n]
patch["collatorSelection"]["invulnerables"] = patch["collatorSelection"]["invulnerables"][:n]
spec["forkId"] = "devnet-" + secrets.token_hex(4)
json.dump(spec, sys.stdout, indent=1)' "$1" >"$DEVNET/config/spec.json"
}

# SS58 of a dev seed.
account_of() {
	"$NODE" key inspect --output-type json "$1" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["ss58Address"])'
}

# --hosts: the [[registry]] login of USER at the directory's registry (its CA, and the password
# given to USER); nothing on 127.0.0.1, where the registry asks for none.
registry_login() { # user
	[ "$HOSTS" = 1 ] || return 0
	cat <<TOML

[[registry]]
endpoint = "$REGISTRY_URL"
ca_file = "$DEVNET/registry/ca.pem"
username = "$1"
password_file = "$DEVNET/config/$1.password"
TOML
}

# The role files of scripts/devnet-roles/ (the devnet's accounts), with this devnet's folder for
# `/devnet/`, its registry's URL and the base layers it built; with --hosts, each role's login.
write_role_configs() { # base_layer...
	local role
	for role in provider mediator directory solver; do
		python3 - "$ROOT/scripts/devnet-roles/$role.toml" "$DEVNET" "$REGISTRY_URL" "$REFERENCE_URL" "$@" \
			>"$DEVNET/config/$role.toml" <<'PY'
import re, sys
path, devnet, registry, reference, layers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
text = open(path).read()
text = text.replace('"/devnet/', '"' + devnet + '/').replace('"http://127.0.0.1:5000"', '"' + registry + '"')
text = text.replace('"http://127.0.0.1:18080/reference"', '"' + reference + '"')
text = re.sub(r"base_layers = \[[^\]]*\]", "base_layers = [" + ", ".join('"%s"' % l for l in layers) + "]", text)
sys.stdout.write(text)
PY
		[ "$role" = solver ] || registry_login "$role" >>"$DEVNET/config/$role.toml"
	done
	echo "100 MDC" >"$DEVNET/electricity-price"
}

# Starts node NAME; its command line is kept in data/NAME.command for restart-node. With --hosts
# it runs in its host's namespace, listening on the host's address only (JSON-RPC's safe methods
# and Prometheus for every host on the bridge), using the host's dockerd if it has one.
# RPC=private: its JSON-RPC, unsafe methods included, answers only on its host's loopback.
start_node() { # index name [flags...]
	local i="$1" name="$2" host=() network=(--port $((30333 + OFFSET + $1)))
	shift 2
	if [ "$HOSTS" = 1 ]; then
		host=(nsenter --net="/run/netns/$(netns_of "$name")")
		[ -S "/run/$(netns_of "$name")/docker.sock" ] && host+=(env "DOCKER_HOST=$(docker_host_of "$name")")
		network=(--listen-addr "/ip4/$(node_address "$i")/tcp/$((30333 + OFFSET + i))" --prometheus-external)
		if [ "${RPC:-}" = private ]; then
			network+=(--rpc-methods unsafe)
		else
			network+=(--unsafe-rpc-external --rpc-methods safe)
		fi
	fi
	printf '%q ' "${host[@]}" "$NODE" --chain "$DEVNET/config/spec.json" "$@" \
		--base-path "$DEVNET/data/$name" --node-key-file "$DEVNET/data/$name.node-key" \
		"${network[@]}" --rpc-port "$(rpc_port "$i")" --prometheus-port $((9615 + OFFSET + i)) \
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

# Whether the provider, mediator and directory are registered, and the directory trusts the
# mediator (market_actors over JSON-RPC).
roles_registered() {
	rpc "$(rpc_address 0)" market_actors | python3 -c '
import json, sys
actors = json.load(sys.stdin)
registered = lambda role: {entry[0] for entry in actors[role]}
directory = dict(actors["directories"]).get(sys.argv[3], {})
sys.exit(0 if sys.argv[1] in registered("resourceProviders") and sys.argv[2] in registered("mediators")
         and sys.argv[2] in directory.get("trustedMediators", []) else 1)' \
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

finalizing() { [ "$(finalized_number "$(rpc_address 0)")" -ge 2 ]; }

# --hosts: fails unless this offset's bridge and /24 are free.
check_hosts_free() {
	if ip link show "$BRIDGE" >/dev/null 2>&1; then
		echo "the bridge $BRIDGE exists: a --hosts devnet with offset $OFFSET runs from another MODICUM_DEVNET_DIR" >&2
		exit 1
	fi
	if ip -o -4 addr show | grep -q -F " $SUBNET." || [ -n "$(ip route show "$SUBNET.0/24")" ]; then
		echo "$SUBNET.0/24 is in use on this machine; choose another MODICUM_DEVNET_PORT_OFFSET" >&2
		exit 1
	fi
}

# --hosts: the bridge, and on it a network namespace for each node NAME (the hosts file). Both
# files are written first, so that stop removes whatever a failed start created.
add_hosts() { # name...
	printf 'BRIDGE=%s\nSUBNET=%s\nREGISTRY_URL=%s\n' "$BRIDGE" "$SUBNET" "$REGISTRY_URL" >"$NETWORK_FILE"
	: >"$HOSTS_FILE"
	ip link add "$BRIDGE" type bridge
	ip addr add "$SUBNET.1/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	local name
	for name in "$@"; do add_host "$name"; done
}

# --hosts: host NAME on the bridge, with the next address.
add_host() { # name
	local i ns veth
	i="$(wc -l <"$HOSTS_FILE")"
	ns="modicum-$OFFSET-$1" veth="$BRIDGE-$i"
	echo "$1 $(node_address "$i") $ns" >>"$HOSTS_FILE"
	ip netns add "$ns"
	ip link add "$veth" type veth peer name "${veth}p" netns "$ns"
	ip link set "$veth" master "$BRIDGE" up
	ip -n "$ns" link set "${veth}p" name eth0
	ip -n "$ns" addr add "$(node_address "$i")/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" route add default via "$SUBNET.1"
}

# --hosts: a stranger's validator node NAME on a new host, knowing only the chain spec and the
# first validator as bootnode; it validates once its account sets keys and bonds a candidacy
# (docs/tutorials/run-a-validator.md).
join() { # name
	local name="$1" i bootnode
	[ "$HOSTS" = 1 ] || { echo "join needs a --hosts devnet" >&2; exit 1; }
	grep -q "^$name " "$HOSTS_FILE" && { echo "a host named $name exists" >&2; exit 1; }
	add_host "$name"
	echo "$name" >>"$NODES_FILE"
	i=$(($(wc -l <"$NODES_FILE") - 1))
	printf '%064x' $((i + 1)) >"$DEVNET/data/$name.node-key"
	bootnode="/ip4/$(node_address 0)/tcp/$((30333 + OFFSET))/p2p/$("$NODE" key inspect-node-key --file "$DEVNET/data/$(head -n1 "$NODES_FILE").node-key")"
	BOOTNODE="$bootnode" RPC=private start_node "$i" "$name" --validator
	wait_until 120 "$name's JSON-RPC" nsenter --net="/run/netns/$(netns_of "$name")" \
		curl -sf -m 2 -o /dev/null -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"system_health","params":[]}' "http://127.0.0.1:$(rpc_port "$i")"
	log "$name runs on $(node_address "$i") (namespace $(netns_of "$name")); its JSON-RPC: ws://127.0.0.1:$(rpc_port "$i") there"
}

# --hosts: the provider's and the mediator's hosts get a dockerd each, with the base images; the
# directory's host the registry, over https with a login for each party (config/USER.password;
# config/registry.toml is the job creators'). The job creators' own engine is this machine's.
start_host_services() {
	local host kind user address
	for host in eve market; do
		start_dockerd "$host" "$DEVNET/docker/$host" "/run/$(netns_of "$host")" "$DEVNET/logs/dockerd-$host.log" \
			"$(netns_of "$host")" >>"$PIDS"
		for kind in "${BASE_KINDS[@]}"; do
			DOCKER_HOST="$(docker_host_of "$host")" build_base_image "modicum/base:$kind" "$kind"
		done
	done
	address="$(awk '$1 == "directory" { print $2 }' "$HOSTS_FILE")"
	make_registry_tls "$DEVNET/registry" "$address"
	for user in provider mediator directory creator; do
		add_registry_user "$DEVNET/registry" "$user" "$DEVNET/config/$user.password"
	done
	start_registry "$DEVNET/registry" "$REGISTRY_PORT" "$address" "$(netns_of directory)" >>"$PIDS"
	registry_login creator | sed 1d >"$DEVNET/config/registry.toml"
}

start() {
	local detach="$1" validators="$2" roles="$3" hosts="$4"
	"$ROOT/scripts/setup.sh"
	if [ -f "$PIDS" ]; then
		while read -r _ pid; do
			is_ours "$pid" && { echo "the devnet is already running; scripts/devnet.sh stop first" >&2; exit 1; }
		done <"$PIDS"
	fi
	[ "$hosts" = 0 ] || [ "$(id -u)" = 0 ] || { echo "--hosts needs root (network namespaces)" >&2; exit 1; }
	log "building modicum-node (a no-op when it is up to date)"
	(cd "$ROOT" && cargo build --release --locked --workspace)

	# What an earlier --hosts devnet here left.
	[ "$HOSTS" = 0 ] || remove_hosts
	HOSTS="$hosts"
	network_of_offset
	[ "$HOSTS" = 0 ] || check_hosts_free
	unmount_runs
	rm -rf "$DEVNET/data" "$DEVNET/logs" "$DEVNET/config" "$DEVNET/registry"
	mkdir -p "$DEVNET/data" "$DEVNET/logs" "$DEVNET/config"
	: >"$PIDS"
	write_chain_spec "$validators"

	local names=("${VALIDATORS[@]:0:$validators}")
	[ "$roles" = 1 ] && names+=(eve market)
	# --hosts: the directory and its registry on a host of their own, so that images and results
	# cross from it to the provider and the mediator.
	[ "$roles" = 1 ] && [ "$HOSTS" = 1 ] && names+=(directory)
	printf '%s\n' "${names[@]}" >"$NODES_FILE"
	if [ "$HOSTS" = 1 ]; then
		# A failed start leaves no node, engine, namespace or bridge behind.
		trap '[ -f "$PIDS" ] || [ -f "$NETWORK_FILE" ] && stop_all' EXIT
		REGISTRY_URL="https://$(node_address $((validators + 2))):$REGISTRY_PORT"
		add_hosts "${names[@]}"
	fi
	# Fixed node keys make every peer id, and so the bootnode address, known in advance.
	for i in "${!names[@]}"; do printf '%064x' $((i + 1)) >"$DEVNET/data/${names[$i]}.node-key"; done
	BOOTNODE="/ip4/$(node_address 0)/tcp/$((30333 + OFFSET))/p2p/$("$NODE" key inspect-node-key --file "$DEVNET/data/${names[0]}.node-key")"

	if [ "$roles" = 1 ]; then
		ensure_dockerd
		local kind layers=()
		for kind in "${BASE_KINDS[@]}"; do
			build_base_image "modicum/base:$kind" "$kind"
			layers+=("$(base_layer_of "modicum/base:$kind")")
		done
		if [ "$HOSTS" = 1 ]; then
			start_host_services
		else
			start_registry "$DEVNET/registry" "$REGISTRY_PORT" >>"$PIDS"
		fi
		# On this machine (with --hosts: on the bridge, which every host reaches).
		local reference_address=127.0.0.1
		[ "$HOSTS" = 1 ] && reference_address="$SUBNET.1"
		REFERENCE_URL="http://$reference_address:$REFERENCE_PORT/reference"
		start_reference "$DEVNET/reference" "$REFERENCE_PORT" "$reference_address" >>"$PIDS"
		write_role_configs "${layers[@]}"
		insert_key eve //Eve
		insert_key market //Ferdie
		insert_key market //Charlie
		if [ "$HOSTS" = 1 ]; then insert_key directory //Dave; else insert_key market //Dave; fi
	fi

	for i in $(seq 0 $((validators - 1))); do
		start_node "$i" "${names[$i]}" --"${names[$i]}" --validator
	done
	log "waiting for finality"
	wait_until 180 "finality" finalizing

	if [ "$roles" = 1 ] && [ "$HOSTS" = 1 ]; then
		start_node "$((validators + 2))" directory --directory "$DEVNET/config/directory.toml"
		start_node "$((validators + 1))" market \
			--mediator "$DEVNET/config/mediator.toml" --solver "$DEVNET/config/solver.toml"
	elif [ "$roles" = 1 ]; then
		start_node "$((validators + 1))" market \
			--mediator "$DEVNET/config/mediator.toml" --solver "$DEVNET/config/solver.toml" \
			--directory "$DEVNET/config/directory.toml"
	fi
	if [ "$roles" = 1 ]; then
		start_node "$validators" eve --provider "$DEVNET/config/provider.toml"
		log "waiting for the provider, mediator and directory to register"
		wait_until 120 "registration of every role" roles_registered
	fi
	status
	local market=""
	[ "$roles" = 1 ] && market=", provider, solver, mediator and directory registered"
	if [ "$HOSTS" = 1 ]; then
		trap - EXIT
		hosts_summary "$validators" "$market"
	else
		summary "$validators" "$market"
	fi
	if [ "$detach" = 0 ]; then
		trap 'echo; stop_all; exit 0' INT TERM
		log "running; Ctrl-C stops it"
		while sleep 1; do :; done
	fi
}

# What the devnet prints once it is up.
summary() { # validators market
	cat <<EOF

Modicum devnet is up: $1 validator(s) finalizing$2.
  JSON-RPC:        ws://127.0.0.1:$(rpc_port 0) (${VALIDATORS[0]}), and each node listed above
  Polkadot.js:     https://polkadot.js.org/apps/?rpc=ws%3A%2F%2F127.0.0.1%3A$(rpc_port 0)#/explorer
  Registry:        http://127.0.0.1:$REGISTRY_PORT (directory: Dave)
  Base images:     modicum/base:busybox, modicum/base:python (scripts/base-images/README.md)
  Publish a job:   scripts/devnet.sh publish-job DIR REPOSITORY [busybox|python]
  Logs:            $DEVNET/logs/
  Stop:            scripts/devnet.sh stop
EOF
}

# What a --hosts devnet prints once it is up.
hosts_summary() { # validators market
	local rpc
	rpc="$(rpc_address 0)"
	cat <<EOF

Modicum devnet is up on hosts of their own: $1 validator(s) finalizing$2.
  JSON-RPC:        ws://$rpc or http://$rpc (${VALIDATORS[0]}), and each node listed above
  Polkadot.js:     https://polkadot.js.org/apps/?rpc=ws%3A%2F%2F${rpc/:/%3A}#/explorer
  Hosts:           bridge $BRIDGE $SUBNET.1/24; nsenter --net=/run/netns/NAMESPACE CMD runs CMD on one
$(while read -r name address ns; do printf '                   %-9s %-13s %s\n' "$name" "$address" "$ns"; done <"$HOSTS_FILE")
EOF
	[ -f "$DEVNET/config/registry.toml" ] && cat <<EOF
  Registry:        $REGISTRY_URL (directory: Dave; CA $DEVNET/registry/ca.pem)
  Job creators:    MODICUM_REGISTRY_CONFIG=$DEVNET/config/registry.toml  modicum --url http://$rpc …
                   (jobs build in this machine's dockerd)
  Engines:         eve DOCKER_HOST=$(docker_host_of eve), market DOCKER_HOST=$(docker_host_of market)
EOF
	cat <<EOF
  Logs:            $DEVNET/logs/
  Stop:            scripts/devnet.sh stop
EOF
}

usage() { sed -n '2,33p' "$0"; exit 2; }

case "${1:-start}" in
start | --*)
	[ "${1:-}" = start ] && shift
	detach=0 validators=2 roles=1 hosts=0
	while [ $# -gt 0 ]; do
		case "$1" in
		--detach) detach=1 ;;
		--no-roles) roles=0 ;;
		--hosts) hosts=1 ;;
		--validators) validators="${2:?--validators N}" && shift ;;
		*) usage ;;
		esac
		shift
	done
	[ "$validators" -ge 1 ] && [ "$validators" -le 4 ] || { echo "--validators takes 1 to 4" >&2; exit 2; }
	start "$detach" "$validators" "$roles" "$hosts"
	;;
stop) stop_all ;;
status) status ;;
join) join "${2:?which name?}" ;;
stop-node) stop_node "${2:?which node?}" ;;
restart-node) restart_node "${2:?which node?}" && log "restarted $2" ;;
publish-job)
	base="${4:-busybox}"
	case "$base" in busybox | python) ;; *) echo "publish-job: BASE is busybox or python" >&2; exit 2 ;; esac
	# Both bases, as a Dockerfile of DIR may name either (a no-op when they are up to date).
	for kind in "${BASE_KINDS[@]}"; do build_base_image "modicum/base:$kind" "$kind" >&2; done
	# --hosts: the registry over https, with the job creators' CA and login.
	[ "$HOSTS" != 1 ] || export MODICUM_REGISTRY_CONFIG="$DEVNET/config/registry.toml"
	publish_job "${2:?job directory}" "${3:?repository}" "$REGISTRY_URL" "modicum/base:$base"
	;;
*) usage ;;
esac
