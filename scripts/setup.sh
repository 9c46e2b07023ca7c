#!/usr/bin/env bash
# Installs every prerequisite of building, running and testing Modicum. Idempotent: what is
# already present is left alone, so a second run takes a few seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { printf '[setup] %s\n' "$*"; }

# Debian packages: protoc and libclang for the node's build; the Docker engine that runs jobs,
# busybox-static for the locally built job base image, and the OCI registry a directory serves.
APT_PACKAGES=(protobuf-compiler clang libclang-dev curl ca-certificates docker.io busybox-static docker-registry)
missing=()
for package in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

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

touch "$ROOT/.setup-done"
log "ready"
