#!/usr/bin/env bash
# A throwaway cgroup v2 host for the tests that meter jobs: a Debian 12 VM (kernel 6.1, cgroup2fs,
# Docker with the systemd cgroup driver) booted under QEMU. CI's own machine is Debian 12 on
# cgroup v1 with no nested KVM, so the VM runs under TCG and never reaches the network (-nic none):
# whatever a test needs goes in with its payload, Docker images as `docker save` archives.
#
#   scripts/cgroup2-vm.sh image
#          build the VM image unless it is cached and print its path. The cache is
#          ${MODICUM_CACHE:-~/.cache/modicum}/vm/<recipe hash>/ (root.img, vmlinuz, initrd.img),
#          outside the checkout; the hash covers the recipe below, so changing it rebuilds
#   scripts/cgroup2-vm.sh run PAYLOAD_DIR [TIMEOUT_SECONDS]
#          boot the VM on PAYLOAD_DIR (copied onto a second disk, mounted at /payload): it
#          `docker load`s every images/*.tar, then runs run.sh as root in /payload with its
#          stdout and stderr in /payload/out/log and its exit code in /payload/out/status, and
#          powers off. On the host, PAYLOAD_DIR/out is replaced by the VM's out/ (log, status,
#          host: the VM's facts, setup: the VM's own steps, and whatever run.sh wrote there);
#          the script prints the facts (kernel, cgroup fs, Docker's cgroup driver and version)
#          and run.sh's log, and exits with run.sh's status. TIMEOUT_SECONDS (default 600)
#          bounds the whole boot; past it QEMU is killed and the run fails. A cold image build
#          takes one to three minutes, a boot to the payload 20 to 45 s (TCG on 2 busy cores).
#
# The root disk is booted with snapshot=on, so every run starts from the same pristine image.
# Results come back with debugfs from the payload disk: no loop mount, nothing to clean up.
# MODICUM_DEBIAN_MIRROR overrides the Debian mirror (default: the host's own bookworm source).
set -euo pipefail

CACHE="${MODICUM_CACHE:-$HOME/.cache/modicum}/vm"
SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
QEMU_PID=""

