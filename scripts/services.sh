# Services the market's workers need, shared by devnet.sh and test.sh (sourced, not run):
# the Docker engine, the job base images, and a directory's OCI registry.

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

# Starts a dockerd of its own — data under DATA_ROOT, its socket, pid file and runtime state
# under RUN_DIR (RUN_DIR/docker.sock: DOCKER_HOST=unix://RUN_DIR/docker.sock reaches it) — in the
# network namespace NETNS (/run/netns/NETNS; by nsenter, which keeps the host's mounts and so its
# cgroups) or this one; no iptables, no bridge, no daemon.json, and containerd namespaces named
# after RUN_DIR in case it shares the system's containerd. Prints "dockerd-NAME PID".
start_dockerd() { # name data_root run_dir log [netns]
	local name="$1" root="$2" run="$3" log="$4" enter=()
	[ -n "${5:-}" ] && enter=(nsenter --net="/run/netns/$5")
	mkdir -p "$root" "$run"
	echo '{}' >"$run/daemon.json"
	"${enter[@]}" dockerd --config-file "$run/daemon.json" --data-root "$root" --exec-root "$run/exec" \
		--pidfile "$run/docker.pid" -H "unix://$run/docker.sock" \
		--containerd-namespace "$(basename "$run")" --containerd-plugins-namespace "$(basename "$run")-plugins" \
		--iptables=false --ip6tables=false --bridge=none >>"$log" 2>&1 &
	local pid=$!
	wait_started "$pid" 60 "dockerd $name" "$log" env DOCKER_HOST="unix://$run/docker.sock" docker info || return 1
	echo "dockerd-$name $pid"
}

# Waits until CMD succeeds, at most SECONDS and only while process PID lives; else says that WHAT
# did not start, pointing at LOG.
wait_started() { # pid seconds what log cmd...
	local pid="$1" deadline=$((SECONDS + $2)) what="$3" log="$4"
	shift 4
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "$what did not start; see $log" >&2
			return 1
		fi
		sleep 0.2
	done
}

# dockerd, the busybox base image (BASE) and a throwaway registry for jobs on 127.0.0.1:PORT in a
# new temporary folder (WORK, the registry under WORK/registry), all gone when the script exits.
start_job_registry() { # port
	ensure_dockerd
	BASE=modicum/base:busybox
	build_base_image "$BASE"
	WORK="$(mktemp -d)"
	REGISTRY_PID="$(start_registry "$WORK/registry" "$1" | awk '{print $2}')"
	trap 'kill "$REGISTRY_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
}

# Job base images: one layer each, reproducible on any host and day (the same diff_id, which the
# chain knows as the base layer), built locally from pinned Debian 12 packages with no registry
# pull. KIND busybox: busybox-static alone (/bin/busybox and its applets); KIND python: Python 3.11
# from Debian with its standard library, and busybox for sh. scripts/base-images/README.md.
MODICUM_BASE_IMAGES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/base-images"

# The diff_id KIND's pins record: what every host building that base gets.
base_layer_pinned() { # kind
	awk '$1 == "diff_id" { print $2 }' "$MODICUM_BASE_IMAGES/$1.pins"
}

# Tags the base image of KIND as NAME (KIND defaults to NAME's tag: modicum/base:python is
# python, anything else busybox) in the engine DOCKER_HOST names (the local one by default).
# Nothing is done when NAME already has the pinned layer; else the layer is built (cached under
# ${MODICUM_CACHE:-~/.cache/modicum}/images/, shared by every engine) and imported, and NAME is
# moved onto it. Fails unless Docker keeps the layer byte for byte (diff_id = tar's sha256).
build_base_image() { # name [kind]
	local name="$1" kind="${2:-}" expected layer imported
	[ -n "$kind" ] || case "$name" in *:python) kind=python ;; *) kind=busybox ;; esac
	[ -f "$MODICUM_BASE_IMAGES/$kind.pins" ] || { echo "no base image kind $kind (busybox, python)" >&2; return 1; }
	expected="$(base_layer_pinned "$kind")"
	if [ -n "$expected" ] && [ "$(docker image inspect -f '{{len .RootFS.Layers}} {{index .RootFS.Layers 0}}' "$name" 2>/dev/null)" = "1 $expected" ]; then
		return 0
	fi
	layer="$(python3 "$MODICUM_BASE_IMAGES/build.py" layer "$kind")" || return 1
	local changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["/bin/sh"]')
	# Python: UTF-8, no .pyc writes (the root is read-only), str hashes and so set order fixed.
	[ "$kind" = python ] && changes+=(--change 'ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONHASHSEED=0')
	docker import "${changes[@]}" "$layer" "$name" >/dev/null || return 1
	imported="$(base_layer_of "$name")"
	if [ "$imported" != "sha256:$(sha256sum "$layer" | cut -d' ' -f1)" ]; then
		echo "docker import of $layer gave the layer $imported, not the tar's sha256" >&2
		return 1
	fi
	printf '[services] built base image %s (%s), layer %s%s\n' "$name" "$kind" "$imported" "${DOCKER_HOST:+ in $DOCKER_HOST}"
}

# The uncompressed diff_id of an image's first layer, `sha256:<hex>`.
base_layer_of() { # image
	docker image inspect -f '{{index .RootFS.Layers 0}}' "$1"
}

