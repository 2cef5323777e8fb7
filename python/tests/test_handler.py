"""Tests of python/kedro_sfn_handler.py: the Lambda task handler, against real services.

Every task runs in its own Python process, as Lambda runs it: the handler's CLI
(``python kedro_sfn_handler.py`` or ``python -c <source>``, which is how
``kedro-sfn run-task`` runs it) with the event on stdin, the example project
(``KEDRO_SFN_PROJECT_DIR``) in env ``aws``, and S3 served by a real
``moto_server`` from this Python's environment on a free loopback port. The
order of the tasks, one node each, is a topological order of the committed
pipeline document (tests/fixtures/spaceflights.aws.pipeline.json). Transcoding
(``x@pandas`` written, ``x@json`` read) is tested on a temp copy of the fixture
project tests/fixtures/transcoding. A read-only project: test_handler_readonly.py.

Run: .venv/bin/python -m pytest python/tests (after ``bash scripts/setup.sh``).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shlex
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import aws_environment

REPO = Path(__file__).resolve().parents[2]
HANDLER = REPO / "python" / "kedro_sfn_handler.py"
EXAMPLE = REPO / "examples" / "spaceflights"
MAKE_DATA = EXAMPLE / "scripts" / "make_data.py"
FIXTURE = REPO / "tests" / "fixtures" / "spaceflights.aws.pipeline.json"
BUCKET = "kedro-sfn-spaceflights"
NS = "active_modelling_pipeline"
SPLIT, TRAIN, EVALUATE = (f"{NS}.{n}" for n in ("split_data_node", "train_model_node", "evaluate_model_node"))
REGRESSOR, METRICS = f"{NS}.regressor", f"{NS}.metrics"
SETUP_HINT = "run `bash scripts/setup.sh` from the repository root, then use .venv/bin/python"

sys.path.insert(0, str(HANDLER.parent))
import kedro_sfn_handler as handler_module  # noqa: E402  (pure helpers, unit-tested below)

# Two overlapping executions: B starts later (one millisecond digit, another
# zone spelling), so Kedro's "latest" regressor is B's once B has trained.
START_A, VERSION_A = "2026-11-27T19:08:38.123Z", "2026-11-27T19.08.38.123Z"
START_B, VERSION_B = "2026-11-27T20:08:39.5+01:00", "2026-11-27T19.08.39.500Z"
# B trains on another split, hence another model.
PARAMS_B = {"model_options.random_state": 11, "model_options.test_size": 0.3}


def need(condition: bool, what: str) -> None:
    """A missing tool fails the test (never skips), saying how to get it."""
    if not condition:
        pytest.fail(f"{what} is missing: {SETUP_HINT}", pytrace=False)


# ------------------------------------------------------------------- helpers


def topological_order(doc: dict) -> list[str]:
    """Node names in an order where every node comes after the nodes it reads from.

    Kahn's algorithm, ties broken by the document's order (deterministic).
    """
    producer = {out: n["name"] for n in doc["nodes"] for out in n["outputs"]}
    deps = {
        n["name"]: {producer[i] for i in n["inputs"] if i in producer} for n in doc["nodes"]
    }
    order: list[str] = []
    while deps:
        ready = [name for name, d in deps.items() if not d]
        assert ready, f"cycle among {sorted(deps)}"
        order.append(ready[0])
        del deps[ready[0]]
        for d in deps.values():
            d.discard(ready[0])
    return order


def make_event(node: str, start: str, execution: str, params: dict | None = None, **extra) -> dict:
    """The event a Task state sends (see docs/state-machine.md, Task states): ``execution``
    is ``$$.Execution``, with the context keys the handler does not read."""
    event = {
        "task": node,
        "nodes": [node],
        "pipeline": "__default__",
        "env": "aws",
        "execution": {
            "Id": f"arn:aws:states:eu-west-1:123456789012:execution:spaceflights:{execution}",
            "Name": execution,
            "StartTime": start,
            "Input": {"params": params} if params is not None else {},
            "RoleArn": "arn:aws:iam::123456789012:role/kedro-sfn-states",
            "RedriveCount": 0,
        },
    }
    event.update(extra)
    return event


def three_key_event(event: dict) -> dict:
    """The same event with the execution as three keys (earlier definitions' shape)."""
    flat = {key: value for key, value in event.items() if key != "execution"}
    execution = event["execution"]
    flat.update(
        execution_name=execution["Name"],
        execution_start_time=execution["StartTime"],
        input=execution["Input"],
    )
    return flat


def run_task(
    event: dict | str, env: dict, cwd: Path, as_source: bool = False
) -> subprocess.CompletedProcess:
    """One task in its own process: the handler's CLI with the event on stdin."""
    program = ["-c", HANDLER.read_text()] if as_source else [str(HANDLER)]
    stdin = event if isinstance(event, str) else json.dumps(event)
    return subprocess.run(
        [sys.executable, *program],
        input=stdin, capture_output=True, text=True, env=env, cwd=cwd, timeout=180,
    )


def run_ok(event: dict, env: dict, cwd: Path, **kwargs) -> dict:
    result = run_task(event, env, cwd, **kwargs)
    assert result.returncode == 0, f"{event['task']}:\n{result.stderr[-4000:]}"
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"stdout must be one JSON line, got:\n{result.stdout[:2000]}"
    return json.loads(lines[0])


def s3_key(doc: dict, dataset: str) -> str:
    filepath = doc["datasets"][dataset]["filepath"]
    prefix = f"s3://{BUCKET}/"
    assert filepath.startswith(prefix), filepath
    return filepath[len(prefix):]


def snapshot(root: Path) -> dict:
    """Every file under root with its size and mtime, build output aside
    (bytecode caches; the egg-info that ``pip install -e`` rewrites)."""
    files = {}
    for path in root.rglob("*"):
        if not path.is_file() or any(
            part == "__pycache__" or part.endswith(".egg-info") for part in path.parts
        ):
            continue
        info = path.stat()
        files[str(path.relative_to(root))] = (info.st_size, info.st_mtime_ns)
    return files


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def pipeline_doc() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="session")
def project_before() -> dict:
    """The example project's files before any task ran (nothing may write there)."""
    return snapshot(EXAMPLE)


