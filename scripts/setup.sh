#!/usr/bin/env bash
# Installs every prerequisite of building, running and testing Modicum. Idempotent: what is
# already present is left alone, so a second run takes a few seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { printf '[setup] %s\n' "$*"; }

# Debian packages: protoc, libclang and OpenSSL's headers for the node's build (the network
# stack's WebRTC links the system's OpenSSL instead of compiling its own); the Docker engine that runs jobs,
# busybox-static for the locally built job base image, and the OCI registry a directory serves;
# for `devnet.sh --hosts`, iproute2 (namespaces, bridge), openssl (the registry's throwaway CA)
# and apache2-utils (htpasswd: the registry's logins).
APT_PACKAGES=(protobuf-compiler clang libclang-dev libssl-dev pkg-config curl ca-certificates docker.io busybox-static docker-registry
	iproute2 openssl apache2-utils)
# The cgroup v2 VM the metering tests run in (scripts/cgroup2-vm.sh): debootstrap, QEMU and
# e2fsprogs, installed without their recommendations (QEMU's would bring a GTK front end).
VM_APT_PACKAGES=(debootstrap qemu-system-x86 e2fsprogs)

# Installs those of the packages that are missing, with apt-get's extra OPTIONS.
apt_install_missing() { # [option...] -- package...
	local options=() missing=() package
	while [ "$1" != -- ]; do options+=("$1"); shift; done
	shift
	for package in "$@"; do
		dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$package")
	done
	[ "${#missing[@]}" -gt 0 ] || return 0
	log "installing ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${options[@]}" "${missing[@]}" >/dev/null
}
apt_install_missing -- "${APT_PACKAGES[@]}"
apt_install_missing --no-install-recommends -- "${VM_APT_PACKAGES[@]}"

# Rust: the runtime wasm builds for wasm32v1-none (no build-std, no nightly).
if ! command -v cargo >/dev/null; then
	[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
command -v rustup >/dev/null || { echo "rustup is required (https://rustup.rs)" >&2; exit 1; }
if ! rustup target list --installed | grep -qx wasm32v1-none; then
	log "adding the wasm32v1-none target"
	rustup target add wasm32v1-none
fi

# Node.js and the Polkadot.js client the compatibility test uses.
if ! command -v npm >/dev/null; then
	log "installing nodejs and npm"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -d "$ROOT/tests/js/node_modules/@polkadot/api" ]; then
	log "installing @polkadot/api"
	(cd "$ROOT/tests/js" && npm ci --no-audit --no-fund --loglevel=error)
fi

log "ready"
