"""The task handler under the Kedro releases kedro-sfn supports, from 0.19.0 on.

Those releases differ where the handler touches Kedro: ``KedroSession.run`` takes
``pipeline_name`` (0.19 to 1.1) or ``pipeline_names`` (1.2 and later); the session
store keeps runtime params as ``extra_params`` (0.19) or ``runtime_params`` (1.x); the
catalog has a config resolver with one ``match_pattern`` (0.19.9-0.19.x), with
``match_dataset_pattern`` (1.x), or none (0.19.0-0.19.8). Each test runs the handler
in the Python of one Kedro: .venv-kedro-0.19 (Kedro 0.19.12) and .venv-kedro-1.0
(1.0.0), both made by ``bash scripts/setup.sh`` (scripts/requirements-kedro-*.txt),
and .venv (the newest, scripts/requirements-dev.txt). A missing venv fails the test.

The project is the real spaceflights-deep-dive-0.19 (made with Kedro 0.19.12;
/work/shared/real-projects, or ``$KEDRO_SFN_REAL_PROJECTS``), copied into the test's
temp directory. Kedro 1.x refuses a project made with 0.19, so under 1.x the copy is
migrated as Kedro 1.0's release notes say: ``kedro_init_version``, the
``kedro.pipeline.modular_pipeline`` import, ``pipeline(pipe=...)`` -> ``nodes=``. Its
ingestion pipeline runs node by node, one task (one process) each, in dependency
order, with all its data local: each task reads the files the earlier ones wrote.

Run: .venv/bin/python -m pytest python/tests/test_kedro_versions.py (after
``bash scripts/setup.sh``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HANDLER = REPO / "python" / "kedro_sfn_handler.py"
SETUP_HINT = "run `bash scripts/setup.sh` from the repository root"
REAL_PROJECTS = Path(
    os.environ.get("KEDRO_SFN_REAL_PROJECTS", REPO.parent / "shared" / "real-projects")
)
DEEP_DIVE = REAL_PROJECTS / "spaceflights-deep-dive-0.19"

# name -> (venv, the requirements file that pins its Kedro), and what that Kedro's
# session takes: session.run's pipeline keyword, the store's key for runtime params.
KEDROS = {
    "kedro-0.19": (".venv-kedro-0.19", "scripts/requirements-kedro-0.19.txt",
                   "pipeline_name", "extra_params"),
    "kedro-1.0": (".venv-kedro-1.0", "scripts/requirements-kedro-1.0.txt",
                  "pipeline_name", "runtime_params"),
    "kedro-newest": (".venv", "scripts/requirements-dev.txt",
                     "pipeline_names", "runtime_params"),
}

START, VERSION = "2026-11-27T19:08:38.123Z", "2026-11-27T19.08.38.123Z"
# Runtime params of the execution: reviews_per_month is a float in the project's
# parameters; review_scores_rating becomes one only when the params reach Kedro.
PARAMS = {
    "ingestion.typing.reviews.columns_as_floats": ["reviews_per_month", "review_scores_rating"],
}
# The ingestion pipeline, in dependency order: node -> (datasets saved, files written).
INGESTION = [
    ("ingestion.apply_types_to_companies", ["ingestion.int_typed_companies"],
     ["data/02_intermediate/typed_companies.pq"]),
    ("ingestion.apply_types_to_shuttles", ["ingestion.int_typed_shuttles@pandas1"],
     ["data/02_intermediate/typed_shuttles.pq"]),
    ("ingestion.apply_types_to_reviews", ["ingestion.int_typed_reviews"],
     ["data/02_intermediate/typed_reviews.pq"]),
    ("ingestion.company_agg", ["ingestion.prm_agg_companies"],
     ["data/02_intermediate/prm_agg_companies.pq"]),
    ("ingestion.combine_step", ["prm_shuttle_company_reviews", "prm_spine_table"],
     ["data/03_primary/prm_shuttle_company_reviews.pq", "data/03_primary/prm_spine_table.pq"]),
]

sys.path.insert(0, str(HANDLER.parent))
import kedro_sfn_handler as handler_module  # noqa: E402


# ------------------------------------------------------------------- helpers


def pinned_kedro(requirements: str) -> str:
    found = re.search(r"(?m)^kedro==(\S+)", (REPO / requirements).read_text())
    assert found, f"{requirements} pins no kedro==VERSION"
    return found.group(1)


@pytest.fixture(params=sorted(KEDROS))
def kedro(request) -> dict:
    """One Kedro: its venv's python (missing: the test fails), version and session facts."""
    venv, requirements, keyword, params_key = KEDROS[request.param]
    python = REPO / venv / "bin" / "python"
    if not python.exists():
        pytest.fail(
            f"{venv}/ (Kedro {pinned_kedro(requirements)}, {requirements}) is missing: "
            f"{SETUP_HINT}", pytrace=False,
        )
    version = subprocess.run(
        [str(python), "-c", "import kedro; print(kedro.__version__)"],
        capture_output=True, text=True, timeout=120,
    )
    assert version.returncode == 0, f"{python} cannot import kedro:\n{version.stderr[-3000:]}"
    pinned = pinned_kedro(requirements)
    if version.stdout.strip() != pinned:
        pytest.fail(f"{venv}/ has Kedro {version.stdout.strip()}, {requirements} pins {pinned}: "
                    f"{SETUP_HINT}", pytrace=False)
    return {"python": python, "version": pinned, "keyword": keyword, "params_key": params_key}


