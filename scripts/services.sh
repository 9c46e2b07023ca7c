# Services the market's workers need, shared by devnet.sh and test.sh (sourced, not run):
# the Docker engine, the job base image, and a directory's OCI registry.

# Starts dockerd (no iptables, no bridge: jobs run with --network none) unless one answers.
ensure_dockerd() {
	docker info >/dev/null 2>&1 && return 0
	printf '[services] starting dockerd\n'
	mkdir -p /var/log
	nohup dockerd --iptables=false --ip6tables=false --bridge=none >>/var/log/modicum-dockerd.log 2>&1 &
	local deadline=$((SECONDS + 60))
	until docker info >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || { echo "dockerd did not start; see /var/log/modicum-dockerd.log" >&2; return 1; }
		sleep 0.5
	done
}

# The job base image: busybox-static in an otherwise empty root, built locally (no registry
# pull). Its one layer is the base layer every job image builds on.
build_base_image() { # name
	docker image inspect "$1" >/dev/null 2>&1 && return 0
	local rootfs
	rootfs="$(mktemp -d)"
	mkdir -p "$rootfs/bin" "$rootfs/out" "$rootfs/tmp"
	cp /bin/busybox "$rootfs/bin/busybox"
	for applet in $("$rootfs/bin/busybox" --list); do
		[ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
	done
	tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/sh"]' - "$1" >/dev/null
	rm -rf "$rootfs"
	printf '[services] built base image %s\n' "$1"
}

# The uncompressed diff_id of an image's first layer, `sha256:<hex>`.
base_layer_of() { # image
	docker image inspect -f '{{index .RootFS.Layers 0}}' "$1"
}

# Starts Debian's docker-registry on 127.0.0.1:PORT storing under DIR; prints "docker-registry PID".
start_registry() { # dir port
	mkdir -p "$1/data"
	cat >"$1/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $1/data
http:
  addr: 127.0.0.1:$2
YAML
	docker-registry serve "$1/config.yml" >"$1/registry.log" 2>&1 &
	local pid=$! deadline=$((SECONDS + 30))
	until curl -sf -m 2 "http://127.0.0.1:$2/v2/" >/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || { echo "docker-registry did not start; see $1/registry.log" >&2; return 1; }
		sleep 0.2
	done
	echo "docker-registry $pid"
}

# Builds the job in DIR (its run.sh becomes the image's command) on the base image, pushes it to
# the registry as REPO and prints "<manifest digest> <base layer diff_id>".
publish_job() { # dir repository registry base_image
	local context reference digest
	context="$(mktemp -d)"
	cp -r "$1/." "$context/"
	cat >"$context/Dockerfile" <<DOCKERFILE
FROM $4
COPY . /job
CMD ["/bin/sh", "/job/run.sh"]
DOCKERFILE
	# A job may add instructions of its own (the hostile images of the tests declare volumes…).
	if [ -f "$1/Dockerfile.extra" ]; then cat "$1/Dockerfile.extra" >>"$context/Dockerfile"; fi
	reference="$3/$2:latest"
	if ! DOCKER_BUILDKIT=0 docker build -q -t "$reference" "$context" >"$context.log" 2>&1; then
		cat "$context.log" >&2
		rm -rf "$context" "$context.log"
		return 1
	fi
	rm -rf "$context" "$context.log"
	digest="$(docker push "$reference" | sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p')"
	[ -n "$digest" ] || { echo "pushing $reference gave no digest" >&2; return 1; }
	# The job creator's copy goes: a provider on this host pulls the job like any other.
	docker image rm "$reference" >/dev/null
	echo "$digest $(base_layer_of "$4")"
}
