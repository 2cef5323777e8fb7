#!/usr/bin/env bash
# The test command of kedro-sfn: everything CI runs, in this order.
#
#   1. cargo fmt --check
#   2. in the background, while 3 and 4 run (neither needs the other): cargo clippy
#      --all-targets -- -D warnings, as the compiler of cargo test --no-run --all-targets
#      (clippy-driver as RUSTC_WORKSPACE_WRAPPER: the dependencies are compiled once)
#   3. scripts/setup.sh                    .venv (Kedro, moto, pytest, the example project)
#                                          and node_modules (asl-validator, ASL interpreter)
#      scripts/setup-images.sh             buildah, podman, docker-registry, htpasswd,
#                                          debootstrap and chromium (apt, as root) for
#                                          the image and picture tests; then, in the
#                                          background, the tests' base image (once, ~1.5 min)
#   4. pytest python/tests                 the exporter against real Kedro
#   5. cargo test                          (once 2 has ended, its output shown) unit,
#                                          integration (moto on a free port) and doc
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

step "cargo fmt --check"
cargo fmt --check

# Clippy as the test build's compiler. `cargo clippy --all-targets -- -D warnings` is `cargo
# check` with clippy-driver as RUSTC_WORKSPACE_WRAPPER; made the wrapper of the test build
# instead, it lints the same targets as they compile, and the dependencies are compiled once
# rather than checked once and compiled again (3.5 minutes of a cold run). Exported: `cargo
# test` below and the builds the tests make (maturin's wheel) find everything fresh.
CLIPPY_DRIVER="$(rustc --print sysroot)/bin/clippy-driver"
[[ -x "$CLIPPY_DRIVER" ]] || die "clippy-driver is not at $CLIPPY_DRIVER: rustup component add clippy"
export RUSTC_WORKSPACE_WRAPPER="$CLIPPY_DRIVER"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

# The build needs nothing that setup installs, so it runs in the background while setup
# downloads (mostly waiting on the network) and pytest runs; its output is shown when it is
# waited for.
build_log="$(mktemp)"
log="$(mktemp)"
step "in the background: cargo clippy --all-targets -- -D warnings, as cargo test --no-run --all-targets"
cargo test --no-run --all-targets >"$build_log" 2>&1 &
build_pid=$!
trap 'kill "$build_pid" 2>/dev/null || true; rm -f "$build_log" "$log"' EXIT

step "bash scripts/setup.sh"
bash scripts/setup.sh

step "bash scripts/setup-images.sh"
bash scripts/setup-images.sh

# The image tests' base image (built once, then kept under target/), in the background too:
# debootstrap mostly waits on the Debian mirror. The same flags as tests/support/images.rs,
# so the tests find it there (and wait on its lock if it is still being built).
base_log="$(mktemp)"
step "in the background: scripts/local-base-image.sh (the image tests' base image)"
bash scripts/local-base-image.sh --driver overlay --name localhost/kedro-sfn-lambda-python:3.11 \
    --root "$ROOT/target/kedro-sfn-images/overlay/root" >"$base_log" 2>&1 &
base_pid=$!
trap 'kill "$build_pid" "$base_pid" 2>/dev/null || true; rm -f "$build_log" "$log" "$base_log"' EXIT

step ".venv/bin/python -m pytest -q python/tests"
status=0
KEDRO_DISABLE_TELEMETRY="${KEDRO_DISABLE_TELEMETRY:-true}" \
    .venv/bin/python -m pytest -q python/tests || status=$?
if [[ $status -eq 5 ]]; then
    die "pytest collected no tests in python/tests"
elif [[ $status -ne 0 ]]; then
    die "pytest failed (exit code $status)"
fi

step "waiting for clippy and the test build"
status=0
wait "$build_pid" || status=$?
cat "$build_log" >&2
[[ $status -eq 0 ]] || die "clippy or the test build failed (exit code $status): clippy's findings or the compiler's errors are above (locally: cargo clippy --all-targets -- -D warnings)"

step "waiting for the base image"
status=0
wait "$base_pid" || status=$?
cat "$base_log" >&2
[[ $status -eq 0 ]] || die "scripts/local-base-image.sh failed (exit code $status): its output is above"

step "cargo test"
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
