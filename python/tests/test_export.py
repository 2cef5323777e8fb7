"""Tests of python/kedro_sfn_export.py against the real example project and real Kedro.

The exporter runs in a subprocess exactly as the kedro-sfn binary runs it
(``PYTHON -c <source> --project DIR --pipeline NAME [--env ENV]``), with the
Python that runs these tests (the repo's .venv, where Kedro and the example
project are installed by scripts/setup.sh). Variants of the project (extra
catalog entries, credentials, a syntax error) are temporary copies.

Run: .venv/bin/python -m pytest python/tests
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXPORTER = REPO / "python" / "kedro_sfn_export.py"
EXAMPLE = REPO / "examples" / "spaceflights"
NS = "active_modelling_pipeline"

sys.path.insert(0, str(EXPORTER.parent))
import kedro_sfn_export as exporter  # noqa: E402  (pure helpers, unit-tested below)

# The example's nodes in the order Kedro gives them (its topological order).
EXPECTED_NODES = [
    "preprocess_companies_node",
    "preprocess_shuttles_node",
    "create_model_input_table_node",
    "summarize_passenger_capacity_node",
    f"{NS}.split_data_node",
    f"{NS}.train_model_node",
    f"{NS}.evaluate_model_node",
]
EXPECTED_DATASETS = {
    "companies",
    "reviews",
    "shuttles",
    "preprocessed_companies",
    "preprocessed_shuttles",
    "model_input_table",
    "shuttle_passenger_capacity",
    f"{NS}.X_train",
    f"{NS}.X_test",
    f"{NS}.y_train",
    f"{NS}.y_test",
    f"{NS}.regressor",
    f"{NS}.metrics",
}


# ----------------------------------------------------------------- helpers


def run_export(
    project: Path,
    *args: str,
    python: list[str] | None = None,
    as_file: bool = False,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run the exporter as the binary does (``-c SOURCE``), or as a file."""
    env = {k: v for k, v in os.environ.items() if k != "KEDRO_ENV"}
    env["KEDRO_DISABLE_TELEMETRY"] = "true"
    env.update(extra_env or {})
    program = [str(EXPORTER)] if as_file else ["-c", EXPORTER.read_text()]
    command = [*(python or [sys.executable]), *program, "--project", str(project), *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=project, timeout=180
    )


def export_ok(project: Path, *args: str, **kwargs) -> dict:
    """Export and parse; fail with the exporter's stderr when it did not succeed."""
    result = run_export(project, *args, **kwargs)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def copy_project(tmp_path: Path) -> Path:
    """A throw-away copy of the example (no data, no build leftovers)."""
    target = tmp_path / "spaceflights"
    shutil.copytree(
        EXAMPLE,
        target,
        ignore=shutil.ignore_patterns("data", "*.egg-info", "__pycache__"),
    )
    return target


def node_by_name(doc: dict, name: str) -> dict:
    return next(n for n in doc["nodes"] if n["name"] == name)


@pytest.fixture(scope="module")
def aws_run() -> subprocess.CompletedProcess:
    return run_export(EXAMPLE, "--env", "aws", "--pipeline", "__default__")


@pytest.fixture(scope="module")
def aws_doc(aws_run) -> dict:
    assert aws_run.returncode == 0, aws_run.stderr[-3000:]
    return json.loads(aws_run.stdout)


@pytest.fixture(scope="module")
def base_doc() -> dict:
    return export_ok(EXAMPLE, "--pipeline", "__default__")


# ------------------------------------------------------------- the document


def test_stdout_is_exactly_one_json_document_while_kedro_logs(aws_run):
    assert aws_run.returncode == 0, aws_run.stderr[-3000:]
    doc = json.loads(aws_run.stdout)  # fails on any stray output
    assert aws_run.stdout == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    # Kedro did log (to stderr), it just never reached stdout.
    assert "logging" in aws_run.stderr or "INFO" in aws_run.stderr


