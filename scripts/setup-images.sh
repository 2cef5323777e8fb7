#!/usr/bin/env bash
# Install the system tools kedro-sfn's image tests use instead of a Docker engine
# (Debian/Ubuntu, as root or with sudo):
#   buildah          builds Dockerfiles (`buildah bud`), runs commands in images
#                    (`buildah from` + `buildah run --isolation chroot`), pushes
#   podman           only for `podman import` (buildah has no import), used by
#                    scripts/local-base-image.sh
#   docker-registry  a local OCI/Docker registry (distribution 2.8) to push to
#   htpasswd         (apache2-utils) bcrypt users for the registry's basic auth
#   debootstrap      makes the root file system of the local base image
#   chromium         the headless browser mermaid-cli draws the comments' pictures in
#                    (tests/it/mermaid_render.rs; npm's puppeteer download is skipped)
#
# Idempotent: only what is missing is installed, and `apt-get update` runs at
# most once. Prints each tool's version at the end.
set -euo pipefail

say() { printf 'setup-images: %s\n' "$*" >&2; }
die() { printf 'setup-images: error: %s\n' "$*" >&2; exit 1; }

# command -> Debian package
TOOLS=(
    "buildah:buildah"
    "podman:podman"
    "docker-registry:docker-registry"
    "htpasswd:apache2-utils"
    "debootstrap:debootstrap"
    # The read-only task-root tests (bind mounts, a private mount namespace).
    "mount:mount"
    "unshare:util-linux"
    # Mermaid's pictures, drawn as GitHub draws them.
    "chromium:chromium"
)

missing=()
for entry in "${TOOLS[@]}"; do
    cmd="${entry%%:*}" pkg="${entry#*:}"
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done

if [[ ${#missing[@]} -gt 0 ]]; then
    command -v apt-get >/dev/null 2>&1 \
        || die "missing ${missing[*]} and apt-get is not available: install them with your package manager"
    SUDO=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 \
            || die "missing ${missing[*]}: run this script as root (or install sudo)"
        SUDO=(sudo)
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q >&2 \
        || die "apt-get update failed: check the network and /etc/apt/sources.list*"
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
        || die "apt-get install ${missing[*]} failed: install them by hand (Debian bookworm has all of them in main)"
fi

for entry in "${TOOLS[@]}"; do
    cmd="${entry%%:*}"
    command -v "$cmd" >/dev/null 2>&1 \
        || die "$cmd is still missing after installing: install package ${entry#*:} by hand"
done

say "buildah:         $(buildah --version)"
say "podman:          $(podman --version)"
say "docker-registry: $(docker-registry --version 2>&1 | head -n1)"
say "htpasswd:        $(dpkg-query -W -f='apache2-utils ${Version}' apache2-utils 2>/dev/null || echo present)"
say "debootstrap:     $(dpkg-query -W -f='debootstrap ${Version}' debootstrap 2>/dev/null || echo present)"
say "chromium:        $(chromium --version 2>/dev/null || echo present)"
# Lambda's runtime interface client (what AWS's Python base image starts), as wheels for
# the image's Python (3.11): tests/it/image_buildah.rs installs it into a container of the built
# image and drives the handler through a loopback Runtime API. Downloaded once.
RIC_VERSION="4.2.2"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="${KEDRO_SFN_IMAGES_DIR:-$REPO/target/kedro-sfn-images}/wheels/awslambdaric-$RIC_VERSION"
if ! ls "$WHEELS"/awslambdaric-"$RIC_VERSION"-*.whl >/dev/null 2>&1; then
    PY="$REPO/.venv/bin/python"
    [[ -x "$PY" ]] || die "$PY not found: run scripts/setup.sh first"
    mkdir -p "$WHEELS"
    "$PY" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
        --python-version 3.11 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
        --dest "$WHEELS" "awslambdaric==$RIC_VERSION" \
        || die "cannot download awslambdaric $RIC_VERSION from PyPI into $WHEELS"
fi
say "awslambdaric:    $(ls "$WHEELS" | tr '\n' ' ')"
say "done"