def task_environment(project: Path) -> dict:
    """The environment of a task process: the project, telemetry off, nothing of the
    caller's AWS_*, KEDRO_* or Python environment."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("AWS_", "KEDRO_"))
        and k not in ("LAMBDA_TASK_ROOT", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }
    env.update(KEDRO_SFN_PROJECT_DIR=str(project), KEDRO_DISABLE_TELEMETRY="true")
    return env


def deep_dive_copy(tmp_path: Path, kedro_version: str) -> Path:
    """spaceflights-deep-dive-0.19, copied (no notebooks) and writable; migrated for Kedro 1.x."""
    if not DEEP_DIVE.is_dir():
        pytest.fail(
            f"the project {DEEP_DIVE} is missing: it is kedro-org/kedro-academy's "
            f"kedro-deep-dive/spaceflights (made with Kedro 0.19.12); set "
            f"KEDRO_SFN_REAL_PROJECTS to the directory that holds it", pytrace=False,
        )
    target = tmp_path / "spaceflights-deep-dive"
    shutil.copytree(DEEP_DIVE, target, ignore=shutil.ignore_patterns(
        "__pycache__", "*.egg-info", "notebooks", "*.ipynb", ".ipynb_checkpoints",
    ))
    for path in [target, *target.rglob("*")]:  # the shared projects are read-only files
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    if int(kedro_version.split(".")[0]) >= 1:
        migrate_to_kedro_1(target, kedro_version)
    return target


def migrate_to_kedro_1(project: Path, kedro_version: str) -> None:
    """What Kedro 1.0's release notes ask of a 0.19 project (as this one uses Kedro)."""
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    migrated = re.sub(r'(?m)^kedro_init_version = ".*"$',
                      f'kedro_init_version = "{kedro_version}"', text)
    assert migrated != text, "no kedro_init_version in the project's pyproject.toml"
    pyproject.write_text(migrated)
    changed = []
    for module in sorted((project / "src").rglob("*.py")):
        code = module.read_text()
        new = code.replace("from kedro.pipeline.modular_pipeline import pipeline",
                           "from kedro.pipeline import pipeline")
        new = re.sub(r"\bpipe=", "nodes=", new)
        if new != code:
            module.write_text(new)
            changed.append(module.relative_to(project).as_posix())
    assert "src/spaceflights/pipelines/data_ingestion/pipeline.py" in changed, changed


def run_task(python: Path, project: Path, cwd: Path, nodes: list, task: str,
             execution_input: dict | None = None) -> tuple[dict, str]:
    """One task in its own process (``<venv python> kedro_sfn_handler.py < event``): the
    summary, which must be the one line of stdout, and stderr. The execution input is the
    runtime params unless given."""
    execution_input = {"params": PARAMS} if execution_input is None else execution_input
    event = {
        "task": task, "nodes": nodes, "pipeline": "data_ingestion",
        "execution": {"Name": "kedro-versions", "StartTime": START, "Input": execution_input},
    }
    result = subprocess.run(
        [str(python), str(HANDLER)], input=json.dumps(event), capture_output=True, text=True,
        env=task_environment(project), cwd=cwd, timeout=300,
    )
    assert result.returncode == 0, f"{task} ({python}):\n{result.stderr[-6000:]}"
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"stdout must be one JSON line, got:\n{result.stdout[:2000]}"
    return json.loads(lines[0]), result.stderr


