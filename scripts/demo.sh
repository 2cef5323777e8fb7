#!/usr/bin/env bash
# The main job on local defaults: deploy the bundled example project to a local AWS
# emulator and run it once.
#
#   1. scripts/setup.sh          .venv with Kedro, moto and the example installed
#   2. moto_server on a free loopback port (stopped when this script ends), with state
#      machine execution turned on; AWS_ENDPOINT_URL points kedro-sfn at it
#   3. two IAM roles and an image in moto's ECR (tests/support/moto_fixtures.py). moto
#      runs no containers, so the image is a placeholder manifest; on a machine with
#      buildah, `--with-image` builds and pushes the real one instead (a few minutes the
#      first time; see docs/image.md)
#   4. kedro-sfn plan            against the (empty) deployment: out/spaceflights-plan/
#   5. kedro-sfn deploy --start-execution --wait
#                                functions, state machine, version, alias; one execution
#                                followed to SUCCEEDED
#   6. kedro-sfn deploy again    "no changes", zero mutating calls
#
# Usage: scripts/demo.sh [--with-image]
# Runs from any directory. Environment: PYTHON and NPM are passed on to setup.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

EXAMPLE="examples/spaceflights"
OUT="out/spaceflights-plan"
IMAGE_OUT="out/spaceflights-image"
WITH_IMAGE=0
[[ "${1:-}" == "--with-image" ]] && WITH_IMAGE=1

step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 \
    || die "cargo not found: install the Rust toolchain with rustup (https://rustup.rs)"

export KEDRO_DISABLE_TELEMETRY="${KEDRO_DISABLE_TELEMETRY:-true}"

step "bash scripts/setup.sh"
bash scripts/setup.sh

step "cargo build (the first build compiles the AWS SDK: a few minutes)"
cargo build
KEDRO_SFN="$ROOT/target/debug/kedro-sfn"

mkdir -p out
PORT="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
step "moto_server on 127.0.0.1:$PORT"
# Without --with-image, functions name an image in moto's ECR, as on AWS (Lambda's
# CodeSha256 is then the image's digest, so a plan sees an unchanged image without a call
# per function). The real image goes to a local registry instead, which moto cannot check.
STUB_ECR=false
[[ $WITH_IMAGE -eq 1 ]] && STUB_ECR=true
MOTO_PORT="$PORT" MOTO_LAMBDA_STUB_ECR="$STUB_ECR" \
    .venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$PORT" >out/moto.log 2>&1 &
MOTO_PID=$!
REGISTRY_PID=""
cleanup() {
    kill "$MOTO_PID" 2>/dev/null || true
    [[ -n "$REGISTRY_PID" ]] && kill "$REGISTRY_PID" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/moto-api/" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/moto-api/" >/dev/null || die "moto_server did not start (see out/moto.log)"
curl -fs -X POST "http://127.0.0.1:$PORT/moto-api/config" \
    -d '{"lambda":{"use_docker":false},"stepfunctions":{"execute_state_machine":true}}' >/dev/null

export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1 \
    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true

fixture() { .venv/bin/python tests/support/moto_fixtures.py "$@"; }
ROLES="$(fixture roles)"
LAMBDA_ROLE="$(printf '%s' "$ROLES" | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["lambda"])')"
STATES_ROLE="$(printf '%s' "$ROLES" | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["states"])')"

if [[ $WITH_IMAGE -eq 1 ]]; then
    step "the real image: buildah, a local base image and a local registry"
    bash scripts/setup-images.sh
    IMAGES="$ROOT/target/kedro-sfn-images/overlay"
    # podman refuses run roots longer than 50 characters: a short one, as the tests derive it.
    RUNROOT="/tmp/ksfn-run-$(printf '%s' "$IMAGES/root" | sha256sum | cut -c1-8)"
    bash scripts/local-base-image.sh --driver overlay --root "$IMAGES/root" --runroot "$RUNROOT"
    printf '[storage]\ndriver = "overlay"\ngraphroot = "%s/root"\nrunroot = "%s"\n' "$IMAGES" "$RUNROOT" >"$IMAGES/storage.conf"
    export CONTAINERS_STORAGE_CONF="$IMAGES/storage.conf" BUILDAH_ISOLATION=chroot
    TOKEN="$(fixture token)"
    REG_USER="$(printf '%s' "$TOKEN" | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["user"])')"
    REG_PASS="$(printf '%s' "$TOKEN" | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["password"])')"
    REG_DIR="$(mktemp -d)"
    REG_PORT="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    htpasswd -Bbn "$REG_USER" "$REG_PASS" >"$REG_DIR/htpasswd"
    printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\nauth:\n  htpasswd:\n    realm: demo\n    path: %s/htpasswd\n' \
        "$REG_DIR" "$REG_PORT" "$REG_DIR" >"$REG_DIR/config.yml"
    docker-registry serve "$REG_DIR/config.yml" >out/registry.log 2>&1 &
    REGISTRY_PID=$!
    sleep 1
    step "kedro-sfn image build"
    "$KEDRO_SFN" image build --project "$EXAMPLE" --python .venv/bin/python --builder buildah \
        --base-image localhost/kedro-sfn-lambda-python:3.11 --out "$IMAGE_OUT"
    step "kedro-sfn image push (layers to the local registry, the image recorded in moto's ECR)"
    "$KEDRO_SFN" image push --out "$IMAGE_OUT" --registry "127.0.0.1:$REG_PORT"
    IMAGE_ARGS=(--image-dir "$IMAGE_OUT")
else
    IMAGE_URI="$(fixture image spaceflights demo | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["uri"])')"
    step "placeholder image in moto's ECR: $IMAGE_URI"
    IMAGE_ARGS=(--image-uri "$IMAGE_URI")
fi

COMMON=(--project "$EXAMPLE" --python .venv/bin/python
    --lambda-role-arn "$LAMBDA_ROLE" --state-machine-role-arn "$STATES_ROLE" "${IMAGE_ARGS[@]}")

step "kedro-sfn plan (against the empty deployment in moto)"
"$KEDRO_SFN" plan "${COMMON[@]}" --out "$OUT"

step "kedro-sfn deploy --start-execution --wait"
"$KEDRO_SFN" deploy "${COMMON[@]}" --out "$OUT" --start-execution --wait --execution-name demo-run

step "kedro-sfn deploy (again: nothing to change)"
"$KEDRO_SFN" deploy "${COMMON[@]}" --out "$OUT-again" | tee out/deploy-again.log
grep -q "no changes" out/deploy-again.log \
    || die "the second deploy changed something: it must make no change (out/deploy-again.log)"

step "$OUT/summary.md (what the first deploy changed; the pull-request comment shows the same)"
cat "$OUT/summary.md"
step "done: the example is deployed to moto and ran to SUCCEEDED; files in $ROOT/$OUT"
cat >&2 <<NEXT

Next, for your own Kedro project and a real AWS account (README, "Your own project"):
  kedro-sfn init --bucket s3://YOUR-BUCKET/PREFIX    # in the project: conf/aws, kedro-sfn.yml, workflow
  kedro-sfn check --env aws && kedro-sfn plan         # then image build, image push, deploy
NEXT