def test_document_header(aws_doc):
    import kedro

    assert aws_doc["format"] == "kedro-sfn/pipeline@1"
    assert aws_doc["project"] == {
        "name": "spaceflights",
        "package": "spaceflights",
        "kedro_version": kedro.__version__,
    }
    assert aws_doc["env"] == "aws"
    assert aws_doc["pipeline"] == "__default__"
    assert aws_doc["pipelines"] == ["__default__", "data_processing", "data_science", "reporting"]
    assert list(aws_doc) == [
        "format", "project", "env", "pipeline", "pipelines", "nodes", "datasets"
    ]


def test_nodes_in_topological_order(aws_doc):
    assert [n["name"] for n in aws_doc["nodes"]] == EXPECTED_NODES
    produced: set[str] = set()
    all_outputs = {o for n in aws_doc["nodes"] for o in n["outputs"]}
    for node in aws_doc["nodes"]:
        for name in node["inputs"]:
            assert name not in all_outputs or name in produced, (node["name"], name)
        produced.update(node["outputs"])


def test_node_fields_are_exactly_these(aws_doc):
    for node in aws_doc["nodes"]:
        assert list(node) == ["name", "func", "inputs", "outputs", "tags", "namespace"]


def test_plain_node(aws_doc):
    node = node_by_name(aws_doc, "create_model_input_table_node")
    assert node == {
        "name": "create_model_input_table_node",
        "func": "spaceflights.pipelines.data_processing.nodes.create_model_input_table",
        "inputs": ["preprocessed_shuttles", "preprocessed_companies", "reviews"],
        "outputs": ["model_input_table"],
        "tags": [],
        "namespace": None,
    }


def test_namespaced_nodes_keep_kedro_names_and_mapped_params(aws_doc):
    split = node_by_name(aws_doc, f"{NS}.split_data_node")
    assert split["namespace"] == NS
    assert split["func"] == "spaceflights.pipelines.data_science.nodes.split_data"
    # The input and the parameters are mapped out of the namespace; outputs are not.
    assert split["inputs"] == ["model_input_table", "params:model_options"]
    assert split["outputs"] == [f"{NS}.X_train", f"{NS}.X_test", f"{NS}.y_train", f"{NS}.y_test"]
    evaluate = node_by_name(aws_doc, f"{NS}.evaluate_model_node")
    assert evaluate["inputs"] == [f"{NS}.regressor", f"{NS}.X_test", f"{NS}.y_test"]
    assert evaluate["outputs"] == [f"{NS}.metrics"]
    assert {n["namespace"] for n in aws_doc["nodes"] if n["name"].startswith(NS)} == {NS}
    assert node_by_name(aws_doc, "summarize_passenger_capacity_node")["namespace"] is None


def test_tags_are_sorted_and_include_pipeline_tags(aws_doc):
    assert node_by_name(aws_doc, f"{NS}.train_model_node")["tags"] == ["data_science", "training"]
    assert node_by_name(aws_doc, "preprocess_shuttles_node")["tags"] == ["preprocessing"]
    assert node_by_name(aws_doc, "summarize_passenger_capacity_node")["tags"] == ["reporting"]


# ---------------------------------------------------------------- datasets


def test_every_dataset_of_the_nodes_and_no_parameters(aws_doc):
    assert set(aws_doc["datasets"]) == EXPECTED_DATASETS
    assert list(aws_doc["datasets"]) == sorted(aws_doc["datasets"])


def test_env_aws_puts_every_dataset_on_s3(aws_doc):
    for name, dataset in aws_doc["datasets"].items():
        assert list(dataset) == ["type", "filepath", "versioned"], name
        assert dataset["filepath"].startswith("s3://kedro-sfn-spaceflights/"), name