def run_in(python: Path, source: str, *args: str, env: dict | None = None) -> dict:
    """``source`` run by ``python`` (with the handler importable); the JSON it writes
    to the file given as its first argument (stdout is Kedro's logging's)."""
    out = Path(args[0])
    result = subprocess.run(
        [str(python), "-c", source, *args], capture_output=True, text=True,
        env=env, cwd=out.parent, timeout=300,
    )
    assert result.returncode == 0, f"{python}:\n{result.stderr[-6000:]}"
    return json.loads(out.read_text())


# --------------------------------------------------------------------- tests


def test_the_ingestion_pipeline_runs_node_by_node(kedro, tmp_path):
    project = deep_dive_copy(tmp_path, kedro["version"])
    every_file = [f for _, _, files in INGESTION for f in files]
    assert not any((project / f).exists() for f in every_file)

    for index, (node, saved, files) in enumerate(INGESTION):
        task = node.split(".")[-1]
        summary, stderr = run_task(kedro["python"], project, tmp_path, [node], task)
        assert summary["task"] == task
        assert summary["nodes"] == [node]
        assert summary["datasets_saved"] == saved
        assert summary["save_version"] == VERSION
        assert f"project runs from {project.resolve()}" in stderr  # writable: no temp copy
        written = [f for f in files if (project / f).is_file()]
        assert written == files, f"{node} wrote {written} of {files}"
        later = [f for _, _, fs in INGESTION[index + 1:] for f in fs if (project / f).exists()]
        assert later == [], f"{node} wrote what later nodes write: {later}"

    # The execution's params reached Kedro (0.19 reads them from the store's
    # extra_params): review_scores_rating was made a float.
    schema = run_in(kedro["python"], (
        "import json, sys, pyarrow.parquet as pq\n"
        "s = pq.read_schema(sys.argv[2])\n"
        "json.dump({n: str(s.field(n).type) for n in s.names}, open(sys.argv[1], 'w'))\n"
    ), str(tmp_path / "schema.json"), str(project / "data/02_intermediate/typed_reviews.pq"))
    assert schema["review_scores_rating"] == "double"
    assert schema["reviews_per_month"] == "double"
    assert schema["number_of_reviews"] == "int64"


def test_a_resumed_run_skips_what_succeeded_and_saves_under_the_failed_runs_version(
        kedro, tmp_path):
    """`execute --resume`'s input under this Kedro: a task that succeeded in the failed run
    returns at once, writing nothing; one that runs saves under the failed run's version;
    a param no node of the pipeline reads is named in the log."""
    project = deep_dive_copy(tmp_path, kedro["version"])
    (first, _, first_files), (second, saved, second_files) = INGESTION[0], INGESTION[1]
    resume = {"execution": "failed-run", "start_time": "2026-11-20T10:00:00.500Z",
              "skip": [first.split(".")[-1]]}
    execution_input = {"params": {**PARAMS, "no_such_param": 1}, "resume": resume}
    summary, _ = run_task(kedro["python"], project, tmp_path, [first],
                          first.split(".")[-1], execution_input)
    assert summary["skipped"] is True and summary["nodes"] == []
    assert not any((project / f).exists() for f in first_files)
    summary, stderr = run_task(kedro["python"], project, tmp_path, [second],
                               second.split(".")[-1], execution_input)
    assert summary["nodes"] == [second] and summary["datasets_saved"] == saved
    assert summary["save_version"] == "2026-11-20T10.00.00.500Z"
    assert all((project / f).is_file() for f in second_files)
    assert "the runtime param 'no_such_param' is read by no node" in stderr


SESSION_FACTS = """
import json, sys
sys.path.insert(0, sys.argv[2])
import kedro
from kedro.framework.session import KedroSession
import kedro_sfn_handler as h
json.dump({
    "kedro": kedro.__version__,
    "argument": h.pipeline_argument(KedroSession.run, "data_ingestion"),
    "params_key": h.params_store_key(KedroSession),
}, open(sys.argv[1], "w"))
"""


