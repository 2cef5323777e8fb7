#!/usr/bin/env bash
# Build, once, a local stand-in for AWS's Lambda Python base image
# (public.ecr.aws/lambda/python:3.11), which cannot be pulled on machines
# without access to public registries, and keep it in a buildah/podman storage
# that kedro-sfn's image tests build on (`--build-arg BASE_IMAGE=<this image>`).
#
# What it shares with the real base, as far as kedro-sfn's Dockerfile cares:
#   ENV LAMBDA_TASK_ROOT=/var/task, LAMBDA_RUNTIME_DIR=/var/runtime, WORKDIR
#   /var/task, `python3` (CPython 3.11, full standard library) on PATH and
#   `python3 -m pip install --target ...` working (Debian's PEP 668
#   EXTERNALLY-MANAGED marker is removed, as the real base has none).
# What it does not have: the Lambda runtime interface client and
# /lambda-entrypoint.sh (so no ENTRYPOINT), and it is Debian bookworm
# (glibc 2.36), not Amazon Linux. /var/task is not on sys.path by itself:
# pass `--env PYTHONPATH=/var/task` to `buildah run`, as Lambda's runtime
# puts it there.
#
# Usage: scripts/local-base-image.sh [--root DIR] [--runroot DIR] [--driver vfs|overlay]
#                                    [--name IMAGE] [--force]
# Environment (flags win): KEDRO_SFN_IMAGES_DIR (default <repo>/target/kedro-sfn-images),
#   IMAGE_ROOT (default $KEDRO_SFN_IMAGES_DIR/root), IMAGE_RUNROOT
#   (default /tmp/ksfn-run-<8 hex of the root path>), IMAGE_STORAGE_DRIVER (default vfs: works
#   everywhere; overlay is much faster and smaller where the kernel lets root mount it, but a
#   storage root keeps the driver it was made with), BASE_IMAGE (default
#   localhost/kedro-sfn-lambda-python:3.11), DEBIAN_MIRROR (default: the first
#   Debian mirror of apt's sources), DEBIAN_SUITE (default bookworm).
# Needs root (debootstrap), debootstrap and podman (scripts/setup-images.sh).
# Quick when the image is already in the storage: nothing is built.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGES_DIR="${KEDRO_SFN_IMAGES_DIR:-$REPO/target/kedro-sfn-images}"
STORAGE_ROOT="${IMAGE_ROOT:-$IMAGES_DIR/root}"
# podman refuses run roots longer than 50 characters, so the default is short:
# /tmp/ksfn-run-<8 hex of the storage root's path> (the tests derive the same).
STORAGE_RUNROOT="${IMAGE_RUNROOT:-}"
NAME="${BASE_IMAGE:-localhost/kedro-sfn-lambda-python:3.11}"
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-}"
DRIVER="${IMAGE_STORAGE_DRIVER:-vfs}"
FORCE=0

say() { printf 'local-base-image: %s\n' "$*" >&2; }
die() { printf 'local-base-image: error: %s\n' "$*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --root) STORAGE_ROOT="$2"; shift 2 ;;
        --runroot) STORAGE_RUNROOT="$2"; shift 2 ;;
        --driver) DRIVER="$2"; shift 2 ;;
        --name) NAME="$2"; shift 2 ;;
        --force) FORCE=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

# Derived from the root in use (a --root flag's too), as tests/support/images.rs derives it:
# podman refuses a storage whose run root differs from the one it was made with.
if [[ -z "$STORAGE_RUNROOT" ]]; then
    STORAGE_RUNROOT="/tmp/ksfn-run-$(printf '%s' "$STORAGE_ROOT" | sha256sum | cut -c1-8)"
fi

for cmd in podman debootstrap; do
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found: run scripts/setup-images.sh"
done

# podman records the storage root in its database: always the same, absolute spelling.
mkdir -p "$STORAGE_ROOT" "$STORAGE_RUNROOT"
STORAGE_ROOT="$(cd "$STORAGE_ROOT" && pwd)"
STORAGE_RUNROOT="$(cd "$STORAGE_RUNROOT" && pwd)"