# Starts Debian's docker-registry on ADDRESS:PORT (default 127.0.0.1), in the network namespace
# NETNS if given, storing under DIR; prints "docker-registry PID". With DIR/server.pem (see
# make_registry_tls) it serves https, and with DIR/htpasswd (add_registry_user) asks for basic
# auth.
start_registry() { # dir port [address [netns]]
	local address="${3:-127.0.0.1}" enter=() tls="" url check
	[ -n "${4:-}" ] && enter=(nsenter --net="/run/netns/$4")
	mkdir -p "$1/data"
	url="http://$address:$2"
	check=(curl -sf -m 2 -o /dev/null)
	if [ -f "$1/server.pem" ]; then
		url="https://$address:$2"
		tls="
  tls:
    certificate: $1/server.pem
    key: $1/server.key"
		# Up once it answers at all: with auth, /v2/ asks for credentials (401).
		check=(curl -s -m 2 -o /dev/null --cacert "$1/ca.pem")
	fi
	cat >"$1/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $1/data
  delete:
    enabled: true
http:
  addr: $address:$2$tls
YAML
	if [ -f "$1/htpasswd" ]; then
		cat >>"$1/config.yml" <<YAML
auth:
  htpasswd:
    realm: modicum
    path: $1/htpasswd
YAML
	fi
	"${enter[@]}" docker-registry serve "$1/config.yml" >"$1/registry.log" 2>&1 &
	local pid=$!
	wait_started "$pid" 30 docker-registry "$1/registry.log" "${check[@]}" "$url/v2/" || return 1
	echo "docker-registry $pid"
}

# Serves DIR/www/reference, a file of 8 MiB, over http on ADDRESS:PORT with busybox httpd (its
# log in DIR/httpd.log): the reference download a mediator proves its own link with before it
# blames a directory for slowness. Prints "reference PID".
start_reference() { # dir port address
	mkdir -p "$1/www"
	[ "$(stat -c %s "$1/www/reference" 2>/dev/null)" = 8388608 ] || head -c 8388608 /dev/zero >"$1/www/reference"
	busybox httpd -f -p "$3:$2" -h "$1/www" >"$1/httpd.log" 2>&1 &
	local pid=$!
	if ! wait_started "$pid" 10 "the reference server" "$1/httpd.log" curl -sf -m 2 -r 0-0 -o /dev/null "http://$3:$2/reference"; then
		kill "$pid" 2>/dev/null || true
		return 1
	fi
	echo "reference $pid"
}

# A throwaway certificate authority and a certificate for a registry at the IP ADDRESS signed by
# it, in DIR: ca.pem (what clients trust), server.pem and server.key. The CA's key is deleted:
# nothing else is ever signed with it.
make_registry_tls() { # dir address
	local dir="$1" ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	mkdir -p "$dir"
	openssl req -x509 "${ec[@]}" -days 30 -subj "/CN=Modicum devnet CA" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
	openssl req "${ec[@]}" -subj "/CN=$2" -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
	openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 30 -out "$dir/server.pem" -extfile <(printf '%s\n' \
			"subjectAltName=IP:$2" "basicConstraints=critical,CA:FALSE" \
			"keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth") 2>/dev/null
	rm -f "$dir/ca.key" "$dir/server.csr"
}

# Gives USER a random password for the registry whose DIR has (or gets) an htpasswd file
# (bcrypt, as docker-registry requires); the password goes to PASSWORD_FILE.
add_registry_user() { # dir user password_file
	local create=()
	[ -f "$1/htpasswd" ] || create=(-c)
	(umask 077 && openssl rand -hex 16 | tr -d "\n" >"$3")
	htpasswd "${create[@]}" -B -i "$1/htpasswd" "$2" <"$3" 2>/dev/null
}

# Builds the job in DIR — with DIR's own Dockerfile (FROM a base image) if it has one, else on
# BASE_IMAGE with its run.sh as the image's command — pushes it to the registry as REPO and prints
# "<manifest digest> <base layer diff_id>".
publish_job() { # dir repository registry base_image
	local context reference published
	context="$(mktemp -d)"
	cp -r "$1/." "$context/"
	if [ ! -f "$1/Dockerfile" ]; then
		cat >"$context/Dockerfile" <<DOCKERFILE
FROM $4
COPY . /job
CMD ["/bin/sh", "/job/run.sh"]
DOCKERFILE
		# A job may add instructions of its own (the hostile images of the tests declare volumes…).
		if [ -f "$1/Dockerfile.extra" ]; then cat "$1/Dockerfile.extra" >>"$context/Dockerfile"; fi
	fi
	# Named for this process: another devnet publishing the same job never removes this one.
	reference="modicum-publish-$$/$2:latest"
	if ! DOCKER_BUILDKIT=0 docker build -q -t "$reference" "$context" >"$context.log" 2>&1; then
		cat "$context.log" >&2
		rm -rf "$context" "$context.log"
		return 1
	fi
	rm -rf "$context" "$context.log"
	# Pushed as job creators push: through the market's registry client (`modicum image push`),
	# never `docker push`. The registry is http://$3 unless $3 names a scheme.
	local registry="$3"
	case "$registry" in http://* | https://*) ;; *) registry="http://$registry" ;; esac
	local modicum="${CARGO_TARGET_DIR:-$HOME/.cache/modicum/target}/release/modicum"
	[ -x "$modicum" ] || (cd "$(dirname "${BASH_SOURCE[0]}")/.." && cargo build --release --locked --workspace) >&2
	published="$("$modicum" image push "$reference" \
		--registry "$registry" --repository "$2")" || { docker image rm "$reference" >/dev/null; return 1; }
	# The job creator's copy goes: a provider on this host loads the job like any other.
	docker image rm "$reference" >/dev/null
	echo "$published"
}