def test_factory_patterns_are_resolved_by_kedro(aws_doc):
    datasets = aws_doc["datasets"]
    # "preprocessed_{table}"
    assert datasets["preprocessed_companies"] == {
        "type": "pandas.CSVDataset",
        "filepath": "s3://kedro-sfn-spaceflights/02_intermediate/preprocessed_companies.csv",
        "versioned": False,
    }
    # "{namespace}.{name}"
    assert datasets[f"{NS}.X_train"] == {
        "type": "pandas.CSVDataset",
        "filepath": f"s3://kedro-sfn-spaceflights/05_model_input/{NS}/X_train.csv",
        "versioned": False,
    }
    # the more specific "{namespace}.metrics" wins over "{namespace}.{name}"
    assert datasets[f"{NS}.metrics"]["type"] == "json.JSONDataset"
    assert datasets[f"{NS}.metrics"]["filepath"].endswith(f"/08_reporting/{NS}/metrics.json")


def test_the_model_and_its_metrics_are_the_versioned_datasets(aws_doc, base_doc):
    for doc in (aws_doc, base_doc):
        versioned = [name for name, d in doc["datasets"].items() if d["versioned"]]
        assert versioned == [f"{NS}.metrics", f"{NS}.regressor"]
        assert doc["datasets"][f"{NS}.regressor"]["type"] == "pickle.PickleDataset"


def test_default_env_is_null_with_project_relative_local_paths(base_doc):
    assert base_doc["env"] is None
    assert set(base_doc["datasets"]) == EXPECTED_DATASETS
    assert base_doc["datasets"]["companies"] == {
        "type": "pandas.CSVDataset",
        "filepath": "data/01_raw/companies.csv",
        "versioned": False,
    }
    assert base_doc["datasets"][f"{NS}.regressor"]["filepath"] == (
        f"data/06_models/{NS}/regressor.pickle"
    )
    for dataset in base_doc["datasets"].values():
        assert dataset["filepath"].startswith("data/")


def test_kedro_env_variable_counts_as_the_env():
    doc = export_ok(EXAMPLE, "--pipeline", "reporting", extra_env={"KEDRO_ENV": "aws"})
    assert doc["env"] == "aws"
    assert doc["datasets"]["preprocessed_shuttles"]["filepath"].startswith("s3://")


def test_one_pipeline_exports_its_nodes_and_their_datasets_only():
    doc = export_ok(EXAMPLE, "--env", "aws", "--pipeline", "data_science")
    assert [n["name"] for n in doc["nodes"]] == EXPECTED_NODES[-3:]
    assert "model_input_table" in doc["datasets"]
    assert "companies" not in doc["datasets"]
    assert doc["pipelines"] == ["__default__", "data_processing", "data_science", "reporting"]


def test_missing_pipeline_gives_empty_document_and_the_registered_names():
    result = run_export(EXAMPLE, "--env", "aws", "--pipeline", "no_such_pipeline")
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(result.stdout)
    assert doc["pipeline"] == "no_such_pipeline"
    assert doc["nodes"] == []
    assert doc["datasets"] == {}
    assert "data_science" in doc["pipelines"]


def test_runs_as_a_file_too():
    doc = export_ok(EXAMPLE, "--env", "aws", "--pipeline", "reporting", as_file=True)
    assert [n["name"] for n in doc["nodes"]] == ["summarize_passenger_capacity_node"]


# --------------------------------------------- catalog variants (tmp copies)

SECRET_KEY = "AKIASECRETKEYID12345"
SECRET = "wJalrXUtnFEMI-very-secret"

CREDENTIALS_CATALOG = """
companies:
  type: pandas.CSVDataset
  filepath: s3://{key}:{secret}@kedro-sfn-spaceflights/01_raw/companies.csv
  credentials: dev_s3
  fs_args:
    client_kwargs:
      aws_secret_access_key: {secret}

"preprocessed_{{table}}":
  type: pandas.CSVDataset
  filepath: s3://kedro-sfn-spaceflights/02_intermediate/{{table}}.csv
  credentials: dev_s3
"""

CREDENTIALS_YML = """
dev_s3:
  key: {key}
  secret: {secret}
"""


