#!/usr/bin/env bash
# Runs an example job on this host the way a provider's executor does (docs/roles.md, "The
# executor") and measures what its README states: CPU ms, peak memory MiB, storage MiB, bandwidth
# KiB, and the sha256 of each file it writes to /out. Needs root (a tmpfs and a cgroup of the
# run's own, as the executor) and Docker; builds the base images (scripts/services.sh) when they
# are missing. Works on the cgroup layouts the executor meters: cgroup v1 with Docker's cgroupfs
# driver, and cgroup v2 with the systemd or the cgroupfs driver.
#
#   examples/run-local.sh DIR [--input DATA] [--memory MiB] [--storage MiB] [--keep OUTDIR]
#
# The image is DIR's Dockerfile; with --input, DATA becomes one more layer at /input, as
# `modicum job run … --input DATA` adds it. The run: --network none, a read-only root, no
# capabilities, user 65534, hostname `job`, one core at a quota of 1 CPU, 64 pids, a memory limit
# of memory + storage (+ 64 KiB), /out and /tmp on one tmpfs of the storage limit (+ 64 KiB).
# Defaults: --memory 128 --storage 16. --keep copies /out to OUTDIR. Bandwidth is an estimate:
# the gzip size of the layers above the base plus the size of the result archive (/out and the
# logs as a tar).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/services.sh
. "$ROOT/scripts/services.sh"

usage() { sed -n '9,9p' "$0" | sed 's/^# *//' >&2; exit 2; }
[ $# -ge 1 ] || usage
dir="$1" input="" memory=128 storage=16 keep=""
shift
while [ $# -gt 0 ]; do
	case "$1" in
	--input) input="${2:?--input DATA}" && shift ;;
	--memory) memory="${2:?--memory MiB}" && shift ;;
	--storage) storage="${2:?--storage MiB}" && shift ;;
	--keep) keep="${2:?--keep OUTDIR}" && shift ;;
	*) usage ;;
	esac
	shift
done
[ -f "$dir/Dockerfile" ] || { echo "$dir has no Dockerfile" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run-local.sh needs root (a tmpfs and a cgroup of the run's own)" >&2; exit 2; }

ensure_dockerd
build_base_image modicum/base:busybox busybox >&2
build_base_image modicum/base:python python >&2

CGROUP=/sys/fs/cgroup
# The cgroup layout, as the executor detects it: the file system at /sys/fs/cgroup and Docker's
# cgroup driver and version.
fs_type="$(stat -fc %T "$CGROUP")"
read -r driver docker_version < <(docker info --format '{{.CgroupDriver}} {{.CgroupVersion}}')
case "$fs_type/$driver" in
cgroup2fs/systemd) layout=v2-systemd ;;
cgroup2fs/cgroupfs) layout=v2-cgroupfs ;;
cgroup2fs/*) echo "Docker's cgroup driver \`$driver\` is not supported (cgroupfs, systemd)" >&2; exit 1 ;;
*/cgroupfs) layout=v1 ;;
*)
	echo "Docker uses the \`$driver\` cgroup driver on a cgroup v1 host; the executor meters v1 hosts with" \
		"the \`cgroupfs\` driver: set \"exec-opts\": [\"native.cgroupdriver=cgroupfs\"] in /etc/docker/daemon.json," \
		"or boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1)" >&2
	exit 1
	;;
esac
version=2
[ "$layout" != v1 ] || version=1
if [ "$docker_version" != "$version" ]; then
	echo "Docker reports cgroup v$docker_version but $CGROUP is cgroup v$version: run this where Docker runs" >&2
	exit 1
fi
if [ "$version" = 2 ]; then
	for controller in cpu cpuset memory pids; do
		grep -qw "$controller" "$CGROUP/cgroup.controllers" || {
			echo "the cgroup v2 root lacks the controller $controller (it has \`$(cat "$CGROUP/cgroup.controllers")\`):" \
				"Linux ≥ 5.4 with cpu, cpuset, memory and pids enabled is needed to bound jobs" >&2
			exit 1
		}
	done
fi

name="$(basename "$(cd "$dir" && pwd)")"
run="example-$(printf '%s' "$name" | tr -c 'a-zA-Z0-9' '_')-$$"
image="modicum-example/$(printf '%s' "$name" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9._-' '_'):$$"
work="$(mktemp -d)"

# The run's own cgroup, parent of the container's, keeps CPU time and peak memory after the
# container exits: `modicum-examples/RUN` in the cpuacct, memory and pids hierarchies (v1) or in
# the unified tree (v2, cgroupfs driver), or the slice `modicum-RUN.slice` under modicum.slice
# (v2, systemd driver; systemd reads a dash in a slice's name as a level, hence the underscores).
V2_CONTROLLERS="+cpu +cpuset +memory +pids"
case "$layout" in
v1)
	parent="/modicum-examples/$run"
	cpu_dir="$CGROUP/cpuacct/modicum-examples/$run" memory_dir="$CGROUP/memory/modicum-examples/$run"
	;;
