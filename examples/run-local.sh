#!/usr/bin/env bash
# Runs an example job on this host the way a provider's executor does (docs/workers.md, "Run") and
# measures what its README states: CPU ms, peak memory MiB, storage MiB, bandwidth KiB, and the
# sha256 of each file it writes to /out. Needs root (a tmpfs and cgroup v1, as the executor) and
# Docker; builds the base images (scripts/services.sh) when they are missing.
#
#   examples/run-local.sh DIR [--input DATA] [--memory MiB] [--storage MiB] [--keep OUTDIR]
#
# The image is DIR's Dockerfile; with --input, DATA becomes one more layer at /input, as
# `modicum job run … --input DATA` adds it. The run: --network none, a read-only root, no
# capabilities, user 65534, hostname `job`, 1 CPU, 64 pids, a memory limit of memory + storage
# (+ 64 KiB), /out and /tmp on one tmpfs of the storage limit (+ 64 KiB). Defaults: --memory 128
# --storage 16. --keep copies /out to OUTDIR. Bandwidth is an estimate: the gzip size of the
# layers above the base plus the size of the result archive (/out and the logs as a tar).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/services.sh
. "$ROOT/scripts/services.sh"

usage() { sed -n '2,15p' "$0" >&2; exit 2; }
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

ensure_dockerd
build_base_image modicum/base:busybox busybox >&2
build_base_image modicum/base:python python >&2

name="$(basename "$(cd "$dir" && pwd)")"
run="example-$name-$$"
image="modicum-example/$name:$$"
work="$(mktemp -d)"
cgroups() { ls -d /sys/fs/cgroup/*/modicum-examples/"$run" 2>/dev/null || true; }
cleanup() {
	umount "$work/fs" 2>/dev/null || true
	for cgroup in $(cgroups); do
		find "$cgroup" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
		rmdir "$cgroup" "$(dirname "$cgroup")" 2>/dev/null || true
	done
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

storage_bytes=$((storage * 1024 * 1024))
mkdir -p "$work/fs"
mount -t tmpfs -o "size=$((storage_bytes + 65536)),nr_inodes=$((storage_bytes / 4096 + 4)),mode=0755,nosuid,nodev,noexec" tmpfs "$work/fs"
mkdir "$work/fs/out" "$work/fs/tmp"
chmod 0777 "$work/fs/out"
chmod 1777 "$work/fs/tmp"
for controller in cpuacct memory pids; do mkdir -p "/sys/fs/cgroup/$controller/modicum-examples/$run"; done

limit=$((memory * 1024 * 1024 + storage_bytes + 65536))
status=0
docker run --rm --name "$run" --network none --read-only --cap-drop ALL \
	--security-opt no-new-privileges --user 65534:65534 --hostname job --pids-limit 64 \
	--ulimit nofile=1024:1024 --ulimit "fsize=$((storage_bytes + 65536))" \
	--memory "$limit" --memory-swap "$limit" --cpus 1 --ipc private --shm-size 1m \
	--cgroup-parent "/modicum-examples/$run" \
	-v "$work/fs/out:/out:rw" -v "$work/fs/tmp:/tmp:rw" \
	"$job_image" >"$work/stdout" 2>"$work/stderr" || status=$?

cpu_ns="$(cat "/sys/fs/cgroup/cpuacct/modicum-examples/$run/cpuacct.usage")"
peak="$(cat "/sys/fs/cgroup/memory/modicum-examples/$run/memory.max_usage_in_bytes")"
echo "--- stdout"
cat "$work/stdout"
echo "--- stderr"
cat "$work/stderr"
echo "---"
python3 - "$work" "$status" "$cpu_ns" "$peak" "$job_image" <<'PY'
import gzip, hashlib, io, json, os, subprocess, sys, tarfile
work, status, cpu_ns, peak, image = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
MIB = 1 << 20
def ceil(a, b): return -(-a // b)
# Storage as the executor counts it: each distinct regular file's size once, plus 4 KiB an entry.
seen, stored = set(), 0
for root in ("out", "tmp"):
    for directory, dirs, files in os.walk(os.path.join(work, "fs", root)):
        for name in dirs + files:
            st = os.lstat(os.path.join(directory, name))
            stored += 4096
            if os.path.isfile(os.path.join(directory, name)) and not os.path.islink(os.path.join(directory, name)) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                stored += st.st_size
# The result archive: /out and the two logs as an uncompressed tar (512-byte headers and blocks).
archive, outputs = 1024, []
for directory, dirs, files in os.walk(os.path.join(work, "fs", "out")):
    dirs.sort()
    for name in sorted(dirs) + sorted(files):
        path = os.path.join(directory, name)
        archive += 512
        if os.path.isfile(path) and not os.path.islink(path):
            size = os.path.getsize(path)
            archive += ceil(size, 512) * 512
            with open(path, "rb") as f:
                outputs.append((os.path.relpath(path, os.path.join(work, "fs")), size, hashlib.sha256(f.read()).hexdigest()))
for log in ("stdout", "stderr"):
    archive += 512 + ceil(os.path.getsize(os.path.join(work, log)), 512) * 512
# The layers above the base, gzipped as a push would.
saved = subprocess.run(["docker", "save", image], capture_output=True, check=True).stdout
with tarfile.open(fileobj=io.BytesIO(saved)) as t:
    manifest = json.load(t.extractfile("manifest.json"))[0]
    layers = [gzip.compress(t.extractfile(layer).read(), 6, mtime=0) for layer in manifest["Layers"][1:]]
layer_kib = sum(ceil(len(l), 1024) for l in layers)
print(f"exit status {status}")
print(f"cpu       {ceil(cpu_ns, 1_000_000)} ms")
print(f"memory    {ceil(peak, MIB)} MiB peak (of the container's memory + tmpfs pages; {peak} bytes)")
print(f"storage   {ceil(stored, MIB)} MiB ({stored} bytes under /out and /tmp, 4 KiB an entry)")
print(f"bandwidth ~{layer_kib + ceil(archive, 1024)} KiB ({len(layers)} layer(s) above the base ~{layer_kib} KiB gzipped, result archive ~{ceil(archive, 1024)} KiB)")
for path, size, digest in outputs:
    print(f"sha256    {digest}  /{path} ({size} bytes)")
PY
if [ -n "$keep" ]; then
	mkdir -p "$keep"
	cp -r "$work/fs/out/." "$keep/"
fi
exit "$status"
