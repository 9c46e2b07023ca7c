#!/usr/bin/env bash
# The whole test suite: unit, runtime and node tests (`cargo test --release --workspace`), the
# market fuzzer on a fixed seed, the Polkadot.js compatibility check against a real dev node, the
# executor's metering on this host and in a cgroup v2 VM, registries over TLS and directory
# retention, the market workers end to end on the
# devnet (real dockerd, real registry), the solver benchmark, the 4-validator devnet's
# finality with one validator stopped, and on the devnet of network-namespace hosts
# (`devnet.sh --hosts`: a dockerd per host, the registry over https) an accepted and a mediated
# match, then a stranger's host joining the validators from Polkadot.js.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modicum/target}"

step() { printf '\n==> %s\n' "$*"; }
elapsed() { printf '    (%ds)\n' "$((SECONDS - $1))"; }

"$ROOT/scripts/setup.sh"

# The cgroup v2 VM's image (cached under ~/.cache/modicum/vm once built) builds beside the
# compiler: debootstrap waits mostly on the network and the disk, not the cores. Should the
# suite stop first, the build still ends on its own (it is cached for the next run).
vm_log="$(mktemp)"
scripts/cgroup2-vm.sh image >"$vm_log" 2>&1 &
vm_image=$!

step "cargo test --release --workspace"
t=$SECONDS
# On CI, cargo's per-crate build times go to $CARGO_TARGET_DIR/cargo-timings/ (the build is
# most of a cold run).
cargo test --release --locked --workspace ${CI:+--timings}
elapsed "$t"

NODE="$CARGO_TARGET_DIR/release/modicum-node"
cargo build --release --locked --workspace

# The fuzzer keeps one core busy beside the Polkadot.js check, which mostly waits for blocks.
fuzz_started=$SECONDS
fuzz_log="$(mktemp)"
"$CARGO_TARGET_DIR/release/market-fuzz" --seed 1 --calls 40000 >"$fuzz_log" 2>&1 &
fuzz=$!

step "Polkadot.js @polkadot/api against a dev node (the market fuzzer runs beside it)"
t=$SECONDS
tmp="$(mktemp -d)"
"$NODE" --dev --base-path "$tmp" --rpc-port 19944 --port 30999 --no-prometheus --no-telemetry --no-mdns \
	>"$tmp/node.log" 2>&1 &
node_pid=$!
trap 'kill $node_pid $fuzz 2>/dev/null || true; wait $node_pid 2>/dev/null || true; rm -rf "$tmp" "$fuzz_log"' EXIT
for _ in $(seq 120); do
	curl -sf -m 2 -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"system_health","params":[]}' http://127.0.0.1:19944 >/dev/null && break
	sleep 0.5
done
(cd tests/js && node polkadot-js.mjs ws://127.0.0.1:19944) || { tail -n 50 "$tmp/node.log"; exit 1; }
kill $node_pid; wait $node_pid 2>/dev/null || true
trap 'kill $fuzz 2>/dev/null || true; rm -f "$fuzz_log"' EXIT
rm -rf "$tmp"
elapsed "$t"

step "market fuzzer, fixed seed (docs/security.md; scripts/fuzz.sh runs a million calls)"
fuzzed=0
wait "$fuzz" || fuzzed=$?
trap - EXIT
cat "$fuzz_log"
rm -f "$fuzz_log"
[ "$fuzzed" = 0 ] || { echo "the market fuzzer failed (exit $fuzzed)" >&2; exit 1; }
elapsed "$fuzz_started"

step "executor, registries and directory retention against real Docker and docker-registry; the executor again in a cgroup v2 VM"
t=$SECONDS
# This host is cgroup v1; the VM is Debian 12 on cgroup v2 with Docker's systemd driver, built
# once into ~/.cache/modicum/vm (scripts/cgroup2-vm.sh) while cargo compiled.
wait "$vm_image" || { cat "$vm_log"; echo "the cgroup v2 VM image did not build" >&2; exit 1; }
rm -f "$vm_log"
scripts/executor-tests.sh
cargo test --release --locked --workspace --test registry --test retention -- --ignored --test-threads 1
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
# Finality counts as kept without dave only while dave is really down: no process of it left and
# its JSON-RPC (node 3) not answering, before the measurement and after it.
DAVE_RPC="http://127.0.0.1:$((9944 + MODICUM_DEVNET_PORT_OFFSET + 3))"
dave_down() { # when
	local pid
	for pid in $(awk '$1 == "dave" { print $2 }' "$MODICUM_DEVNET_DIR/pids"); do
		if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q modicum-node; then
			echo "dave (pid $pid) still runs $1" >&2; scripts/devnet.sh status; exit 1
		fi
	done
	if curl -s -m 5 -o /dev/null -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"system_health","params":[]}' "$DAVE_RPC"; then
		echo "dave's JSON-RPC at $DAVE_RPC still answers $1" >&2; scripts/devnet.sh status; exit 1
	fi
}
dave_down "after stop-node"
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
dave_down "once finality was measured"
scripts/devnet.sh status
echo "finalized #$before -> #$(finalized) with dave stopped"
elapsed "$t"

