#!/usr/bin/env bash
# The main job on local defaults: plan the bundled example project.
#
#   1. scripts/setup.sh                      .venv with Kedro and the example installed
#   2. examples/spaceflights/scripts/make_data.py, if the raw data is missing
#      (writes examples/spaceflights/data/01_raw/{companies,shuttles,reviews}.csv)
#   3. kedro-sfn plan --project examples/spaceflights --python .venv/bin/python
#                     --out out/spaceflights-plan
#      which reads examples/spaceflights/kedro-sfn.yml when present
#   4. prints where the three files are and shows summary.md
#
# TODO(deploy): once `kedro-sfn deploy` exists this script will start a local moto
# server on a free port and deploy the plan to it instead of stopping at the plan.
#
# Runs from any directory. Environment: PYTHON and NPM are passed on to setup.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

EXAMPLE="examples/spaceflights"
OUT="out/spaceflights-plan"
RAW="$EXAMPLE/data/01_raw"

step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null 2>&1 \
    || die "cargo not found: install the Rust toolchain with rustup (https://rustup.rs)"

export KEDRO_DISABLE_TELEMETRY="${KEDRO_DISABLE_TELEMETRY:-true}"

step "bash scripts/setup.sh"
bash scripts/setup.sh

if [[ -f "$RAW/companies.csv" && -f "$RAW/shuttles.csv" && -f "$RAW/reviews.csv" ]]; then
    step "raw data present in $RAW"
else
    step ".venv/bin/python $EXAMPLE/scripts/make_data.py"
    .venv/bin/python "$EXAMPLE/scripts/make_data.py"
fi

if [[ ! -f "$EXAMPLE/kedro-sfn.yml" && ! -f "$EXAMPLE/kedro-sfn.yaml" ]]; then
    printf 'demo: note: %s has no kedro-sfn.yml, so Kedro'\''s default env is planned;\n' "$EXAMPLE" >&2
    printf 'demo: note: its datasets are local files, which the checks refuse (use env: aws).\n' >&2
fi

# No stale results: a summary.md left after a failure is this run's refusal.
rm -f "$OUT/state-machine.asl.json" "$OUT/plan.json" "$OUT/summary.md"

step "cargo run --quiet -- plan --project $EXAMPLE --python .venv/bin/python --out $OUT"
status=0
cargo run --quiet -- plan --project "$EXAMPLE" --python .venv/bin/python --out "$OUT" \
    || status=$?

if [[ $status -ne 0 ]]; then
    # A refused plan still writes summary.md, saying why.
    if [[ -f "$OUT/summary.md" ]]; then
        step "$OUT/summary.md (the plan was refused)"
        cat "$OUT/summary.md"
    fi
    die "kedro-sfn plan failed (exit code $status)"
fi

step "wrote"
for file in state-machine.asl.json plan.json summary.md; do
    [[ -f "$OUT/$file" ]] || die "kedro-sfn plan succeeded but $OUT/$file is missing"
    printf '  %s\n' "$ROOT/$OUT/$file"
done

step "$OUT/summary.md"
cat "$OUT/summary.md"
