#!/usr/bin/env bash
# The executor's metering and limit tests (offchain-worker/executor/tests/executor.rs) against a real
# Docker engine: on this host, then inside a real cgroup v2 host — a Debian 12 VM whose Docker
# uses the systemd cgroup driver (scripts/cgroup2-vm.sh) — from the same test binary and the same
# registry content, so both cgroup trees are held to one interface. `--host` or `--vm` runs one;
# `--vm-cgroupfs` runs the VM with Docker switched to the cgroupfs driver (not part of CI).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/modicum/target}"
# shellcheck source=scripts/services.sh
. "$ROOT/scripts/services.sh"

where="${1:-both}"
case "$where" in both | --host | --vm | --vm-cgroupfs) ;; *) echo "usage: $0 [--host|--vm|--vm-cgroupfs]" >&2; exit 2 ;; esac

port="${MODICUM_EXECUTOR_PORT:-5800}"
start_job_registry "$port"
work="$WORK"

jobs=""
for job in honest memory-bomb busy fork-bomb steady sleeper; do
	digest="$(publish_job "node/tests/jobs/$job" "jobs/$job" "127.0.0.1:$port" "$BASE" | awk '{print $1}')"
	jobs="$jobs $job=jobs/$job@$digest"
done
export MODICUM_EXECUTOR_REGISTRY="http://127.0.0.1:$port" MODICUM_EXECUTOR_JOBS="${jobs# }"
MODICUM_EXECUTOR_BASE="$(base_layer_of "$BASE")"
export MODICUM_EXECUTOR_BASE

binary="$(cargo test --release --locked --workspace --test executor --no-run --message-format=json |
	python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "executor" and m.get("executable"):
        print(m["executable"])')"
[ -x "$binary" ] || { echo "no executor test binary" >&2; exit 1; }

if [ "$where" = both ] || [ "$where" = --host ]; then
	printf '\n--- this host: cgroup %s, Docker driver %s\n' \
		"$(stat -fc %T /sys/fs/cgroup)" "$(docker info --format '{{.CgroupDriver}} v{{.CgroupVersion}}')"
	"$binary" --ignored --test-threads=1
fi

if [ "$where" != --host ]; then
	payload="$work/payload"
	mkdir -p "$payload/images"
	cp "$binary" "$payload/executor"
	cp -r "$work/registry/data" "$payload/registry"
	docker save "$BASE" -o "$payload/images/base.tar"
	driver=systemd
	if [ "$where" = --vm-cgroupfs ]; then
		driver=cgroupfs
		cat >"$payload/run.sh" <<'RUN'
echo '{"iptables":false,"ip6tables":false,"bridge":"none","exec-opts":["native.cgroupdriver=cgroupfs"]}' >/etc/docker/daemon.json
systemctl restart docker
docker info --format 'Docker now on the {{.CgroupDriver}} driver, cgroup v{{.CgroupVersion}}'
RUN
	fi
	cat >>"$payload/run.sh" <<RUN
set -eu
# The layout this run stands for, or nothing it measures counts.
layout="\$(stat -fc %T /sys/fs/cgroup) \$(docker info --format '{{.CgroupDriver}} v{{.CgroupVersion}}')"
[ "\$layout" = "cgroup2fs $driver v2" ] || { echo "expected cgroup2fs with Docker's $driver driver, found: \$layout" >&2; exit 1; }
echo "cgroup layout: \$layout"
cat >/payload/registry.yml <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /payload/registry
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve /payload/registry.yml >/payload/out/registry.log 2>&1 &
for _ in \$(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
export MODICUM_EXECUTOR_REGISTRY='$MODICUM_EXECUTOR_REGISTRY' MODICUM_EXECUTOR_BASE='$MODICUM_EXECUTOR_BASE'
export MODICUM_EXECUTOR_JOBS='$MODICUM_EXECUTOR_JOBS' MODICUM_EXECUTOR_EMULATED=1 RUST_LOG=warn
# Side by side under emulation judges nothing of the CPU (the test says why) and costs a minute.
/payload/executor --ignored --test-threads=1 --skip two_jobs_side_by_side
RUN
	printf '\n--- a cgroup v2 VM (Debian 12, Docker on the %s driver)\n' "$driver"
	scripts/cgroup2-vm.sh run "$payload" "${MODICUM_VM_TIMEOUT:-900}"
fi