v2-cgroupfs)
	parent="/modicum-examples/$run"
	cpu_dir="$CGROUP/modicum-examples/$run" memory_dir="$cpu_dir"
	;;
v2-systemd)
	slice="modicum-${run//-/_}.slice"
	parent="$slice"
	cpu_dir="$CGROUP/modicum.slice/$slice" memory_dir="$cpu_dir"
	;;
esac

sampler=""
cleanup() {
	[ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
	docker rm -f "$run" >/dev/null 2>&1 || true
	umount "$work/fs" 2>/dev/null || true
	case "$layout" in
	v1)
		for cgroup in "$CGROUP"/*/modicum-examples/"$run"; do
			[ -d "$cgroup" ] || continue
			find "$cgroup" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
			rmdir "$cgroup" "$(dirname "$cgroup")" 2>/dev/null || true
		done
		;;
	v2-cgroupfs)
		if [ -d "$cpu_dir" ]; then
			find "$cpu_dir" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
			rmdir "$cpu_dir" "$CGROUP/modicum-examples" 2>/dev/null || true
		fi
		;;
	v2-systemd) systemctl stop "$slice" 2>/dev/null || true ;;
	esac
	docker image rm "$image" "$image-input" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

DOCKER_BUILDKIT=0 docker build -q -t "$image" "$dir" >/dev/null
job_image="$image"
if [ -n "$input" ]; then
	mkdir -p "$work/data/input"
	cp -r "$input/." "$work/data/input/"
	printf 'FROM %s\nCOPY input/ /input/\n' "$image" >"$work/data/Dockerfile"
	DOCKER_BUILDKIT=0 docker build -q -t "$image-input" "$work/data" >/dev/null
	job_image="$image-input"
fi

# /out and /tmp: one tmpfs of the storage limit + 64 KiB, at most storage / 4 KiB (≤ 65 536) + 4
# inodes, noexec.
storage_bytes=$((storage * 1024 * 1024))
inodes=$((storage_bytes / 4096))
[ "$inodes" -le 65536 ] || inodes=65536
mkdir -p "$work/fs"
mount -t tmpfs -o "size=$((storage_bytes + 65536)),nr_inodes=$((inodes + 4)),mode=0755,nosuid,nodev,noexec" tmpfs "$work/fs"
mkdir "$work/fs/out" "$work/fs/tmp"
chmod 0777 "$work/fs/out"
chmod 1777 "$work/fs/tmp"

case "$layout" in
v1) for controller in cpuacct memory pids; do mkdir -p "$CGROUP/$controller/modicum-examples/$run"; done ;;
v2-cgroupfs)
	# The controllers the container needs, delegated from the root down to the run's cgroup.
	echo "$V2_CONTROLLERS" >"$CGROUP/cgroup.subtree_control"
	mkdir -p "$CGROUP/modicum-examples"
	echo "$V2_CONTROLLERS" >"$CGROUP/modicum-examples/cgroup.subtree_control"
	mkdir "$cpu_dir"
	echo "$V2_CONTROLLERS" >"$cpu_dir/cgroup.subtree_control"
	;;
v2-systemd) systemctl start "$slice" ;;
esac

# One core of those this process may use (the last), as a run holds cores of its own: nproc is 1.
core="$(awk '/^Cpus_allowed_list/ { n = split($2, a, /[-,]/); print a[n] }' /proc/self/status)"
limit=$((memory * 1024 * 1024 + storage_bytes + 65536))
docker create --name "$run" --network none --read-only --cap-drop ALL \
	--security-opt no-new-privileges --user 65534:65534 --hostname job --pids-limit 64 \
	--ulimit nofile=1024:1024 --ulimit "fsize=$((storage_bytes + 65536))" \
	--memory "$limit" --memory-swap "$limit" --cpus 1 --cpuset-cpus "$core" --ipc private --shm-size 1m \
	--log-driver none --no-healthcheck --cgroup-parent "$parent" \
	-v "$work/fs/out:/out:rw" -v "$work/fs/tmp:/tmp:rw" \
	"$job_image" >/dev/null

# Kernels before 5.19 keep no memory.peak in cgroup v2: sample memory.current every 50 ms, as the
# executor's watchdog does.
if [ "$layout" != v1 ] && [ ! -f "$memory_dir/memory.peak" ]; then
	(
		peak=0
		while :; do
			current="$(cat "$memory_dir/memory.current" 2>/dev/null || echo 0)"
			[ "$current" -le "$peak" ] || { peak="$current"; echo "$peak" >"$work/sampled-peak"; }
			sleep 0.05
		done
	) &
	sampler=$!
fi
status=0
docker start -a "$run" >"$work/stdout" 2>"$work/stderr" || status=$?
# `docker start -a` returns the container's exit status; the container is kept (exited) until
# its usage is read, as the executor reads it.
read -r status oom_flag < <(docker inspect -f '{{.State.ExitCode}} {{.State.OOMKilled}}' "$run" 2>/dev/null || echo "$status false")
[ -z "$sampler" ] || { kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; sampler=""; }

# Usage, from the run's cgroup: CPU time (user + system) in ns, peak memory in bytes, OOM kills.
keyed() { awk -v key="$2" '$1 == key { print $2; found = 1 } END { if (!found) print 0 }' "$1"; }
case "$layout" in
v1)
	cpu_ns="$(cat "$cpu_dir/cpuacct.usage")"
	peak="$(cat "$memory_dir/memory.max_usage_in_bytes")"
	oom_kills="$(keyed "$memory_dir/memory.oom_control" oom_kill)"
	;;
*)
	cpu_ns=$(($(keyed "$cpu_dir/cpu.stat" usage_usec) * 1000))
	if [ -f "$memory_dir/memory.peak" ]; then
		peak="$(cat "$memory_dir/memory.peak")"
	elif [ "$(keyed "$memory_dir/memory.events" max)" -gt 0 ]; then
		peak="$limit" # it reached its limit
	else
		peak="$(cat "$work/sampled-peak" 2>/dev/null || echo 0)"
	fi
	oom_kills="$(keyed "$memory_dir/memory.events" oom_kill)"
	;;
esac

echo "--- stdout"
cat "$work/stdout"
echo "--- stderr"
cat "$work/stderr"
echo "---"

MIB=1048576
ceil() { echo $((($1 + $2 - 1) / $2)); }
# Storage as the executor counts it: each distinct regular file's size once (a hard link
# counted once), plus 4 KiB an entry, under /out and /tmp.
stored="$(find "$work/fs/out" "$work/fs/tmp" -mindepth 1 -printf '%y %D:%i %s\n' |
	awk '{ total += 4096 } $1 == "f" && !seen[$2]++ { total += $3 } END { print total + 0 }')"
# The result archive: /out and the two logs as an uncompressed tar (512-byte headers and blocks,
# two zero blocks at the end).
archive="$(
	{
		find "$work/fs/out" -mindepth 1 -printf '%y %s\n'
		printf 'f %s\n' "$(stat -c %s "$work/stdout")" "$(stat -c %s "$work/stderr")"
	} | awk '{ total += 512 } $1 == "f" { total += int(($2 + 511) / 512) * 512 } END { print total + 1024 }'
)"
# The layers above the base, gzipped as a push would: from `docker save`, whose manifest.json
# lists the image's layer files in order (the base first).
mkdir "$work/saved"
docker save "$job_image" | tar -x -C "$work/saved"
layers=0 layer_kib=0
for layer in $(tr -d '\n ' <"$work/saved/manifest.json" | sed -n 's/.*"Layers":\[\([^]]*\)\].*/\1/p' | tr ',' '\n' | tr -d '"' | tail -n +2); do
	layers=$((layers + 1))
	layer_kib=$((layer_kib + $(ceil "$(gzip -6 -n -c "$work/saved/$layer" | wc -c)" 1024)))
done

# Docker's flag, or the cgroup's count (Docker's flag misses kills of a job's child processes on
# some versions; cgroup v1 counts a kill only in the container's own cgroup).
oom=""
[ "$oom_flag" != true ] && [ "$oom_kills" -eq 0 ] || oom=" (OOM-killed: MemoryExceeded)"
echo "exit status $status$oom"
echo "cpu       $(ceil "$cpu_ns" 1000000) ms"
echo "memory    $(ceil "$peak" $MIB) MiB peak (of the container's memory + tmpfs pages; $peak bytes)"
echo "storage   $(ceil "$stored" $MIB) MiB ($stored bytes under /out and /tmp, 4 KiB an entry)"
echo "bandwidth ~$((layer_kib + $(ceil "$archive" 1024))) KiB ($layers layer(s) above the base ~$layer_kib KiB gzipped, result archive ~$(ceil "$archive" 1024) KiB)"
(cd "$work/fs" && find out -type f -print0 | sort -z | while IFS= read -r -d '' path; do
	echo "sha256    $(sha256sum <"$path" | cut -d' ' -f1)  /$path ($(stat -c %s "$path") bytes)"
done)
if [ -n "$keep" ]; then
	mkdir -p "$keep"
	cp -r "$work/fs/out/." "$keep/"
fi
echo "cgroup    $layout ($fs_type, Docker's $driver driver)"
exit "$status"
