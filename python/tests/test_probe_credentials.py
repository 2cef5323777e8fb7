"""The handler's probe (``--probe``: what ``image test`` and a deploy's probe run) and
catalog credentials read from AWS (``KEDRO_SFN_CREDENTIALS``), on copies of the example
project changed as users' projects differ: a pipeline module importing a library the
environment lacks, a dataset type from a package that is not installed, and a catalog
entry with ``credentials:`` whose secret lives in moto's Secrets Manager or SSM.

Each task runs in its own process, the handler's CLI, with the copy's package first on
``PYTHONPATH`` (the example itself is installed in editable mode).

Run: .venv/bin/python -m pytest python/tests (after ``bash scripts/setup.sh``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import aws_environment, s3_client

REPO = Path(__file__).resolve().parents[2]
HANDLER = REPO / "python" / "kedro_sfn_handler.py"
EXAMPLE = REPO / "examples" / "spaceflights"
MAKE_DATA = EXAMPLE / "scripts" / "make_data.py"
BUCKET = "kedro-sfn-spaceflights"
START = "2026-12-05T10:00:00.000Z"
CREDENTIALS_KEY = "spaceflights_s3"
SECRET = "kedro-sfn/spaceflights-s3"
PARAMETER = "/kedro-sfn/spaceflights-s3"


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the example (source and conf), for a test to change."""
    copy = tmp_path / "spaceflights"
    shutil.copytree(
        EXAMPLE, copy,
        ignore=shutil.ignore_patterns("data", "__pycache__", "*.egg-info", "kedro-sfn-*"),
    )
    return copy


def environment(project: Path, endpoint: str = "http://127.0.0.1:9", **extra: str) -> dict:
    """A task's environment: the copy, its package first on the path, AWS at ``endpoint``."""
    return aws_environment(
        endpoint, KEDRO_SFN_PROJECT_DIR=str(project), PYTHONPATH=str(project / "src"), **extra
    )