def test_session_run_gets_the_pipeline_keyword_of_its_kedro(kedro, tmp_path):
    # Before the handler looked at the signature, it always passed pipeline_names
    # (Kedro 0.19 and 1.0 fail: "unexpected keyword argument") and put params under
    # runtime_params (Kedro 0.19 ignores them).
    facts = run_in(kedro["python"], SESSION_FACTS, str(tmp_path / "facts.json"),
                   str(HANDLER.parent), env=task_environment(tmp_path))
    assert facts["kedro"] == kedro["version"]
    expected = ["data_ingestion"] if kedro["keyword"] == "pipeline_names" else "data_ingestion"
    assert facts["argument"] == {kedro["keyword"]: expected}
    assert facts["params_key"] == kedro["params_key"]


CATALOG_LOOKUP = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import kedro_sfn_handler as h
project = Path(sys.argv[3])
h.prepare_process(project)
h.bootstrap(project)
names = sys.argv[4:]
with h.open_session(project, "2026-11-27T19.08.38.123Z", None, {}) as session:
    context = session.load_context()
    lookup = h.catalog_lookup(context.catalog, context)
    found = {}
    for name in names:
        match, config = lookup(name)
        found[name] = [match, (config or {}).get("filepath"), bool((config or {}).get("versioned"))]
    versioned = h.versioned_datasets(context.catalog, names, context)
json.dump({"found": found, "versioned": versioned}, open(sys.argv[1], "w"))
"""


def test_catalog_lookup_reads_entries_and_patterns_of_its_kedro(kedro, tmp_path):
    # What make_outputs_writable and versioned_datasets see: paths made absolute
    # (under the project), the versioned flag, patterns resolved, unknown names None.
    project = deep_dive_copy(tmp_path, kedro["version"]).resolve()
    data = project / "data"
    expected = {
        "companies": ["entry", f"{data}/01_raw/companies.csv", False],
        "ingestion.int_typed_shuttles@pandas2":
            ["entry", f"{data}/02_intermediate/typed_shuttles.pq", False],
        "feature_engineering.feat_static_metrics":
            ["pattern", f"{data}/04_feature/feat_static_metrics.pq", False],
        "train_evaluation.linear_regression.regressor":
            ["entry", f"{data}/06_models/linear_regression.pkl", True],
        "reporting.price_histogram": ["entry", f"{data}/08_reporting/price_histogram.json", True],
        "ingestion.no_such_dataset": [None, None, False],
    }
    result = run_in(
        kedro["python"], CATALOG_LOOKUP, str(tmp_path / "lookup.json"), str(HANDLER.parent),
        str(project), *expected, env=task_environment(project),
    )
    assert result["found"] == expected
    assert result["versioned"] == [
        "train_evaluation.linear_regression.regressor", "reporting.price_histogram",
    ]


# -------------------------------------------------- the newest Kedro, in-process


def test_pipeline_argument_follows_the_signature_not_the_version():
    import kedro

    def run_1_2(self, pipeline_names=None, node_names=None, load_versions=None):
        """Kedro >= 1.2."""

    def run_0_19(self, pipeline_name=None, node_names=None, load_versions=None):
        """Kedro 0.19.0 to 1.1."""

    def run_unknown(self, pipelines=None, node_names=None, load_versions=None):
        """Neither."""

    assert handler_module.pipeline_argument(run_1_2, "p") == {"pipeline_names": ["p"]}
    assert handler_module.pipeline_argument(run_0_19, "p") == {"pipeline_name": "p"}
    with pytest.raises(handler_module.UnsupportedKedro) as raised:
        handler_module.pipeline_argument(run_unknown, "p")
    message = str(raised.value)
    assert f"Kedro {kedro.__version__} is not supported" in message
    assert "0.19.0 and later" in message


def test_params_store_key_follows_kedro_session_create():
    class Session019:
        @classmethod
        def create(cls, project_path=None, save_on_close=True, env=None, extra_params=None,
                   conf_source=None):
            """Kedro 0.19."""

    class Session1:
        @classmethod
        def create(cls, project_path=None, save_on_close=True, env=None, runtime_params=None,
                   conf_source=None):
            """Kedro 1.x."""

    assert handler_module.params_store_key(Session019) == "extra_params"
    assert handler_module.params_store_key(Session1) == "runtime_params"


def test_a_catalog_without_resolver_needs_the_context():
    class Catalog0198:  # Kedro 0.19.0-0.19.8: no config_resolver
        _dataset_patterns: dict = {}

    with pytest.raises(TypeError, match="pass the context"):
        handler_module.catalog_lookup(Catalog0198())
