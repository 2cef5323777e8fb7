#!/usr/bin/env bash
# Set up what kedro-sfn's tests need beside cargo, in the repository itself:
#   .venv/          Python with Kedro, kedro-datasets, moto, s3fs, pytest
#                   (scripts/requirements-dev.txt) and the example project
#                   examples/spaceflights installed in editable mode
#   .venv-kedro-0.19/, .venv-kedro-1.0/
#                   older Kedro releases (0.19.12, 1.0.0) with what the real project
#                   spaceflights-deep-dive-0.19 needs (scripts/requirements-kedro-*.txt),
#                   for python/tests/test_kedro_versions.py: the task handler under them
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
# The older Kedro environments: directory (under the repository) = requirements file.
OLD_KEDRO_VENVS=(
    ".venv-kedro-0.19=scripts/requirements-kedro-0.19.txt"
    ".venv-kedro-1.0=scripts/requirements-kedro-1.0.txt"
)

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

# One older Kedro environment ($1: its directory, $2: its requirements file, both relative
# to the repository), with the same stamp scheme as setup_python.
setup_old_kedro() {
    local venv="$ROOT/$1" requirements="$ROOT/$2" py_version stamp kedro_version
    [[ -f "$requirements" ]] || die "$2 is missing (the pins of $1)"
    kedro_version="$(sed -n 's/^kedro==\([^[:space:]]*\).*/\1/p' "$requirements")"
    [[ -n "$kedro_version" ]] || die "$2 pins no kedro==VERSION"
    py_version="$("$PYTHON" -c 'import sys; print(sys.version)')"
    stamp="$venv/.kedro-sfn-setup-$(fingerprint "$py_version $PIP_VERSION" "$requirements" \
        "${BASH_SOURCE[0]}")"
    if [[ -f "$stamp" && -x "$venv/bin/python" ]]; then
        say "kedro $kedro_version: up to date ($venv)"
        return
    fi
    if [[ -x "$venv/bin/python" ]] \
        && [[ "$("$venv/bin/python" -c 'import sys; print(sys.version)')" != "$py_version" ]]; then
        say "kedro $kedro_version: $venv was made by another Python: removing it"
        rm -rf "$venv"
    fi
    if [[ ! -x "$venv/bin/python" ]]; then
        say "kedro $kedro_version: creating $venv with $PYTHON ($("$PYTHON" --version 2>&1))"
        "$PYTHON" -m venv "$venv" || die "could not create $venv"
    fi
    local pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input)
    "${pip[@]}" install -q "pip==$PIP_VERSION" || die "could not install pip $PIP_VERSION into $venv"
    say "kedro $kedro_version: installing $2"
    "${pip[@]}" install -q -r "$requirements" \
        || die "installing $2 into $venv failed (its pins were checked together on Python 3.11)"
    "${pip[@]}" check >&2 || die "pip check found inconsistent requirements in $venv"
    "$venv/bin/python" -c 'import kedro, kedro_datasets, pandas, pyarrow, openpyxl, sklearn' \
        || die "$venv cannot import what $2 installs"
    local found
    found="$("$venv/bin/python" -c 'import kedro; print(kedro.__version__)')"
    [[ "$found" == "$kedro_version" ]] || die "$venv has kedro $found, $2 pins $kedro_version"
    rm -f "$venv"/.kedro-sfn-setup-*
    touch "$stamp"
    say "kedro $kedro_version: ready ($venv)"
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
for old in "${OLD_KEDRO_VENVS[@]}"; do
    setup_old_kedro "${old%%=*}" "${old#*=}"
done
setup_node
say "done"