def test_credentials_never_leave_the_exporter(tmp_path):
    project = copy_project(tmp_path)
    env_dir = project / "conf" / "creds"
    env_dir.mkdir()
    (env_dir / "catalog.yml").write_text(CREDENTIALS_CATALOG.format(key=SECRET_KEY, secret=SECRET))
    (env_dir / "credentials.yml").write_text(CREDENTIALS_YML.format(key=SECRET_KEY, secret=SECRET))

    result = run_export(project, "--env", "creds", "--pipeline", "__default__")
    assert result.returncode == 0, result.stderr[-3000:]
    assert SECRET not in result.stdout
    assert SECRET_KEY not in result.stdout
    doc = json.loads(result.stdout)
    assert doc["datasets"]["companies"] == {
        "type": "pandas.CSVDataset",
        "filepath": "s3://kedro-sfn-spaceflights/01_raw/companies.csv",
        "versioned": False,
    }
    assert doc["datasets"]["preprocessed_shuttles"]["filepath"] == (
        "s3://kedro-sfn-spaceflights/02_intermediate/shuttles.csv"
    )
    for dataset in doc["datasets"].values():
        assert set(dataset) <= {"type", "filepath", "versioned", "default"}


# conf/local (Kedro's default run env) overrides these base entries.
LOCAL_CATALOG = """
model_input_table:
  type: kedro_datasets.pandas.csv_dataset.CSVDataset
  filepath: data/03_primary/model_input_table.csv

preprocessed_companies:
  type: MemoryDataset

preprocessed_shuttles:
  type: partitions.PartitionedDataset
  path: s3://kedro-sfn-spaceflights/02_intermediate/shuttles/
  dataset: pandas.CSVDataset
"""


def test_unmatched_datasets_are_default_memory_and_types_are_short(tmp_path):
    project = copy_project(tmp_path)
    catalog = project / "conf" / "base" / "catalog.yml"
    text = catalog.read_text()
    # Drop the reporting output's entry: nothing matches it any more.
    entry = (
        "shuttle_passenger_capacity:\n  type: pandas.CSVDataset\n"
        "  filepath: data/08_reporting/shuttle_passenger_capacity.csv\n"
    )
    assert entry in text
    catalog.write_text(text.replace(entry, ""))
    (project / "conf" / "local" / "catalog.yml").write_text(LOCAL_CATALOG)

    doc = export_ok(project, "--pipeline", "__default__")
    datasets = doc["datasets"]
    assert datasets["shuttle_passenger_capacity"] == {
        "type": "kedro.io.MemoryDataset",
        "filepath": None,
        "versioned": False,
        "default": True,
    }
    assert datasets["model_input_table"]["type"] == "pandas.CSVDataset"
    # An explicit MemoryDataset entry is not a default one.
    assert datasets["preprocessed_companies"] == {
        "type": "kedro.io.MemoryDataset",
        "filepath": None,
        "versioned": False,
    }
    # Datasets whose location key is "path" (explicit entries beat patterns).
    assert datasets["preprocessed_shuttles"] == {
        "type": "partitions.PartitionedDataset",
        "filepath": "s3://kedro-sfn-spaceflights/02_intermediate/shuttles/",
        "versioned": False,
    }


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize("raise_errors", [True, False], ids=["raise_errors", "warn_only"])
def test_syntax_error_in_a_pipeline_module_exits_3(tmp_path, raise_errors):
    project = copy_project(tmp_path)
    module = project / "src" / "spaceflights" / "pipelines" / "data_science" / "pipeline.py"
    module.write_text(module.read_text() + "\ndef broken(:\n")
    if not raise_errors:  # find_pipelines() then only warns; the exporter must not
        registry = project / "src" / "spaceflights" / "pipeline_registry.py"
        registry.write_text(
            registry.read_text().replace("find_pipelines(raise_errors=True)", "find_pipelines()")
        )

    result = run_export(project, "--env", "aws", "--pipeline", "__default__")
    assert result.returncode == 3
    assert result.stdout == ""
    assert (
        f"kedro-sfn export: could not load the Kedro project at {project.resolve()}: "
        in result.stderr
    )
    assert "spaceflights.pipelines.data_science" in result.stderr
    assert "SyntaxError" in result.stderr
    assert "data_science/pipeline.py" in result.stderr
    assert "hint: check that the project's dependencies are installed" in result.stderr
    # What the Rust side shows (the last 20 non-empty lines) holds all of it.
    tail = [line for line in result.stderr.splitlines() if line.strip()][-20:]
    assert any(line.startswith("kedro-sfn export: could not load") for line in tail)
    assert any("SyntaxError: invalid syntax" in line for line in tail)
    assert tail[-1].startswith("hint:")