log() { printf '[cgroup2-vm] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Seconds since START (an $EPOCHREALTIME), with one decimal.
elapsed() { # start
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# The host's bookworm mirror, from deb822 .sources or one-line .list files.
debian_mirror() {
	local mirror=""
	if [ -n "${MODICUM_DEBIAN_MIRROR:-}" ]; then
		echo "$MODICUM_DEBIAN_MIRROR"
		return
	fi
	mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'BEGIN { RS = "" } {
		uri = ""; hit = 0
		for (i = 1; i <= NF; i++) {
			if ($i ~ /:$/ && $i !~ /\/\//) { key = $i; first = 1; continue }
			if (key == "URIs:" && first) uri = $i
			if (key == "Suites:" && $i == "bookworm") hit = 1
			first = 0
		}
		if (hit && uri != "") { print uri; exit }
	}')"
	if [ -z "$mirror" ]; then
		mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
			sed -n 's/^deb[ \t]\+\(\[[^]]*\][ \t]\+\)\?//p' | awk '$2 == "bookworm" { print $1; exit }')"
	fi
	echo "${mirror:-http://deb.debian.org/debian}"
}

# --- image recipe (hashed: any change here makes a new image) ---
# Docker and the registry a directory serves; systemd as init (it runs Docker on the systemd
# cgroup driver with cgroup v2 by default); the cloud kernel (virtio, small) with an initrd.
VM_PACKAGES=systemd-sysv,udev,kmod,initramfs-tools,linux-image-cloud-amd64,docker.io,docker-registry,iproute2,procps,util-linux
VM_DISK_SIZE=3G

# Fills ROOT (a fresh debootstrap) with what the payload unit needs.
configure_root() { # root
	local root="$1"
	echo modicum-vm >"$root/etc/hostname"
	printf '127.0.0.1 localhost\n127.0.1.1 modicum-vm\n' >"$root/etc/hosts"
	echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$root/etc/fstab"
	# There is no network (-nic none) and no netfilter to speak of: jobs run with --network none.
	mkdir -p "$root/etc/docker"
	echo '{"iptables":false,"ip6tables":false,"bridge":"none"}' >"$root/etc/docker/daemon.json"
	# The getty's vhangup on ttyS0 swallows console output, our only live view of the VM.
	ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
	# A test starts its own registry, with its own storage, when it wants one.
	chroot "$root" systemctl disable --quiet docker-registry.service
	# The VM never installs anything: debootstrap's downloaded packages are 135 MiB of nothing.
	rm -f "$root"/var/cache/apt/archives/*.deb

	cat >"$root/usr/local/sbin/modicum-payload" <<'PAYLOAD'
#!/bin/bash
# Runs /payload/run.sh once Docker answers. The unit powers the VM off after this, whatever
# happens here; no out/status tells the host that the payload never ran to its end.
set -uo pipefail
say() { printf '[vm] %s\n' "$*" | tee -a /payload/out/setup; }
mkdir -p /payload
mount /dev/vdb /payload || { echo "[vm] cannot mount /dev/vdb at /payload"; exit 1; }
rm -rf /payload/out
mkdir /payload/out
# Every docker CLI start costs seconds under TCG: the wait also reads Docker's facts.
deadline=$((SECONDS + 120))
until facts="$(docker info --format '{{.CgroupDriver}} {{.CgroupVersion}}' 2>/dev/null)"; do
	[ "$SECONDS" -lt "$deadline" ] || { say "docker did not answer in 120 s"; journalctl -b -u docker -u containerd --no-pager >>/payload/out/setup; exit 1; }
	sleep 0.5
done
for image in /payload/images/*.tar; do
	[ -e "$image" ] || continue
	docker load -q -i "$image" >>/payload/out/setup 2>&1 || { say "docker load -i $image failed"; exit 1; }
done
echo "$(uname -r) $(stat -fc %T /sys/fs/cgroup) $facts" >/payload/out/host
say "payload starts"
(cd /payload && exec bash ./run.sh) >/payload/out/log 2>&1 </dev/null
echo "$?" >/payload/out/status
say "payload ended with status $(cat /payload/out/status)"
PAYLOAD
	# Containers the payload left running would keep /payload busy.
	cat >"$root/usr/local/sbin/modicum-payload-stop" <<'STOP'
#!/bin/bash
docker ps -q 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1
sync
umount /payload 2>/dev/null
systemctl poweroff --force --force
STOP
	chmod 755 "$root/usr/local/sbin/modicum-payload" "$root/usr/local/sbin/modicum-payload-stop"
	# Wants=, not Requires=: were Docker to fail, a required unit would never start, and so never
	# power off; the payload notices Docker's absence itself and stops.
	cat >"$root/etc/systemd/system/modicum-payload.service" <<'UNIT'
[Unit]
Description=Modicum test payload
Wants=docker.service
After=docker.service

[Service]
Type=oneshot
Environment=HOME=/root
ExecStart=/usr/local/sbin/modicum-payload
ExecStopPost=/usr/local/sbin/modicum-payload-stop
TimeoutStartSec=infinity
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
UNIT
	chroot "$root" systemctl enable --quiet modicum-payload.service
}
# --- end of image recipe ---

recipe_hash() {
	sed -n '/^# --- image recipe/,/^# --- end of image recipe/p' "$SELF" | sha256sum | cut -c1-16
}

# Unmounts whatever debootstrap left mounted under DIR (/proc, /sys, bound /dev nodes), then
# removes DIR without crossing into another file system.
remove_build_dir() { # dir
	local mount
	findmnt -rn -o TARGET | awk -v d="$1/" 'index($0, d) == 1' | sort -r | while read -r mount; do
		$SUDO umount -l "$mount" || true
	done
	$SUDO rm -rf --one-file-system "$1"
}

# Prints the cached image directory, building it first when this recipe has none. Builds run
# under a lock, in a temporary directory renamed into place at the end: an interrupted build
# leaves no cache entry, and its leftovers go at the next build.
ensure_image() {
	local key dir build root kernels initrds start
	key="$(recipe_hash)"
	dir="$CACHE/$key"
	mkdir -p "$CACHE"
	if [ ! -f "$dir/root.img" ]; then
		exec 9>"$CACHE/lock"
		flock 9
		if [ ! -f "$dir/root.img" ]; then
			local stale
			for stale in "$CACHE"/.build.*; do [ -e "$stale" ] && remove_build_dir "$stale"; done
			start="$EPOCHREALTIME"
			build="$(mktemp -d "$CACHE/.build.XXXXXX")"
			# shellcheck disable=SC2064 # the path is fixed now
			trap "remove_build_dir '$build'" EXIT
			root="$build/root"
			log "building the VM image $key from $(debian_mirror)"
			if ! $SUDO debootstrap --variant=minbase --include="$VM_PACKAGES" bookworm "$root" "$(debian_mirror)" >"$build/debootstrap.log" 2>&1; then
				tail -n 30 "$build/debootstrap.log" >&2
				die "debootstrap failed"
			fi
			$SUDO bash -c "$(declare -f configure_root); configure_root '$root'" >&2
			kernels=("$root"/boot/vmlinuz-*)
			initrds=("$root"/boot/initrd.img-*)
			if [ "${#kernels[@]}" -ne 1 ] || [ ! -f "${kernels[0]}" ] || [ "${#initrds[@]}" -ne 1 ] || [ ! -f "${initrds[0]}" ]; then
				die "expected one kernel and one initrd in $root/boot, found: ${kernels[*]} ${initrds[*]}"
			fi
			$SUDO cp "${kernels[0]}" "$build/vmlinuz"
			$SUDO cp "${initrds[0]}" "$build/initrd.img"
			$SUDO mkfs.ext4 -q -F -L modicum-vm -d "$root" "$build/root.img" "$VM_DISK_SIZE" >/dev/null
			remove_build_dir "$root"
			rm -f "$build/debootstrap.log"
			$SUDO chown -R "$(id -u):$(id -g)" "$build"
			mv -T "$build" "$dir"
			trap - EXIT
			# Older recipes' images only take disk.
			local old
			for old in "$CACHE"/*/; do
				[ "${old%/}" = "$dir" ] || rm -rf --one-file-system "${old%/}"
			done
			log "built the VM image in $(elapsed "$start") s ($(du -sh "$dir" | cut -f1) on disk)"
		fi
		exec 9>&-
	fi
	echo "$dir"
}

# The console's last 50 lines, without SeaBIOS's terminal resets and colours.
console_tail() { # file
	log "last 50 lines of the VM console:"
	tail -n 50 "$1" | sed 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\r//g' >&2
}

# Boots the VM on PAYLOAD_DIR and exits with run.sh's status.
run_payload() { # payload_dir [timeout_seconds]
	local payload timeout image tmp bytes size start booted="" timed_out="" status
	payload="$(cd "$1" && pwd)" || die "no payload directory $1"
	timeout="${2:-600}"
	[[ "$timeout" =~ ^[0-9]+$ ]] || die "TIMEOUT_SECONDS must be a number of seconds, not $timeout"
	[ -f "$payload/run.sh" ] || die "$payload has no run.sh"
	start="$EPOCHREALTIME"
	image="$(ensure_image)"
	tmp="$(mktemp -d)"
	# shellcheck disable=SC2064 # the path is fixed now
	trap "[ -z \"\$QEMU_PID\" ] || kill \"\$QEMU_PID\" 2>/dev/null; rm -rf '$tmp'" EXIT

	# The VM writes out/ anew; a previous run's must not come back as this one's.
	rm -rf "$payload/out"
	bytes="$(du -sb "$payload" | cut -f1)"
	size=$(((bytes >> 20) + 512))
	# No journal: after the VM's sync the data is in place, even if /payload could not be
	# unmounted, and debugfs (which replays no journal) reads it as it is.
	mkfs.ext4 -q -F -O ^has_journal -d "$payload" "$tmp/payload.img" "${size}M" >/dev/null

	local boot_start="$EPOCHREALTIME" deadline=$((SECONDS + timeout))
	: >"$tmp/console"
	TMPDIR="$tmp" qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1536 \
		-nographic -no-reboot -nic none \
		-kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
		-drive "file=$image/root.img,format=raw,if=virtio,snapshot=on" \
		-drive "file=$tmp/payload.img,format=raw,if=virtio" \
		-append "root=/dev/vda rw console=ttyS0 panic=-1 quiet loglevel=3 apparmor=0" \
		</dev/null >"$tmp/console" 2>&1 &
	QEMU_PID=$!
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		if [ -z "$booted" ] && grep -q '\[vm\] payload starts' "$tmp/console"; then
			booted="$(elapsed "$boot_start")"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			timed_out=1
			kill "$QEMU_PID"
			break
		fi
		sleep 0.2
	done
	wait "$QEMU_PID" || true
	QEMU_PID=""
	local ran
	ran="$(elapsed "$boot_start")"

	debugfs -R "rdump /out $payload" "$tmp/payload.img" >/dev/null 2>&1 || true
	if [ -f "$payload/out/host" ]; then
		local kernel cgroupfs driver version
		read -r kernel cgroupfs driver version <"$payload/out/host"
		log "VM: kernel $kernel, /sys/fs/cgroup $cgroupfs, Docker cgroup driver $driver, cgroup v$version"
	fi
	[ ! -f "$payload/out/log" ] || cat "$payload/out/log"
	status="$(cat "$payload/out/status" 2>/dev/null || true)"
	if ! [[ "$status" =~ ^[0-9]+$ ]]; then
		if [ -n "$timed_out" ]; then
			log "the VM wrote no status: no poweroff within ${timeout} s, QEMU killed"
		else
			log "the VM powered off without writing a status: run.sh never ran to its end"
		fi
		[ ! -f "$payload/out/setup" ] || sed 's/^/[cgroup2-vm] setup: /' "$payload/out/setup" >&2
		console_tail "$tmp/console"
		exit 1
	fi
	if [ "$status" -ne 0 ]; then
		console_tail "$tmp/console"
	fi
	log "run.sh exited $status; boot to payload ${booted:-?} s, VM ${ran} s, whole run $(elapsed "$start") s"
	exit "$status"
}

case "${1:-}" in
image) ensure_image ;;
run)
	[ $# -ge 2 ] || die "usage: $0 run PAYLOAD_DIR [TIMEOUT_SECONDS]"
	run_payload "$2" "${3:-600}"
	;;
*) die "usage: $0 image | run PAYLOAD_DIR [TIMEOUT_SECONDS]" ;;
esac
