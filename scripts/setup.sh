#!/usr/bin/env bash
# Set up what kedro-sfn's tests need beside cargo, in the repository itself:
#   .venv/          Python with Kedro, kedro-datasets, moto, s3fs, pytest
#                   (scripts/requirements-dev.txt) and the example project
#                   examples/spaceflights installed in editable mode
#   node_modules/   asl-validator, aws-local-stepfunctions and mermaid-cli
#                   (package.json; puppeteer's own Chromium is not downloaded: the
#                   tests use Debian's, from scripts/setup-images.sh)
#
# Idempotent and quick when nothing changed: each half writes a stamp named
# after a hash of its inputs and is skipped while that stamp exists.
#
# Environment: PYTHON (default python3, must be >= 3.10), NPM (default npm).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQUIREMENTS="$ROOT/scripts/requirements-dev.txt"
EXAMPLE="$ROOT/examples/spaceflights"
PYTHON="${PYTHON:-python3}"
NPM="${NPM:-npm}"
PIP_VERSION="26.3"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# A short hash of the given files' contents plus any extra words.
fingerprint() {
    local extra="$1"; shift
    { cat "$@"; printf '%s' "$extra"; } | sha256sum | cut -c1-16
}

require_tools() {
    command -v "$PYTHON" >/dev/null 2>&1 \
        || die "$PYTHON not found: install Python >= 3.10 or set PYTHON=/path/to/python3"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "$PYTHON is $("$PYTHON" --version 2>&1); Kedro 1.7 needs Python >= 3.10"
    "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
        || die "$PYTHON cannot create virtual environments (on Debian: apt-get install python3-venv)"
    command -v "$NPM" >/dev/null 2>&1 \
        || die "$NPM not found: install Node.js and npm (on Debian: apt-get install nodejs npm) or set NPM"
}

setup_python() {
    local py_version stamp
    py_version="$("$PYTHON" -c 'import sys; print(sys.version)')"
    stamp="$VENV/.kedro-sfn-setup-$(fingerprint "$py_version" "$REQUIREMENTS" \
        "$EXAMPLE/pyproject.toml" "${BASH_SOURCE[0]}")"
    if [[ -f "$stamp" && -x "$VENV/bin/python" ]]; then
        say "python: up to date ($VENV)"
        return
    fi
    if [[ -x "$VENV/bin/python" ]] \
        && [[ "$("$VENV/bin/python" -c 'import sys; print(sys.version)')" != "$py_version" ]]; then
        say "python: $VENV was made by another Python: removing it"
        rm -rf "$VENV"
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        say "python: creating $VENV with $PYTHON ($("$PYTHON" --version 2>&1))"
        "$PYTHON" -m venv "$VENV"
    fi
    local pip=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input)
    say "python: installing pip $PIP_VERSION"
    "${pip[@]}" install -q "pip==$PIP_VERSION"
    say "python: installing $(realpath --relative-to="$ROOT" "$REQUIREMENTS")"
    "${pip[@]}" install -q -r "$REQUIREMENTS"
    say "python: installing the example project (editable) from $(realpath --relative-to="$ROOT" "$EXAMPLE")"
    "${pip[@]}" install -q --no-deps -e "$EXAMPLE"
    "${pip[@]}" check >&2 || die "pip check found inconsistent requirements in $VENV"
    "$VENV/bin/python" -c 'import kedro, kedro_datasets, moto, s3fs, boto3, pytest, spaceflights' \
        || die "the new virtual environment cannot import what it should"
    local tool
    for tool in maturin twine; do
        [[ -x "$VENV/bin/$tool" ]] || die "$tool is missing from $VENV after installing $REQUIREMENTS"
    done
    rm -f "$VENV"/.kedro-sfn-setup-*
    touch "$stamp"
    say "python: ready ($("$VENV/bin/python" -c 'import kedro; print("kedro", kedro.__version__)'))"
}

setup_node() {
    local stamp_dir="$ROOT/node_modules" stamp lock=()
    [[ -f "$ROOT/package-lock.json" ]] && lock=("$ROOT/package-lock.json")
    stamp="$stamp_dir/.kedro-sfn-setup-$(fingerprint "$("$NPM" --version)" \
        "$ROOT/package.json" "${lock[@]}")"
    if [[ -f "$stamp" && -x "$ROOT/node_modules/.bin/asl-validator" && -x "$ROOT/node_modules/.bin/mmdc" ]]; then
        say "node: up to date ($stamp_dir)"
        return
    fi
    export PUPPETEER_SKIP_DOWNLOAD=1
    if [[ ${#lock[@]} -gt 0 ]]; then
        say "node: npm ci (package-lock.json)"
        (cd "$ROOT" && "$NPM" ci --no-audit --no-fund --loglevel=error)
    else
        say "node: npm install (no package-lock.json yet: writing one)"
        (cd "$ROOT" && "$NPM" install --no-audit --no-fund --loglevel=error)
    fi
    local tool
    for tool in asl-validator mmdc; do
        [[ -x "$ROOT/node_modules/.bin/$tool" ]] \
            || die "npm finished but node_modules/.bin/$tool is missing"
    done
    # Hash again: npm install may just have written the lock file.
    lock=(); [[ -f "$ROOT/package-lock.json" ]] && lock=("$ROOT/package-lock.json")
    rm -f "$stamp_dir"/.kedro-sfn-setup-*
    touch "$stamp_dir/.kedro-sfn-setup-$(fingerprint "$("$NPM" --version)" \
        "$ROOT/package.json" "${lock[@]}")"
    say "node: ready (asl-validator, aws-local-stepfunctions, mermaid-cli)"
}

require_tools
setup_python
setup_node
say "done"