@pytest.fixture(scope="session")
def moto(project_before, moto_endpoint) -> str:
    """The session's moto S3 server (conftest.py), after the example's snapshot."""
    return moto_endpoint


@pytest.fixture(scope="session")
def aws_env(moto) -> dict:
    """The environment of every task process: moto, telemetry off, the example."""
    return aws_environment(moto, KEDRO_SFN_PROJECT_DIR=str(EXAMPLE))


@pytest.fixture(scope="session")
def s3(aws_env, tmp_path_factory):
    """A boto3 client on moto, after the bucket and its raw data exist."""
    try:
        import boto3
    except ImportError:
        need(False, f"boto3 in {sys.executable}")
    raw = tmp_path_factory.mktemp("raw")  # make_data.py also writes a local copy
    done = subprocess.run(
        [sys.executable, str(MAKE_DATA), "--out", str(raw), "--s3", BUCKET],
        env=aws_env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return boto3.client(
        "s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name="eu-west-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


def keys(s3, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        found.update(obj["Key"] for obj in page.get("Contents", []))
    return found


@pytest.fixture(scope="module")
def executions(s3, aws_env, pipeline_doc, tmp_path_factory) -> dict:
    """Execution A and an overlapping, later execution B, one process per task.

    Order: A up to and including train; B's split, train and evaluate (so B's
    regressor, the later version, is Kedro's "latest"); then A's evaluate,
    which must still load A's. B's tasks before split are left out to keep the
    suite fast: with the same raw data they would rewrite the same tables.
    A's tasks run as ``python -c <source>`` (as kedro-sfn run-task does), B's as
    a file.
    """
    order = topological_order(pipeline_doc)
    assert order[-3:] == [SPLIT, TRAIN, EVALUATE]
    cwd_a, cwd_b = tmp_path_factory.mktemp("cwd_a"), tmp_path_factory.mktemp("cwd_b")
    results: dict = {"A": {}, "B": {}}

    def run(label, node, start, cwd, params=None, as_source=False):
        event = make_event(node, start, f"execution-{label}", params)
        results[label][node] = run_ok(event, aws_env, cwd, as_source=as_source)

    for node in order[:-1]:
        run("A", node, START_A, cwd_a, as_source=True)
    for node in order[-3:]:
        run("B", node, START_B, cwd_b, PARAMS_B)
    run("A", EVALUATE, START_A, cwd_a, as_source=True)
    return {"order": order, "results": results, "cwds": [cwd_a, cwd_b]}


# --------------------------------------------------------- executions on S3


def test_every_task_reports_its_node_outputs_and_the_execution_version(executions, pipeline_doc):
    assert list(executions["results"]["A"]) == executions["order"][:-1] + [EVALUATE]
    assert list(executions["results"]["B"]) == [SPLIT, TRAIN, EVALUATE]
    for label, version in (("A", VERSION_A), ("B", VERSION_B)):
        results = executions["results"][label]
        for doc_node in pipeline_doc["nodes"]:
            if doc_node["name"] not in results:
                continue
            result = results[doc_node["name"]]
            assert result["task"] == doc_node["name"]
            assert result["nodes"] == [doc_node["name"]]
            assert result["datasets_saved"] == doc_node["outputs"]
            assert result["save_version"] == version
            assert isinstance(result["seconds"], float) and result["seconds"] > 0
            assert list(result) == ["task", "nodes", "datasets_saved", "save_version", "seconds"]


def test_every_output_of_the_pipeline_is_in_the_bucket(executions, pipeline_doc, s3):
    stored = keys(s3)
    outputs = {o for n in pipeline_doc["nodes"] for o in n["outputs"]}
    assert len(outputs) == 10
    for name in sorted(outputs):
        key = s3_key(pipeline_doc, name)
        if name in (REGRESSOR, METRICS):
            assert any(k.startswith(key + "/") for k in stored), (name, sorted(stored))
        else:
            assert key in stored, (name, sorted(stored))


def test_versioned_outputs_are_saved_under_the_execution_start_time(executions, pipeline_doc, s3):
    # Two different tasks (train, evaluate) saved versioned data; within one
    # execution both used the version derived from its start time, and there is
    # no other version (e.g. a fresh timestamp of some task's own session).
    for dataset in (REGRESSOR, METRICS):
        key = s3_key(pipeline_doc, dataset)
        file_name = key.rsplit("/", 1)[1]
        assert keys(s3, key + "/") == {
            f"{key}/{VERSION_A}/{file_name}",
            f"{key}/{VERSION_B}/{file_name}",
        }
    assert sorted([VERSION_B, VERSION_A]) == [VERSION_A, VERSION_B]  # B is Kedro's latest


def test_overlapping_execution_loads_its_own_regressor(executions, pipeline_doc, s3):
    # B trained (another split: PARAMS_B) and saved the latest regressor before
    # A's evaluate ran. X_test and y_test are not versioned, so both evaluates
    # read B's split; the only difference between them is the regressor loaded.
    # So A's metrics must equal a local evaluation of A's regressor on that
    # test set, and differ from B's metrics (what loading "latest" would give).
    import pandas as pd
    from spaceflights.pipelines.data_science.nodes import evaluate_model

    def load(dataset, version=None):
        key = s3_key(pipeline_doc, dataset)
        if version:
            key = f"{key}/{version}/{key.rsplit('/', 1)[1]}"
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    x_test = pd.read_csv(io.BytesIO(load(f"{NS}.X_test")))
    y_test = pd.read_csv(io.BytesIO(load(f"{NS}.y_test")))
    regressor_a = pickle.loads(load(REGRESSOR, VERSION_A))
    regressor_b = pickle.loads(load(REGRESSOR, VERSION_B))
    assert regressor_a.coef != regressor_b.coef, "B's params must give another model"

    metrics_a = json.loads(load(METRICS, VERSION_A))
    metrics_b = json.loads(load(METRICS, VERSION_B))
    expected_a = evaluate_model(regressor_a, x_test, y_test)
    assert metrics_a == pytest.approx(expected_a, rel=1e-12)
    assert metrics_b == pytest.approx(evaluate_model(regressor_b, x_test, y_test), rel=1e-12)
    assert metrics_a["r2_score"] != pytest.approx(metrics_b["r2_score"], rel=1e-9)


# ------------------------------------------------------------------ failures


def test_failing_node_exits_1_naming_the_node_and_the_error(executions, aws_env, tmp_path):
    # test_size 5 is not a fraction: split_data refuses it (runtime params only).
    event = make_event(SPLIT, "2026-11-28T08:00:00Z", "execution-fail", {"model_options.test_size": 5})
    result = run_task(event, aws_env, tmp_path, as_source=True)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"kedro-sfn task: NodeFailed: node '{SPLIT}' failed: "
        "ValueError: test_size must be a fraction between 0 and 1, got 5"
    )
    assert "Traceback" in result.stderr  # the original error's, chained


def test_missing_key_exits_2_naming_it(aws_env, tmp_path):
    event = make_event("preprocess_companies_node", START_A, "execution-bad")
    del event["nodes"]
    result = run_task(event, aws_env, tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == "kedro-sfn task: bad event: event key 'nodes' is missing"


def event_env(event: dict) -> dict:
    """The event as an ECS task gets it: one environment variable per key."""
    env = {
        handler_module.EVENT_ENV[key]: json.dumps(value) if key in ("nodes", "input") else value
        for key, value in three_key_event(event).items()
    }
    assert set(env) == set(handler_module.EVENT_ENV.values())
    return env


def test_an_ecs_task_reads_its_event_from_the_environment(executions, aws_env, tmp_path):
    # The same node and version as execution A ran from stdin: the same summary.
    node = "preprocess_companies_node"
    event = make_event(node, START_A, "execution-A")
    result = subprocess.run(
        [sys.executable, str(HANDLER), "--event-from-env"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=tmp_path, timeout=180,
        env={**aws_env, **event_env(event)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary == {**executions["results"]["A"][node], "seconds": summary["seconds"]}


def test_the_three_execution_keys_of_earlier_definitions_are_read(executions, aws_env, tmp_path):
    node = "preprocess_shuttles_node"
    event = three_key_event(make_event(node, START_A, "execution-A"))
    summary = run_ok(event, aws_env, tmp_path)
    assert summary == {**executions["results"]["A"][node], "seconds": summary["seconds"]}


def test_an_execution_that_is_not_the_context_object_exits_2(aws_env, tmp_path):
    event = make_event("preprocess_companies_node", START_A, "execution-bad")
    del event["execution"]["StartTime"]
    result = run_task(event, aws_env, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "kedro-sfn task: bad event: event key 'execution' has no 'StartTime' "
        "($$.Execution.StartTime)"
    )


def test_an_ecs_task_without_a_variable_exits_2_naming_it(aws_env, tmp_path):
    env = event_env(make_event("preprocess_companies_node", START_A, "execution-bad"))
    del env["KEDRO_SFN_NODES"]
    env["KEDRO_SFN_INPUT"] = "{not json"
    missing = subprocess.run(
        [sys.executable, str(HANDLER), "--event-from-env"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, env={**aws_env, **env},
    )
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert missing.stderr.strip() == (
        "kedro-sfn task: bad event: environment variable KEDRO_SFN_NODES (event key 'nodes') "
        "is missing"
    )
    env["KEDRO_SFN_NODES"] = '["preprocess_companies_node"]'
    bad_json = subprocess.run(
        [sys.executable, str(HANDLER), "--event-from-env"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, env={**aws_env, **env},
    )
    assert bad_json.returncode == 2
    assert "environment variable KEDRO_SFN_INPUT (event key 'input') must hold JSON" in (
        bad_json.stderr
    )


@pytest.mark.parametrize("stdin", ["", "{not json", '{"task": "x"} {"task": "y"}'])
def test_stdin_that_is_not_one_json_document_exits_2(aws_env, tmp_path, stdin):
    result = run_task(stdin, aws_env, tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "stdin must hold one JSON event object" in result.stderr


def test_unknown_nodes_exit_2_listing_them(aws_env, tmp_path):
    event = make_event("split_data_node", START_A, "execution-bad")
    event["nodes"] = ["split_data_node", "preprocess_shuttles_node", "no_such_node"]
    result = run_task(event, aws_env, tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("kedro-sfn task: bad event: event key 'nodes': pipeline '__default__' ")
    assert f"'split_data_node' (did you mean '{SPLIT}'?)" in last
    assert "'no_such_node'" in last
    assert "'preprocess_shuttles_node'" not in last


# ----------------------------------------------- in one process, as on Lambda

LAMBDA_SCRIPT = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import kedro_sfn_handler as h

events = json.loads(sys.argv[2])
out = {"cwd_writable_at_start": os.access(os.getcwd(), os.W_OK), "results": [], "errors": []}
for event in events:
    try:
        out["results"].append(h.handler(event, None))
    except Exception as exc:
        cause = exc.__cause__
        out["errors"].append({
            "type": type(exc).__name__, "message": str(exc),
            "cause": type(cause).__name__ if cause else None,
            "node": getattr(exc, "node", None),
        })
out["cwd_at_end"] = os.getcwd()
print("RESULT " + json.dumps(out))
"""


@pytest.fixture
def lambda_root():
    """A stand-in for /var/task holding the project as kedro_project (mode 0555)."""
    root = Path(tempfile.mkdtemp(prefix="kedro-sfn-task-root-"))
    (root / "kedro_project").symlink_to(EXAMPLE)
    root.chmod(0o555)
    yield root
    root.chmod(0o755)
    shutil.rmtree(root)


def read_only_prefix(paths: list[Path]) -> list[str] | None:
    """A command prefix that runs a command with ``paths`` mounted read-only.

    For root, whom file modes do not stop: a private mount namespace
    (``unshare -m``) with read-only bind mounts, as Lambda's read-only file
    system. ``None`` when that is not allowed here (a container without
    CAP_SYS_ADMIN) or not needed (not root: mode 0555 already stops writes).
    """
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return None
    mounts = " && ".join(f"mount --bind -o ro {shlex.quote(str(p))} {shlex.quote(str(p))}" for p in paths)
    prefix = ["unshare", "-m", "sh", "-c", f'{mounts} && exec "$@"', "sh"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
    return prefix if probe.returncode == 0 else None


def test_warm_process_runs_several_invocations_from_a_read_only_task_root(
    executions, aws_env, lambda_root, tmp_path
):
    # As on Lambda: the handler imported once and called again and again; the
    # project found at $LAMBDA_TASK_ROOT/kedro_project; the working directory
    # (the task root) and, for root, the project itself read-only.
    temp = tmp_path / "tmp"  # the temp directory, as /tmp on Lambda
    temp.mkdir()
    env = {k: v for k, v in aws_env.items() if k != "KEDRO_SFN_PROJECT_DIR"}
    env.update(LAMBDA_TASK_ROOT=str(lambda_root), HOME=str(lambda_root), TMPDIR=str(temp))
    report = "summarize_passenger_capacity_node"
    events = [
        make_event(report, "2026-11-28T09:00:00.001Z", "warm-1"),
        make_event(report, "2026-11-28T09:00:00.002Z", "warm-2"),
        make_event(report, "2026-11-28T09:00:00.003Z", "warm-3", pipeline="no_such_pipeline"),
        make_event(SPLIT, "2026-11-28T09:00:00.004Z", "warm-4", {"model_options.test_size": 0}),
        make_event("preprocess_companies_node", "2026-11-28T09:00:00.005Z", "warm-5"),
    ]
    prefix = read_only_prefix([lambda_root, EXAMPLE])
    # Root without mount namespaces can write anywhere: then the move to /tmp
    # is not triggered (test_unwritable_working_directory_is_left_for_tmp
    # covers it), and test_nothing_is_written_... still checks the project.
    read_only = prefix is not None or os.geteuid() != 0
    done = subprocess.run(
        [*(prefix or []), sys.executable, "-c", LAMBDA_SCRIPT, str(HANDLER.parent),
         json.dumps(events)],
        capture_output=True, text=True, env=env, cwd=lambda_root, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT "):])

    assert out["cwd_writable_at_start"] is not read_only
    # Moved to /tmp when the task root is read-only, else left alone.
    assert out["cwd_at_end"] == (str(temp) if read_only else str(lambda_root))
    # A read-only project (root, in the mount namespace) runs from one writable
    # copy in the temp directory for the whole process.
    copies = sorted(temp.glob(handler_module.TEMP_COPY_PREFIX + "*"))
    assert len(copies) == (1 if prefix is not None else 0), copies
    first, second, after_failures = out["results"]
    assert first["save_version"] == "2026-11-28T09.00.00.001Z"
    assert second["save_version"] == "2026-11-28T09.00.00.002Z"
    assert first["datasets_saved"] == second["datasets_saved"] == ["shuttle_passenger_capacity"]
    assert after_failures["datasets_saved"] == ["preprocessed_companies"]

    bad_pipeline, failed = out["errors"]
    assert bad_pipeline["type"] == "InvalidEvent"
    assert "no pipeline 'no_such_pipeline'" in bad_pipeline["message"]
    assert "registered: __default__, data_processing, data_science, reporting" in (
        bad_pipeline["message"]
    )
    # What Lambda reports: errorType NodeFailed, errorMessage str(exc).
    assert failed == {
        "type": "NodeFailed",
        "message": f"node '{SPLIT}' failed: ValueError: "
        "test_size must be a fraction between 0 and 1, got 0",
        "cause": "ValueError",
        "node": SPLIT,
    }


def test_unwritable_working_directory_is_left_for_tmp(tmp_path, monkeypatch):
    # A working directory that is gone is as unwritable as a read-only one,
    # for any user; prepare_process() must move to the temp directory.
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("KEDRO_LOGGING_CONFIG", raising=False)
    project = tmp_path / "project"
    (project / "conf").mkdir(parents=True)
    (project / "conf" / "logging.yml").write_text("version: 1\n")
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    handler_module.prepare_process(project)
    assert os.getcwd() == tempfile.gettempdir()
    # Kedro looks for conf/logging.yml in the working directory; pointed at the project's.
    assert os.environ["KEDRO_LOGGING_CONFIG"] == str(project / "conf" / "logging.yml")


def test_nothing_is_written_to_the_project_or_the_working_directory(
    executions, project_before
):
    # Runs last in this file: every task above has run by now.
    assert snapshot(EXAMPLE) == project_before
    for cwd in executions["cwds"]:
        assert list(cwd.iterdir()) == []


# ------------------------------------- transcoding (tests/fixtures/transcoding)

RELAY = REPO / "tests" / "fixtures" / "transcoding"
RELAY_BUCKET = "kedro-sfn-relay"  # the fixture's conf/aws
# A variant of the fixture (written into a temp copy): the transcoded dataset
# versioned, locally, and ranking kept between tasks.
RELAY_VERSIONED_CATALOG = """\
scores@pandas:
  type: pandas.JSONDataset
  filepath: data/02_intermediate/versioned/scores.json
  versioned: true
  save_args:
    orient: records

scores@json:
  type: json.JSONDataset
  filepath: data/02_intermediate/versioned/scores.json
  versioned: true

ranking:
  type: json.JSONDataset
  filepath: data/03_primary/versioned/ranking.json
  versioned: true

report:
  type: json.JSONDataset
  filepath: data/08_reporting/versioned/report.json
  versioned: true
"""
RELAY_REPORT = {"winner": "barbara", "players": 4}  # of conf/base/parameters.yml


@pytest.fixture(scope="module")
def relay_project(tmp_path_factory) -> Path:
    """A copy of the fixture (never written to in place), with env `versioned`."""
    need(RELAY.is_dir(), f"the fixture project {RELAY}")
    project = tmp_path_factory.mktemp("relay") / "relay"
    shutil.copytree(RELAY, project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "conf" / "versioned").mkdir()
    (project / "conf" / "versioned" / "catalog.yml").write_text(RELAY_VERSIONED_CATALOG)
    return project


@pytest.fixture(scope="module")
def relay_pipeline(relay_project):
    """The fixture's registered pipeline, built by its own code."""
    sys.path.insert(0, str(relay_project / "src"))
    try:
        from relay.pipeline_registry import register_pipelines
    finally:
        sys.path.remove(str(relay_project / "src"))
    return register_pipelines()["__default__"]


def relay_nodes(pipeline, *names: str) -> list:
    by_name = {node.name: node for node in pipeline.nodes}
    return [by_name[name] for name in names]


def test_transcoded_nodes_run_one_task_each_on_s3(relay_project, aws_env, moto, tmp_path):
    # make_scores writes scores@pandas, rank_scores reads scores@json: one S3
    # object, two dataset types. One process per node, in Kedro's order.
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto, region_name="eu-west-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(
        Bucket=RELAY_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    env = dict(aws_env, KEDRO_SFN_PROJECT_DIR=str(relay_project))
    saved = {}
    for node in ("make_scores", "rank_scores", "report"):
        saved[node] = run_ok(make_event(node, START_A, "relay-s3"), env, tmp_path)["datasets_saved"]

    assert saved == {"make_scores": ["scores@pandas"], "rank_scores": ["ranking"],
                     "report": ["report"]}
    listed = s3.list_objects_v2(Bucket=RELAY_BUCKET).get("Contents", [])
    assert sorted(obj["Key"] for obj in listed) == ["ranking.json", "report.json", "scores.json"]
    report = json.loads(s3.get_object(Bucket=RELAY_BUCKET, Key="report.json")["Body"].read())
    assert report == RELAY_REPORT


def test_strip_transcoding_is_kedros_rule():
    from kedro.pipeline.transcoding import _strip_transcoding

    for name in ("scores@pandas", "scores@json", "scores", "ns.scores@spark", "params:x", "@x"):
        assert handler_module.strip_transcoding(name) == _strip_transcoding(name)
    with pytest.raises(ValueError, match="maximum 1 transcoding separator"):
        handler_module.strip_transcoding("a@b@c")


def test_transcoded_input_is_pinnable(relay_pipeline):
    make, rank, report = relay_nodes(relay_pipeline, "make_scores", "rank_scores", "report")
    # Exact names never match: the writer's output is scores@pandas.
    assert set(rank.inputs) & relay_pipeline.all_outputs() == set()
    assert handler_module.pinnable_inputs(relay_pipeline, [rank]) == ["scores@json"]
    assert handler_module.pinnable_inputs(relay_pipeline, [report]) == ["ranking"]
    assert handler_module.pinnable_inputs(relay_pipeline, [make]) == []  # params only
    assert handler_module.pinnable_inputs(relay_pipeline, [make, rank, report]) == [
        "ranking", "scores@json",
    ]


def test_transcoded_versioned_input_loads_the_executions_version(relay_pipeline, relay_project, tmp_path):
    # The catalog of the versioned variant (its paths made absolute, as Kedro's
    # context makes them): the reader's entry scores@json is what gets pinned,
    # and pinned it loads what the writer saved in the same execution, not the
    # later execution's "latest".
    import yaml
    from kedro.io import DataCatalog

    config = yaml.safe_load((relay_project / "conf" / "versioned" / "catalog.yml").read_text())
    for entry in config.values():
        entry["filepath"] = str(tmp_path / entry["filepath"])
    [rank] = relay_nodes(relay_pipeline, "rank_scores")
    pinnable = handler_module.pinnable_inputs(relay_pipeline, [rank])
    versioned = handler_module.versioned_datasets(DataCatalog.from_config(config), pinnable)
    assert versioned == ["scores@json"]
    load_versions = {name: VERSION_A for name in versioned}

    import pandas as pd

    for version, players in ((VERSION_A, ["ada", "grace"]), (VERSION_B, ["edsger"])):
        DataCatalog.from_config(config, save_version=version).save(
            "scores@pandas", pd.DataFrame({"player": players, "score": [len(p) for p in players]})
        )
    pinned = DataCatalog.from_config(config, load_versions=load_versions, save_version=VERSION_A)
    assert pinned.load("scores@json") == [
        {"player": "ada", "score": 3}, {"player": "grace", "score": 5},
    ]
    assert DataCatalog.from_config(config).load("scores@json") == [{"player": "edsger", "score": 6}]


def test_overlapping_executions_read_their_own_transcoded_version(relay_project, aws_env, tmp_path):
    # Env `versioned`, one process per task. B starts later and writes its scores
    # (five players) before A's rank_scores runs: A's reader must still load A's
    # scores@pandas version through scores@json.
    env = dict(aws_env, KEDRO_SFN_PROJECT_DIR=str(relay_project))
    players_b = ["ada", "grace", "barbara", "edsger", "margaret"]

    def run(node, start, execution, params=None):
        return run_ok(make_event(node, start, execution, params, env="versioned"), env, tmp_path)

    run("make_scores", START_A, "relay-A")
    run("make_scores", START_B, "relay-B", {"players": players_b})
    for node in ("rank_scores", "report"):
        run(node, START_A, "relay-A")
        run(node, START_B, "relay-B", {"players": players_b})

    def report(version):
        path = relay_project / "data" / "08_reporting" / "versioned" / "report.json"
        return json.loads((path / version / "report.json").read_text())

    assert report(VERSION_A) == RELAY_REPORT
    assert report(VERSION_B) == {"winner": "margaret", "players": 5}


# ------------------------------------------------- start time -> save version


@pytest.mark.parametrize(
    ("start_time", "version"),
    [
        ("2026-11-27T19:08:38Z", "2026-11-27T19.08.38.000Z"),
        ("2026-11-27T19:08:38.1Z", "2026-11-27T19.08.38.100Z"),
        ("2026-11-27T19:08:38.123Z", "2026-11-27T19.08.38.123Z"),
        ("2026-11-27T19:08:38.123456Z", "2026-11-27T19.08.38.123Z"),
        ("2026-11-27T19:08:38.123456789Z", "2026-11-27T19.08.38.123Z"),
        ("2026-11-27T19:08:38.999999999Z", "2026-11-27T19.08.38.999Z"),  # cut, not rounded
        ("2026-11-27T19:08:38.123+00:00", "2026-11-27T19.08.38.123Z"),
        ("2026-11-27T19:08:38.123-00:00", "2026-11-27T19.08.38.123Z"),
        ("2026-11-27t19:08:38.123z", "2026-11-27T19.08.38.123Z"),
        ("2026-11-27T20:38:38.123+01:30", "2026-11-27T19.08.38.123Z"),
        ("2026-11-27T01:00:00.5-05:00", "2026-11-27T06.00.00.500Z"),
        ("2026-12-31T23:30:00-01:00", "2027-01-01T00.30.00.000Z"),
        ("2028-02-29T12:00:00+0200", "2028-02-29T10.00.00.000Z"),
    ],
)
def test_start_time_to_save_version(start_time, version):
    assert handler_module.save_version_from_start_time(start_time) == version


def test_save_version_has_kedros_format():
    from kedro.io.core import VERSION_FORMAT, generate_timestamp

    version = handler_module.save_version_from_start_time("2026-11-27T19:08:38.123Z")
    parsed = datetime.strptime(version, VERSION_FORMAT)
    assert parsed == datetime(2026, 11, 27, 19, 8, 38, 123000)
    assert len(version) == len(generate_timestamp())


@pytest.mark.parametrize(
    "start_time",
    [
        "garbage",
        "",
        "2026-11-27T19:08:38.123",  # no zone
        "2026-11-27 19:08:38Z",
        "2026-11-27T19:08Z",
        "2026-11-27T19:08:38.Z",
        "2026-11-27T19:08:38.1234567890Z",  # ten digits
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-27T24:00:00Z",
        "2026-11-27T19:08:38+25:00",
        " 2026-11-27T19:08:38Z",
        1764270518,
        None,
    ],
)
def test_garbage_start_time_is_refused(start_time):
    with pytest.raises(handler_module.InvalidEvent, match="'execution_start_time'"):
        handler_module.save_version_from_start_time(start_time)


def test_versions_sort_by_start_time():
    base = datetime(2026, 11, 27, 19, 8, 38, tzinfo=timezone.utc)
    zones = [timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    moments = [base + timedelta(milliseconds=ms) for ms in (0, 1, 9, 10, 999, 1000, 59_001,
                                                            3_600_000, 86_400_000 * 40)]
    spelled = []
    for i, moment in enumerate(moments):
        local = moment.astimezone(zones[i % len(zones)])
        digits = (0, 3, 6, 9)[i % 4]
        fraction = f".{local.microsecond:06d}000"[: digits + 1] if digits else ""
        if digits == 0 and local.microsecond:
            continue
        spelled.append((moment, local.strftime("%Y-%m-%dT%H:%M:%S") + fraction
                        + local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]))
    assert len(spelled) >= 7
    versions = [handler_module.save_version_from_start_time(text) for _, text in spelled]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)


# ------------------------------------------------------ the event and params


def good_event() -> dict:
    """An event with the execution as three keys, so each can be changed on its own."""
    return three_key_event(make_event("preprocess_companies_node", START_A, "execution-x"))


def test_the_context_object_and_the_three_keys_read_the_same():
    params = {"model_options.test_size": 0.3}
    event = make_event("preprocess_companies_node", START_A, "execution-x", params)
    assert handler_module.parse_event(event) == handler_module.parse_event(
        three_key_event(event)
    )
    assert handler_module.parse_event(event)["runtime_params"] == {
        "model_options": {"test_size": 0.3}
    }


def test_parse_event_keeps_what_the_task_needs():
    event = good_event()
    event["nodes"] = ["a", "ns.b"]
    event["input"] = {"params": {"model_options.test_size": 0.3}, "other": [1]}
    assert handler_module.parse_event(event) == {
        "task": "preprocess_companies_node",
        "nodes": ["a", "ns.b"],
        "pipeline": "__default__",
        "env": "aws",
        "execution_name": "execution-x",
        "save_version": VERSION_A,
        "runtime_params": {"model_options": {"test_size": 0.3}},
        "params_given": ["model_options.test_size"],
        "resumes": None,
        "skip": False,
    }


def test_a_resumed_run_uses_the_failed_runs_version_and_skips_what_succeeded():
    event = good_event()
    event["input"] = {"resume": {"execution": "exec-bad", "start_time": START_A,
                                 "skip": ["preprocess_companies_node"]}}
    event["execution_start_time"] = "2030-01-01T00:00:00.000Z"
    parsed = handler_module.parse_event(event)
    assert parsed["save_version"] == VERSION_A
    assert parsed["skip"] is True and parsed["resumes"] == "exec-bad"
    # Skipped before anything is bootstrapped: no project is needed at all.
    result = handler_module.handler(event)
    assert result["skipped"] is True and result["nodes"] == []
    assert result["save_version"] == VERSION_A
    event["task"] = "another_task"
    assert handler_module.parse_event(event)["skip"] is False
    for bad in ([], {"execution": "x"}, {"execution": "x", "start_time": START_A, "skip": "a"}):
        event["input"] = {"resume": bad}
        with pytest.raises(handler_module.InvalidEvent, match="'resume' must be"):
            handler_module.parse_event(event)


def test_a_runtime_param_no_node_reads_is_named():
    """The example's pipeline reads params:model_options only (as Kedro loads it)."""
    from kedro.pipeline import node, pipeline

    def identity(x, y=None):
        return x

    nodes = pipeline([
        node(identity, ["companies", "params:model_options"], "a", name="split"),
        node(identity, ["a", "params:features.list"], "b", name="train"),
    ])
    keys = ["features", "features.list.extra", "model_options.test_size", "model_option",
            "run_date"]
    assert handler_module.unread_params(keys, nodes) == ["model_option", "run_date"]
    everything = pipeline([node(identity, ["companies", "parameters"], "c", name="all")])
    assert handler_module.unread_params(keys, everything) == []


def test_env_and_input_are_optional():
    event = good_event()
    del event["env"], event["input"]
    parsed = handler_module.parse_event(event)
    assert parsed["env"] is None and parsed["runtime_params"] == {}
    event.update(env=None, input=None)
    assert handler_module.parse_event(event)["env"] is None


@pytest.mark.parametrize(
    "key", ["task", "nodes", "pipeline", "execution_name", "execution_start_time"]
)
def test_each_missing_key_is_named(key):
    event = good_event()
    del event[key]
    with pytest.raises(handler_module.InvalidEvent, match=f"^event key '{key}' is missing$"):
        handler_module.parse_event(event)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("task", ""),
        ("pipeline", 3),
        ("env", ["aws"]),
        ("execution_name", None),
        ("nodes", []),
        ("nodes", "preprocess_companies_node"),
        ("nodes", ["a", ""]),
        ("nodes", ["a", 1]),
    ],
)
def test_each_invalid_key_is_named(key, value):
    event = good_event()
    event[key] = value
    with pytest.raises(handler_module.InvalidEvent, match=f"^event key '{key}' must be"):
        handler_module.parse_event(event)


def test_duplicate_nodes_and_non_object_events_are_refused():
    event = good_event()
    event["nodes"] = ["a", "b", "a"]
    with pytest.raises(handler_module.InvalidEvent, match="names a node twice: a"):
        handler_module.parse_event(event)
    with pytest.raises(handler_module.InvalidEvent, match="must be a JSON object, got an array"):
        handler_module.parse_event([event])


@pytest.mark.parametrize(
    ("execution_input", "params"),
    [
        (None, {}),
        ({}, {}),
        ({"params": None}, {}),
        ({"params": {}}, {}),
        ({"other": 1}, {}),
        ({"params": {"model_options.test_size": 0.3}}, {"model_options": {"test_size": 0.3}}),
        (
            {"params": {"a.b.c": 1, "a.b.d": [2], "a.e": None, "f": "x"}},
            {"a": {"b": {"c": 1, "d": [2]}, "e": None}, "f": "x"},
        ),
        (
            {"params": {"model_options": {"test_size": 0.3}, "model_options.random_state": 4}},
            {"model_options": {"test_size": 0.3, "random_state": 4}},
        ),
    ],
)
def test_runtime_params_from_the_execution_input(execution_input, params):
    assert handler_module.runtime_params(execution_input) == params


@pytest.mark.parametrize(
    ("execution_input", "message"),
    [
        ([1], "event key 'input' .* must be a JSON object, got an array"),
        ({"params": "a=1"}, "key 'params' must be an object .* got a string"),
        ({"params": {"a..b": 1}}, "invalid parameter name 'a..b'"),
        ({"params": {"a": 1, "a.b": 2}}, "'a.b' conflicts with the value given for 'a'"),
        ({"params": {"a.b": 1, "a": {"b": 2}}}, "sets 'a' twice"),
    ],
)
def test_bad_runtime_params_are_refused(execution_input, message):
    with pytest.raises(handler_module.InvalidEvent, match=message):
        handler_module.runtime_params(execution_input)