def probe(project: Path, env: dict, cwd: Path) -> dict:
    """``--probe``'s report for the default pipeline in env aws."""
    done = subprocess.run(
        [sys.executable, str(HANDLER), "--probe", json.dumps({"pipeline": "__default__", "env": "aws"})],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 1, f"one JSON line on stdout, got:\n{done.stdout[:2000]}"
    return json.loads(lines[0])


def add_import(project: Path, module: str) -> None:
    """The reporting pipeline's nodes import ``module`` (after its ``__future__`` import)."""
    nodes = project / "src" / "spaceflights" / "pipelines" / "reporting" / "nodes.py"
    code = nodes.read_text()
    marker = "from __future__ import annotations\n"
    assert marker in code
    nodes.write_text(code.replace(marker, f"{marker}\nimport {module}\n", 1))


def edit_entry(project: Path, dataset: str, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the aws catalog entry of ``dataset``."""
    catalog = project / "conf" / "aws" / "catalog.yml"
    text = catalog.read_text()
    start = text.index(f"\n{dataset}:\n") + 1
    end = text.find("\n\n", start)
    end = len(text) if end < 0 else end
    entry = text[start:end]
    assert old in entry, entry
    catalog.write_text(text[:start] + entry.replace(old, new, 1) + text[end:])


def with_credentials(project: Path, dataset: str, key: str) -> None:
    edit_entry(project, dataset, "  type:", f"  credentials: {key}\n  type:")


def kinds(report: dict) -> set:
    return {(f["kind"], f["subject"]) for f in report["failures"]}


# ----------------------------------------------------------------- the probe


def test_the_probe_passes_on_the_example_and_counts_what_it_built(project, tmp_path):
    report = probe(project, environment(project), tmp_path)
    assert report["ok"] is True, report
    assert report["failures"] == []
    assert report["nodes"] == 7
    # Every dataset the nodes read or write, parameters aside, was built by the catalog.
    assert report["datasets"] >= 10, report
    assert report["kedro_version"]


def test_a_missing_module_and_unmapped_credentials_are_reported_at_once(project, tmp_path):
    add_import(project, "kedro_sfn_not_installed")
    with_credentials(project, "companies", "dspacedb")
    report = probe(project, environment(project), tmp_path)
    assert report["ok"] is False
    assert ("module", "kedro_sfn_not_installed") in kinds(report), report
    assert ("credentials", "dspacedb") in kinds(report), report
    fixes = " ".join(f["fix"] for f in report["failures"])
    assert "requirements" in fixes and "credentials:" in fixes and "kedro-sfn.yml" in fixes


def test_a_dataset_type_from_a_missing_package_names_the_package_and_its_nodes(project, tmp_path):
    edit_entry(project, "companies", "type: pandas.CSVDataset", "type: polars.CSVDataset")
    with_credentials(project, "reviews", CREDENTIALS_KEY)
    # Mapped credentials are stand-ins in the probe: no AWS call, no secret needed.
    env = environment(
        project,
        KEDRO_SFN_CREDENTIALS=json.dumps({CREDENTIALS_KEY: f"secretsmanager:{SECRET}"}),
        KEDRO_SFN_STAND_IN_CREDENTIALS="1",
    )
    report = probe(project, env, tmp_path)
    assert report["ok"] is False
    assert [(f["kind"], f["subject"], f["nodes"]) for f in report["failures"]] == [
        ("module", "polars", ["preprocess_companies_node"])
    ], report


def test_a_lambda_probe_event_fails_the_invocation_naming_every_problem(project, tmp_path):
    add_import(project, "kedro_sfn_not_installed")
    event = {"probe": True, "pipeline": "__default__", "env": "aws"}
    done = subprocess.run(
        [sys.executable, str(HANDLER)], input=json.dumps(event), capture_output=True,
        text=True, env=environment(project), cwd=tmp_path, timeout=180,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("kedro-sfn task: ProbeFailed: module kedro_sfn_not_installed"), last


def test_the_run_keyword_follows_kedros_signature():
    sys.path.insert(0, str(HANDLER.parent))
    import kedro_sfn_handler as handler

    def new(self, pipeline_names=None, node_names=None): ...
    def old(self, pipeline_name=None, node_names=None): ...
    def neither(self, node_names=None): ...

    assert handler.run_pipeline_keyword(new) == "pipeline_names"
    assert handler.run_pipeline_keyword(old) == "pipeline_name"
    assert handler.run_pipeline_keyword(neither) is None


# ----------------------------------------------------------- credentials on AWS


@pytest.fixture
def s3_data(moto_endpoint, tmp_path) -> str:
    """The example's raw data in the bucket on moto."""
    done = subprocess.run(
        [sys.executable, str(MAKE_DATA), "--out", str(tmp_path / "raw"), "--s3", BUCKET],
        env=aws_environment(moto_endpoint), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return moto_endpoint


def aws_client(service: str, endpoint: str):
    import boto3

    return boto3.client(
        service, endpoint_url=endpoint, region_name="eu-west-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


def preprocess_companies(project: Path, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    event = {
        "task": "preprocess_companies_node", "nodes": ["preprocess_companies_node"],
        "pipeline": "__default__", "env": "aws",
        "execution": {"Name": "credentials", "StartTime": START, "Input": {}},
    }
    return subprocess.run(
        [sys.executable, str(HANDLER)], input=json.dumps(event), capture_output=True,
        text=True, env=env, cwd=cwd, timeout=180,
    )


def credentials_env(project: Path, endpoint: str, source: str) -> dict:
    """S3 itself unreachable (a closed port): only the credentials' own endpoint reaches
    moto, so the task reads its input only if Kedro got the entry from AWS."""
    return environment(
        project, endpoint,
        AWS_ENDPOINT_URL_S3="http://127.0.0.1:9",
        KEDRO_SFN_CREDENTIALS=json.dumps({CREDENTIALS_KEY: source}),
    )


@pytest.mark.parametrize("source", [f"secretsmanager:{SECRET}", f"ssm:{PARAMETER}"])
def test_an_s3_task_runs_with_credentials_read_from_aws(project, s3_data, tmp_path, source):
    endpoint = s3_data
    entry = json.dumps({
        "key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint},
    })
    if source.startswith("secretsmanager:"):
        aws_client("secretsmanager", endpoint).create_secret(Name=SECRET, SecretString=entry)
    else:
        aws_client("ssm", endpoint).put_parameter(
            Name=PARAMETER, Value=entry, Type="SecureString", Overwrite=True,
        )
    # The node's input and output both name the key (an S3-only task).
    with_credentials(project, "companies", CREDENTIALS_KEY)
    with_credentials(project, "\"preprocessed_{table}\"", CREDENTIALS_KEY)  # a pattern

    # Before: the key has no source, and Kedro cannot build the catalog.
    before = preprocess_companies(project, environment(project, endpoint), tmp_path)
    assert before.returncode == 1
    assert f"Unable to find credentials '{CREDENTIALS_KEY}'" in before.stderr, before.stderr[-2000:]

    done = preprocess_companies(project, credentials_env(project, endpoint, source), tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout)
    assert summary["nodes"] == ["preprocess_companies_node"]
    assert "testing" not in done.stderr.replace("AWS_", ""), "a credentials value was logged"
    found = s3_client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix="02_intermediate/")
    assert any("preprocessed_companies" in o["Key"] for o in found.get("Contents", [])), found


def test_a_missing_secret_fails_the_task_naming_the_secret_and_the_permission(project, s3_data, tmp_path):
    with_credentials(project, "companies", CREDENTIALS_KEY)
    source = "secretsmanager:kedro-sfn/no-such-secret"
    done = preprocess_companies(project, credentials_env(project, s3_data, source), tmp_path)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert "CredentialsUnavailable" in last and "kedro-sfn/no-such-secret" in last, last
    assert "secretsmanager:GetSecretValue" in last, last
