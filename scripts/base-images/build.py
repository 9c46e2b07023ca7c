#!/usr/bin/env python3
"""Reproducible base layers for Modicum jobs (README.md here; scripts/services.sh build_base_image).

  build.py layer KIND   print the path of KIND's layer tar, building it from the pinned .debs of
                        KIND.pins (fetched once into the cache) unless it is cached; fails when the
                        tar's sha256 is not the diff_id KIND.pins records
  build.py pin KIND     re-pin KIND's packages to this host's apt candidates (Debian 12), build the
                        layer and record its diff_id in KIND.pins (a new base layer: see README.md)

KIND is `busybox` or `python`. The layer is a tar written here byte by byte, never by a host tool:
entries sorted, every mtime the pins' epoch, owner 0:0 with no user or group names, modes as the
packages ship them, ustar headers (PAX records only for names ustar cannot hold), no compression.
Nothing is executed from the packages but `busybox --list`. The cache is
${MODICUM_CACHE:-~/.cache/modicum}/images/ (debs/ and layers/).
"""

import bz2
import gzip
import hashlib
import io
import json
import os
import posixpath
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request

try:
    import lzma
except ImportError:  # a Python built without liblzma: the host's xz decompresses instead
    lzma = None

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(
    os.environ.get("MODICUM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "modicum"), "images"
)
MIRROR = os.environ.get("MODICUM_DEBIAN_MIRROR", "http://deb.debian.org/debian").rstrip("/")
SECURITY = os.environ.get("MODICUM_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security").rstrip("/")
SNAPSHOT = "https://snapshot.debian.org"

# Python 3 as Debian 12 runs it: the interpreter, its standard library and the libraries its
# extension modules load (not curses, readline, dbm or nis: they need a terminal or NIS and pull
# in ncurses, libdb and Kerberos), and busybox for `sh` and the usual tools.
PYTHON_PACKAGES = [
    "libc6", "libgcc-s1", "zlib1g", "libexpat1", "libssl3", "libbz2-1.0", "liblzma5", "libffi8",
    "libsqlite3-0", "libuuid1", "libcrypt1", "media-types",
    "libpython3.11-minimal", "python3.11-minimal", "libpython3.11-stdlib", "python3.11",
    "python3-minimal", "python3", "busybox-static",
]
KINDS = {
    # busybox-static alone, laid out as the first base image was: /bin/busybox and its applets.
    "busybox": {"packages": ["busybox-static"], "merged_usr": False, "keep": ["bin/busybox"], "applets": "bin"},
    # A merged-/usr Debian root (/bin -> usr/bin, …) without documentation, desktop files or gconv.
    "python": {
        "packages": PYTHON_PACKAGES,
        "merged_usr": True,
        "drop": [
            "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/lintian", "usr/share/locale",
            "usr/share/applications", "usr/share/pixmaps", "usr/share/initramfs-tools",
            "usr/lib/valgrind", "usr/lib/x86_64-linux-gnu/gconv",
        ],
        "applets": "usr/bin",
        "files": {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            "etc/group": "root:x:0:\nnogroup:x:65534:\n",
        },
        "dirs": {"root": 0o700},
    },
}
COMMON_DIRS = {"tmp": 0o1777, "out": 0o777}
EPOCH = 1686355200  # 2023-06-10T00:00:00Z, Debian 12's release: every entry's mtime
USR_MERGED = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")


def fail(message):
    print(f"[base-images] {message}", file=sys.stderr)
    sys.exit(1)


def log(message):
    print(f"[base-images] {message}", file=sys.stderr)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------- pins


def pins_path(kind):
    return os.path.join(HERE, f"{kind}.pins")


def read_pins(kind):
    """{'epoch': int, 'diff_id': str or None, 'debs': [(package, version, sha256, filename)]}."""
    pins = {"epoch": None, "diff_id": None, "debs": []}
    with open(pins_path(kind)) as f:
        for number, line in enumerate(f, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if words[0] == "epoch" and len(words) == 2:
                pins["epoch"] = int(words[1])
            elif words[0] == "diff_id" and len(words) == 2:
                pins["diff_id"] = words[1]
            elif words[0] == "deb" and len(words) == 5:
                pins["debs"].append(tuple(words[1:]))
            else:
                fail(f"{pins_path(kind)}:{number}: cannot read {line.strip()!r}")
    if pins["epoch"] is None:
        fail(f"{pins_path(kind)} has no `epoch` line")
    pinned = [deb[0] for deb in pins["debs"]]
    if sorted(pinned) != sorted(KINDS[kind]["packages"]):
        fail(f"{pins_path(kind)} pins {pinned}, the {kind} base needs {KINDS[kind]['packages']}: "
             f"python3 {os.path.relpath(__file__)} pin {kind}")
    return pins


def apt_pin(package):
    """(version, sha256, filename) of this host's apt candidate for package (amd64 or all)."""
    policy = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True, check=True).stdout
    candidate = next((l.split()[1] for l in policy.splitlines() if l.strip().startswith("Candidate:")), None)
    if not candidate or candidate == "(none)":
        fail(f"apt knows no candidate of {package}: is this a Debian 12 host after `apt-get update`?")
    show = subprocess.run(["apt-cache", "show", f"{package}={candidate}"], capture_output=True, text=True,
                          check=True).stdout
    for stanza in show.split("\n\n"):
        fields = dict(l.split(": ", 1) for l in stanza.splitlines() if ": " in l and not l.startswith(" "))
        if fields.get("Architecture") in ("amd64", "all") and fields.get("Version") == candidate:
            return candidate, fields["SHA256"], fields["Filename"]
    fail(f"apt-cache show {package}={candidate} gave no amd64 stanza")


def write_pins(kind, epoch, debs, diff_id):
    lines = [
        f"# The {kind} base layer: pinned Debian 12 (bookworm) packages, amd64. Written by",
        f"# `python3 scripts/base-images/build.py pin {kind}`; read scripts/base-images/README.md before",
        "# changing anything here: any change is a new base layer (a new diff_id) on chain.",
        "#",
        "# epoch: the mtime of every entry (2023-06-10, Debian 12's release); diff_id: the layer's sha256,",
        "# which every host building these pins must reproduce; deb: package, version, the .deb's",
        "# sha256 and its path in the archive (pool/updates/… is on debian-security).",
        f"epoch {epoch}",
    ]
    if diff_id:
        lines.append(f"diff_id {diff_id}")
    lines += [f"deb {' '.join(deb)}" for deb in debs]
    with open(pins_path(kind), "w") as f:
        f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------- .debs


def fetch(url, timeout=60):
    request = urllib.request.Request(url, headers={"User-Agent": "modicum-base-images"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def candidate_urls(package, version, filename):
    if filename.startswith("pool/updates/"):
        # A security update, later also copied into the main archive by a point release.
        yield f"{SECURITY}/{filename}"
        yield f"{MIRROR}/pool/{filename[len('pool/updates/'):]}"
    else:
        yield f"{MIRROR}/{filename}"
    # snapshot.debian.org keeps every version ever published; found by package and version.
    try:
        listing = json.loads(fetch(f"{SNAPSHOT}/mr/binary/{package}/{version}/binfiles", timeout=20))
        for entry in listing.get("result", []):
            if entry.get("architecture") in ("amd64", "all"):
                yield f"{SNAPSHOT}/file/{entry['hash']}"
    except (OSError, ValueError) as error:
        log(f"snapshot.debian.org: {error}")


def deb_path(kind, package, version, sha256, filename):
    """The cached .deb, fetched and checked against its pinned sha256 when missing."""
    directory = os.path.join(CACHE, "debs")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, posixpath.basename(filename))
    if os.path.exists(path) and sha256_file(path) == sha256:
        return path
    for url in candidate_urls(package, version, filename):
        try:
            blob = fetch(url)
        except (OSError, urllib.error.URLError) as error:
            log(f"{url}: {error}")
            continue
        if hashlib.sha256(blob).hexdigest() != sha256:
            log(f"{url}: sha256 {hashlib.sha256(blob).hexdigest()} is not the pinned {sha256}; ignored")
            continue
        temporary = f"{path}.{os.getpid()}.part"
        with open(temporary, "wb") as f:
            f.write(blob)
        os.replace(temporary, path)
        log(f"fetched {package} {version} ({len(blob) // 1024} KiB)")
        return path
    fail(
        f"the {kind} base pins {package} {version} (sha256 {sha256}), which is no longer on "
        f"{MIRROR}, {SECURITY} nor snapshot.debian.org (Debian drops superseded versions).\n"
        f"  Either copy that exact file ({posixpath.basename(filename)}, sha256 above) from a host that has it "
        f"into {directory}/ — its cache, another provider, or a mirror (MODICUM_DEBIAN_MIRROR, "
        f"MODICUM_DEBIAN_SECURITY_MIRROR) — which keeps this base layer;\n"
        f"  or re-pin: `python3 scripts/base-images/build.py pin {kind}` on an updated Debian 12 host, which makes "
        f"a NEW base layer (new diff_id): providers, mediators and job images must all move to it "
        f"(scripts/base-images/README.md)."
    )


def deb_members(path):
    """(TarInfo, bytes or None) of each entry of a .deb's data.tar, in archive order."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != b"!<arch>\n":
        fail(f"{path} is not a .deb (ar archive)")
    position = 8
    while position + 60 <= len(blob):
        header = blob[position:position + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        data = blob[position + 60:position + 60 + size]
        position += 60 + size + (size & 1)
        if not name.startswith("data.tar"):
            continue
        compression = name[len("data.tar"):]
        if compression == ".xz":
            data = lzma.decompress(data) if lzma else subprocess.run(
                ["xz", "-dc"], input=data, capture_output=True, check=True).stdout
        elif compression == ".gz":
            data = gzip.decompress(data)
        elif compression == ".bz2":
            data = bz2.decompress(data)
        elif compression != "":
            fail(f"{path}: {name} is compressed in a way this builder does not read")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for member in archive:
                content = archive.extractfile(member).read() if member.isreg() else None
                yield member, content
        return
    fail(f"{path} has no data.tar")


# ---------------------------------------------------------------------------------------- root


def normalise(name, merged_usr):
    path = posixpath.normpath("/" + name).lstrip("/")
    if path in ("", "."):
        return ""
    if ".." in path.split("/"):
        fail(f"a package entry leaves the root: {name}")
    if merged_usr and path.split("/", 1)[0] in USR_MERGED:
        path = "usr/" + path
    return path


def root_tree(kind, pins):
    """{path: (type 'dir'|'file'|'link', mode, bytes or link target)} of the layer."""
    spec = KINDS[kind]
    merged = spec["merged_usr"]
    tree, origin = {}, {}
    for package, version, sha256, filename in pins["debs"]:
        for member, content in deb_members(deb_path(kind, package, version, sha256, filename)):
            path = normalise(member.name, merged)
            if not path:
                continue
            mode = member.mode & 0o7777
            if member.isdir():
                entry = ("dir", mode, None)
            elif member.isreg():
                entry = ("file", mode, content)
            elif member.issym():
                entry = ("link", 0o777, member.linkname)
            elif member.islnk():
                # A hard link becomes a copy: the same bytes whatever the order of the entries.
                target = tree.get(normalise(member.linkname, merged))
                if not target or target[0] != "file":
                    fail(f"{package}: hard link {member.name} to {member.linkname}, not a file before it")
                entry = target
            else:
                fail(f"{package}: {member.name} is neither a file, a directory nor a link")
            if path in tree and tree[path] != entry:
                if tree[path][0] == "dir" and entry[0] == "dir":
                    continue  # the first package's mode stands
                fail(f"{package} {version} ships {path}, which {origin[path]} ships differently")
            tree[path], origin[path] = entry, package
    if "keep" in spec:
        tree = {p: e for p, e in tree.items() if p in spec["keep"]}
    for prefix in spec.get("drop", []):
        tree = {p: e for p, e in tree.items() if p != prefix and not p.startswith(prefix + "/")}
    if merged:
        for top in USR_MERGED[:4]:
            tree.setdefault(f"usr/{top}", ("dir", 0o755, None))
            tree[top] = ("link", 0o777, f"usr/{top}")
    # busybox's applets as links beside it (what a package already ships stays).
    applets = spec["applets"]
    busybox = tree.get(f"{applets}/busybox")
    if not busybox or busybox[0] != "file":
        fail(f"the {kind} base has no {applets}/busybox")
    for applet in busybox_applets(busybox[2]):
        tree.setdefault(f"{applets}/{applet}", ("link", 0o777, "busybox"))
    for path, text in spec.get("files", {}).items():
        tree[path] = ("file", 0o644, text.encode())
    for path, mode in {**spec.get("dirs", {}), **COMMON_DIRS}.items():
        tree[path] = ("dir", mode, None)
    for path in list(tree):
        parent = posixpath.dirname(path)
        while parent:
            kind_of_parent = tree.setdefault(parent, ("dir", 0o755, None))[0]
            if kind_of_parent != "dir":
                fail(f"{path} lies under {parent}, which is not a directory")
            parent = posixpath.dirname(parent)
    return tree


def busybox_applets(binary):
    # Run from the cache: /tmp may be mounted noexec.
    with tempfile.TemporaryDirectory(dir=CACHE) as directory:
        path = os.path.join(directory, "busybox")
        with open(path, "wb") as f:
            f.write(binary)
        os.chmod(path, 0o755)
        listed = subprocess.run([path, "--list"], capture_output=True, text=True, check=True).stdout.split()
    return sorted(applet for applet in listed if applet != "busybox")


# ---------------------------------------------------------------------------------------- tar


def octal(value, width):
    return b"%0*o\0" % (width - 1, value)


def ustar_split(name):
    """(prefix, name) for a ustar header, or None when the path does not fit."""
    if len(name) <= 100:
        return b"", name
    for index in range(min(len(name) - 1, 155), 0, -1):
        if name[index:index + 1] == b"/" and len(name) - index - 1 <= 100:
            return name[:index], name[index + 1:]
    return None


def header(name, typeflag, mode, size, linkname, epoch):
    block = bytearray(512)

    def put(offset, width, value):
        block[offset:offset + len(value[:width])] = value[:width]

    prefix, short = name
    put(0, 100, short)
    put(100, 8, octal(mode, 8))
    put(108, 8, octal(0, 8))
    put(116, 8, octal(0, 8))
    put(124, 12, octal(size, 12))
    put(136, 12, octal(epoch, 12))
    block[148:156] = b" " * 8
    block[156:157] = typeflag
    put(157, 100, linkname)
    put(257, 6, b"ustar\0")
    put(263, 2, b"00")
    put(329, 8, octal(0, 8))
    put(337, 8, octal(0, 8))
    put(345, 155, prefix)
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def pax_record(key, value):
    body = b" %s=%s\n" % (key, value)
    length = len(body) + 1
    while len(b"%d" % length) + len(body) != length:
        length += 1
    return b"%d%s" % (length, body)


def padded(data):
    return data + b"\0" * (-len(data) % 512)


def write_layer(tree, epoch, out):
    """Writes the tree as a tar to the binary file `out`; returns its sha256 hex."""
    digest = hashlib.sha256()

    def emit(data):
        digest.update(data)
        out.write(data)

    types = {"dir": b"5", "file": b"0", "link": b"2"}
    for path in sorted(tree, key=lambda p: p.encode()):
        kind, mode, payload = tree[path]
        name = (path + "/" if kind == "dir" else path).encode()
        link = payload.encode() if kind == "link" else b""
        size = len(payload) if kind == "file" else 0
        pax = {}
        split = ustar_split(name) if name.isascii() else None
        if split is None:
            pax[b"path"], split = name, (b"", name[:100])
        if len(link) > 100 or not link.isascii():
            pax[b"linkpath"] = link
        if pax:
            records = b"".join(pax_record(k, v) for k, v in sorted(pax.items()))
            emit(header((b"", b"././@PaxHeader"), b"x", 0o644, len(records), b"", epoch))
            emit(padded(records))
        emit(header(split, types[kind], mode, size, link, epoch))
        if kind == "file":
            emit(padded(payload))
    emit(b"\0" * 1024)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------- commands


def cache_key(kind):
    digest = hashlib.sha256()
    for path in (os.path.abspath(__file__), pins_path(kind)):
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def build_layer(kind, pins):
    """Path of the layer tar in the cache (built unless present) and its sha256 hex."""
    directory = os.path.join(CACHE, "layers")
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{kind}-{cache_key(kind)}.tar")
    if os.path.exists(path):
        return path, sha256_file(path)
    tree = root_tree(kind, pins)
    temporary = f"{path}.{os.getpid()}.part"
    with open(temporary, "wb") as f:
        digest = write_layer(tree, pins["epoch"], f)
    os.replace(temporary, path)
    log(f"built the {kind} layer: {len(tree)} entries, {os.path.getsize(path) // 1024} KiB, sha256:{digest}")
    return path, digest


def prune(path):
    """Removes the kind's other (stale) layers from the cache."""
    directory, name = os.path.split(path)
    kind = name.rsplit("-", 1)[0]
    for stale in os.listdir(directory):
        if stale.startswith(f"{kind}-") and stale.endswith(".tar") and stale != name:
            os.remove(os.path.join(directory, stale))


def layer(kind):
    pins = read_pins(kind)
    path, digest = build_layer(kind, pins)
    if pins["diff_id"] and pins["diff_id"] != f"sha256:{digest}":
        os.remove(path)
        fail(
            f"this host built the {kind} layer as sha256:{digest}, but {pins_path(kind)} records "
            f"{pins['diff_id']}. Nothing was tagged. If build.py or the pins were changed on purpose, "
            f"re-pin (`python3 scripts/base-images/build.py pin {kind}`: a new base layer). Otherwise the "
            f"build does not reproduce on this host: report it (OS, python3 --version) and do not "
            f"re-pin to make it pass, or this host's base would differ from everybody else's."
        )
    prune(path)
    print(path)


def pin(kind):
    epoch = EPOCH
    debs = [(package, *apt_pin(package)) for package in KINDS[kind]["packages"]]
    write_pins(kind, epoch, debs, None)
    path, digest = build_layer(kind, read_pins(kind))
    write_pins(kind, epoch, debs, f"sha256:{digest}")
    # The key covers the pins file, which now holds the diff_id too.
    final = os.path.join(os.path.dirname(path), f"{kind}-{cache_key(kind)}.tar")
    os.replace(path, final)
    prune(final)
    log(f"pinned {len(debs)} packages in {pins_path(kind)}; diff_id sha256:{digest}")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("layer", "pin") or sys.argv[2] not in KINDS:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    {"layer": layer, "pin": pin}[sys.argv[1]](sys.argv[2])


if __name__ == "__main__":
    main()