step "netns devnet: an accepted and a mediated match across hosts, then a stranger joins the validators"
t=$SECONDS
# The previous step's devnet goes; this one puts each node, the provider's and the mediator's
# dockerd and the directory's registry (https, basic auth) on a host (network namespace) of its
# own. The job creator is this namespace: the CLI reaches alice and the registry over the bridge.
scripts/devnet.sh stop
rm -rf "$MODICUM_DEVNET_DIR"
export MODICUM_DEVNET_DIR="$(mktemp -d)"
scripts/devnet.sh start --hosts --detach --validators 3
echo "    (devnet up in $((SECONDS - t))s)"
host_address() { awk -v name="$1" '$1 == name { print $2 }' "$MODICUM_DEVNET_DIR/hosts"; }
alice="$(host_address alice)"
export MODICUM_REGISTRY_CONFIG="$MODICUM_DEVNET_DIR/config/registry.toml" MODICUM_HOME="$MODICUM_DEVNET_DIR/creator"
# The CLI as the job creator, bounded by SECONDS.
jc() { # seconds args...
	timeout "$1" "$CARGO_TARGET_DIR/release/modicum" --url "http://$alice:$((9944 + MODICUM_DEVNET_PORT_OFFSET))" \
		--seed //Bob//stash --output json "${@:2}"
}
hosts_failed() { # what
	echo "$1" >&2
	tail -n 30 "$MODICUM_DEVNET_DIR"/logs/{eve,market,directory}.log >&2
	exit 1
}
# Checks the CLI's JSON answer on stdin: the Python expression CHECK over `s`, with
# `step(name)` the job's history entry of that step.
expect() { # check what
	python3 -c '
import json, sys
s = json.load(sys.stdin)
step = lambda name: next((e[1] for e in s.get("history", []) if e[1].get("step") == name), {})
if not eval(sys.argv[1]):
    sys.exit(sys.argv[2] + ": " + json.dumps(s, indent=1))' "$1" "$2"
}
# `job describe ID` once the job is in STATE, waiting at most SECONDS.
described_as() { # id state seconds
	local deadline=$((SECONDS + $3)) answer=""
	until expect "s.get('state') == '$2'" "" <<<"$answer" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || hosts_failed "job $1 never became $2: $answer"
		sleep 2
		answer="$(jc 30 job describe "$1")" || true
	done
	echo "$answer"
}

# Accepted: the provider pulls the image from the directory's host, runs it in its own dockerd
# and uploads the result there; the job creator fetches it.
answer="$(jc 300 job run examples/mandelbrot --cpu 20000 --memory 64 --storage 4 --yes --wait --verify-rate 0)" ||
	hosts_failed "mandelbrot: $answer"
expect 's["state"] == "closed" and step("closed").get("ending") == "Accepted"' "mandelbrot accepted" <<<"$answer"
id="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["jobOffer"])' <<<"$answer")"
answer="$(jc 60 job get "$id" --dir "$MODICUM_DEVNET_DIR/creator/mandelbrot")" || hosts_failed "job get: $answer"
[ -s "$MODICUM_DEVNET_DIR/creator/mandelbrot/out/mandelbrot.pgm" ] || hosts_failed "job get: $answer"

# Mediated: a non-deterministic job rejected by hand; the mediator pulls image and result from
# the directory's host and re-runs it in its own dockerd: the job creator is at fault.
id="$(jc 120 job run examples/coin-flip --cpu 5000 --memory 64 --storage 1 --yes --id-only)" || hosts_failed "coin-flip: $id"
described_as "$id" result 180 >/dev/null
answer="$(jc 60 job reject "$id" WrongResults)" || hosts_failed "job reject: $answer"
described_as "$id" closed 300 |
	expect 'step("verdict").get("faultyParty") == "JobCreator" and step("closed").get("ending") == "Mediated(JobCreator)"' \
		"coin-flip mediated"
# Each party reached the registry from its own host: the provider pulled and uploaded, the
# mediator pulled, the job creator (this namespace: the bridge's address) pushed.
registry_saw() { # address request
	awk -v address="$1" -v request="\"$2" '$1 == address && index($0, request) { seen = 1 } END { exit !seen }' \
		"$MODICUM_DEVNET_DIR/registry/registry.log" || hosts_failed "the registry never saw $2 from $1"
}
registry_saw "$(host_address eve)" "GET /v2/jobs/mandelbrot/manifests/"
registry_saw "$(host_address eve)" "PUT /v2/modicum/results/blobs/uploads/"
registry_saw "$(host_address market)" "GET /v2/jobs/coin-flip/manifests/"
registry_saw "${alice%.*}.1" "PUT /v2/jobs/coin-flip/manifests/"

# A stranger's host with the chain spec and alice as bootnode joins the three genesis
# validators from Polkadot.js (tests/js/validator.mjs): keys, bond, authoring, fees, votes.
t_join=$SECONDS
scripts/devnet.sh join newcomer
newcomer_rpc="ws://127.0.0.1:$((9944 + MODICUM_DEVNET_PORT_OFFSET + $(wc -l <"$MODICUM_DEVNET_DIR/nodes") - 1))"
(cd tests/js && nsenter --net="/run/netns/$(awk '$1 == "newcomer" { print $3 }' "$MODICUM_DEVNET_DIR/hosts")" \
	node validator.mjs "$newcomer_rpc" "ws://$alice:$((9944 + MODICUM_DEVNET_PORT_OFFSET))" bob newcomer) ||
	{ tail -n 40 "$MODICUM_DEVNET_DIR"/logs/{newcomer,alice}.log >&2; exit 1; }
echo "    (the stranger joined, validated and left in $((SECONDS - t_join))s)"
scripts/devnet.sh stop
elapsed "$t"

step "all tests passed in $((SECONDS / 60)) min $((SECONDS % 60)) s"
