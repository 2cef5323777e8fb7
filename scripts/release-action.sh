#!/usr/bin/env bash
# Writes the action.yml that a release publishes: the repository's own, with `runs.image`
# naming the prebuilt image (docker://REGISTRY/REPO@sha256:DIGEST) instead of the
# Dockerfile, so a workflow's `uses: <owner>/kedro-sfn@vX` starts in seconds instead of
# compiling the crate. The release workflow runs it after pushing the image; the Dockerfile
# stays the fallback (a release tag vX.Y.Z keeps `image: Dockerfile`).
#
#   bash scripts/release-action.sh ghcr.io/owner/kedro-sfn@sha256:<64 hex> [OUT]
#
# OUT defaults to action.yml (rewritten in place).
set -euo pipefail

die() { printf 'release-action: error: %s\n' "$*" >&2; exit 1; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: release-action.sh IMAGE@sha256:DIGEST [OUT]"
image="$1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${2:-$ROOT/action.yml}"
# By digest only: a tag could move under a released action.
[[ "$image" =~ ^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$ ]] \
    || die "$image is not REGISTRY/REPOSITORY@sha256:<64 hex digits> (lower case)"

source="$ROOT/action.yml"
count="$(grep -c '^  image: Dockerfile$' "$source" || true)"
[[ "$count" == 1 ]] || die "$source must have exactly one '  image: Dockerfile' line under runs (found $count)"
tmp="$(mktemp "${out}.XXXXXX")"
sed "s|^  image: Dockerfile\$|  image: docker://$image|" "$source" >"$tmp"
mv "$tmp" "$out"
printf 'release-action: %s runs docker://%s\n' "$out" "$image" >&2