# One build at a time per storage (tests of one binary ask for it at once): the others
# wait here, then find the image.
exec 9>"$STORAGE_ROOT.lock"
flock 9

start=$SECONDS
PODMAN=(podman --storage-driver "$DRIVER" --root "$STORAGE_ROOT" --runroot "$STORAGE_RUNROOT")

if [[ $FORCE -eq 0 ]] && "${PODMAN[@]}" image exists "$NAME" 2>/dev/null; then
    say "$NAME is already in $STORAGE_ROOT: nothing to do"
    exit 0
fi
[[ $(id -u) -eq 0 ]] || die "debootstrap needs root: run as root (or use a machine where the image is cached)"

# The Debian mirror apt already uses (deb822 .sources first, then one-line lists).
find_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' "$f"
    done
}
if [[ -z "$MIRROR" ]]; then
    MIRROR="$(find_mirror | head -n1)"
    MIRROR="${MIRROR:-http://deb.debian.org/debian}"
fi

mkdir -p "$IMAGES_DIR"
ROOTFS="$(mktemp -d "$IMAGES_DIR/rootfs.XXXXXX")"
trap 'rm -rf "$ROOTFS"' EXIT

# python3 (not only python3-minimal: the Lambda base has the full standard
# library), python3-pip (pulls setuptools, wheel, ca-certificates).
say "debootstrap $SUITE from $MIRROR (about a minute)"
debootstrap --variant=minbase --include=python3-minimal,python3,python3-pip,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 \
    || { tail -n 20 "$ROOTFS.log" >&2; die "debootstrap failed (full log: $ROOTFS.log)"; }
rm -f "$ROOTFS.log"

# Trust what the host trusts: on machines whose egress goes through a
# TLS-inspecting proxy, pip inside `buildah bud` needs the proxy's CA (the
# host's own additions live in /usr/local/share/ca-certificates).
extra_cas=(/usr/local/share/ca-certificates/*.crt)
if [[ -e "${extra_cas[0]}" ]]; then
    say "adding the host's CA certificates: ${extra_cas[*]##*/}"
    cp "${extra_cas[@]}" "$ROOTFS/usr/local/share/ca-certificates/"
    chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1 \
        || die "update-ca-certificates failed in the new root file system"
fi

# Make it look like the Lambda base for a Dockerfile.
rm -f "$ROOTFS"/usr/lib/python3*/EXTERNALLY-MANAGED
mkdir -p "$ROOTFS/var/task" "$ROOTFS/var/runtime"
# Nothing of apt's caches, docs or man pages is needed at run time.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin \
    "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* \
    "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/*
PY_VERSION="$(chroot "$ROOTFS" python3 --version 2>&1)" \
    || die "python3 does not run in the new root file system: $PY_VERSION"
chroot "$ROOTFS" python3 -m pip --version >/dev/null 2>&1 \
    || die "pip does not run in the new root file system"

if "${PODMAN[@]}" image exists "$NAME" 2>/dev/null; then
    "${PODMAN[@]}" rmi -f "$NAME" >/dev/null
fi
say "importing it as $NAME into $STORAGE_ROOT"
tar --numeric-owner -C "$ROOTFS" -c . | "${PODMAN[@]}" import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
    --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
    --change 'WORKDIR /var/task' \
    --message "kedro-sfn local stand-in for public.ecr.aws/lambda/python (debootstrap $SUITE)" \
    - "$NAME" >/dev/null 2>"$IMAGES_DIR/import.log" \
    || { cat "$IMAGES_DIR/import.log" >&2; die "podman import failed"; }
rm -f "$IMAGES_DIR/import.log"

"${PODMAN[@]}" image exists "$NAME" || die "podman import did not produce $NAME"
rm -rf "$ROOTFS"
size="$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$NAME")"
say "built $NAME ($PY_VERSION) in $((SECONDS - start)) s: $((size / 1000000)) MB"
