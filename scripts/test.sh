#!/usr/bin/env bash
# The test command of kedro-sfn: everything CI runs, in this order.
#
#   1. scripts/setup.sh                    .venv (Kedro, moto, pytest, the example project)
#                                          and node_modules (asl-validator, ASL interpreter)
#      scripts/setup-images.sh             buildah, podman, docker-registry, htpasswd,
#                                          debootstrap and chromium (apt, as root) for
#                                          the image and picture tests;
#                                          the tests build their base image once (~1.5 min)
#   2. cargo fmt --check
#   3. cargo clippy --all-targets -- -D warnings
#   4. pytest python/tests                 the exporter against real Kedro
#   5. cargo test                          unit, integration (moto on a free port) and doc
#                                          tests; last, so its "test result:" lines end the
#                                          output
#
# Runs from any directory. Environment: PYTHON and NPM are passed on to setup.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

START=$SECONDS
# Each step's header carries the seconds since the start, so a slow CI run shows where it went.
step() { printf '\n==> [%4ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { printf 'test: error: %s\n' "$*" >&2; exit 1; }

require_tools() {
    command -v cargo >/dev/null 2>&1 \
        || die "cargo not found: install the Rust toolchain with rustup (https://rustup.rs), then open a new shell or run: . \"\$HOME/.cargo/env\""
    cargo fmt --version >/dev/null 2>&1 \
        || die "cargo fmt is missing: rustup component add rustfmt"
    cargo clippy --version >/dev/null 2>&1 \
        || die "cargo clippy is missing: rustup component add clippy"
    command -v "${PYTHON:-python3}" >/dev/null 2>&1 \
        || die "${PYTHON:-python3} not found: install Python >= 3.10 with venv (on Debian: apt-get install python3 python3-venv) or set PYTHON=/path/to/python3"
    command -v "${NPM:-npm}" >/dev/null 2>&1 \
        || die "${NPM:-npm} not found: install Node.js >= 20 with npm (on Debian: apt-get install nodejs npm) or set NPM"
}

require_tools

step "bash scripts/setup.sh"
bash scripts/setup.sh

step "bash scripts/setup-images.sh"
bash scripts/setup-images.sh

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step ".venv/bin/python -m pytest -q python/tests"
status=0
KEDRO_DISABLE_TELEMETRY="${KEDRO_DISABLE_TELEMETRY:-true}" \
    .venv/bin/python -m pytest -q python/tests || status=$?
if [[ $status -eq 5 ]]; then
    die "pytest collected no tests in python/tests"
elif [[ $status -ne 0 ]]; then
    die "pytest failed (exit code $status)"
fi

step "cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
cargo test 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole Rust suite (cargo prints one per test binary).
read -r passed failed < <(awk '/^test result:/ {
    for (i = 1; i < NF; i++) {
        if ($(i + 1) ~ /^passed/) p += $i
        if ($(i + 1) ~ /^failed/) f += $i
    }
} END { print p + 0, f + 0 }' "$log")
[[ $status -eq 0 ]] || die "cargo test failed (exit code $status; $passed passed, $failed failed)"
[[ $passed -gt 0 ]] || die "cargo test ran no test"
printf 'rust: %s passed, %s failed\n' "$passed" "$failed"
printf 'test: done in %ds\n' "$((SECONDS - START))" >&2