def test_missing_dependency_exits_3(tmp_path):
    project = copy_project(tmp_path)
    module = project / "src" / "spaceflights" / "pipelines" / "reporting" / "pipeline.py"
    module.write_text("import no_such_module_kedro_sfn\n" + module.read_text())
    result = run_export(project, "--pipeline", "__default__")
    assert result.returncode == 3
    assert result.stdout == ""
    assert "caused by ModuleNotFoundError: No module named 'no_such_module_kedro_sfn'" in (
        result.stderr
    )
    assert "--python" in result.stderr


def test_not_a_kedro_project_exits_3(tmp_path):
    result = run_export(tmp_path, "--pipeline", "__default__")
    assert result.returncode == 3
    assert "could not load the Kedro project" in result.stderr
    assert "pyproject.toml" in result.stderr


def test_unknown_env_exits_3():
    result = run_export(EXAMPLE, "--env", "no_such_env", "--pipeline", "no_such_pipeline")
    assert result.returncode == 3
    assert "no_such_env" in result.stderr


def test_unknown_argument_exits_2():
    result = run_export(EXAMPLE, "--pipeline", "__default__", "--bogus")
    assert result.returncode == 2
    assert "--bogus" in result.stderr
    assert result.stdout == ""


def test_python_without_kedro_exits_4():
    # -S: no site-packages, so this very Python has no Kedro.
    result = run_export(EXAMPLE, "--pipeline", "__default__", python=[sys.executable, "-S"])
    assert result.returncode == 4
    assert "kedro is not installed in" in result.stderr
    assert "--python" in result.stderr
    assert result.stdout == ""


# ------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("written", "short"),
    [
        ("pandas.CSVDataset", "pandas.CSVDataset"),
        ("kedro_datasets.pandas.CSVDataset", "pandas.CSVDataset"),
        ("kedro_datasets.pandas.csv_dataset.CSVDataset", "pandas.CSVDataset"),
        ("MemoryDataset", "kedro.io.MemoryDataset"),
        ("kedro.io.MemoryDataset", "kedro.io.MemoryDataset"),
        ("kedro.io.memory_dataset.MemoryDataset", "kedro.io.MemoryDataset"),
        ("CachedDataset", "kedro.io.CachedDataset"),
        ("my_project.datasets.FancyDataset", "my_project.datasets.FancyDataset"),
        ("NotAKedroClass", "NotAKedroClass"),
    ],
)
def test_short_type(written, short):
    assert exporter.short_type(written) == short


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("s3://key:secret@bucket/a.csv", "s3://bucket/a.csv"),
        ("https://user@host/x@y.csv", "https://host/x@y.csv"),
        ("s3://bucket/a@b.csv", "s3://bucket/a@b.csv"),
        ("data/01_raw/a@b.csv", "data/01_raw/a@b.csv"),
    ],
)
def test_redact_url_credentials(url, clean):
    assert exporter.redact_url_credentials(url) == clean


def test_project_relative(tmp_path):
    project = tmp_path.resolve()
    assert exporter.project_relative(str(project / "data" / "x.csv"), project) == "data/x.csv"
    assert exporter.project_relative("/elsewhere/x.csv", project) == "/elsewhere/x.csv"
    assert exporter.project_relative("s3://b/x.csv", project) == "s3://b/x.csv"
    assert exporter.project_relative("data/x.csv", project) == "data/x.csv"
