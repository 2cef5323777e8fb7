"""The handler with a read-only project directory, as Lambda's task root (/var/task) is.

The project is a temporary copy bind-mounted read-only (needs root: the tests
fail, never skip, without it) and the handler runs as on Lambda: its CLI in a
process of its own, or several invocations in one warm process. Kedro puts
relative local filepaths under the project directory; the handler must run the
project from a writable copy in the temp directory (``TMPDIR``, a directory of
each test here, so that the tests can look at what landed there).

Projects: the real spaceflights-pandas (/work/shared/real-projects, rendered
from kedro-starters; raw inputs on moto S3, intermediate parquet files local)
and the transcoding fixture tests/fixtures/transcoding (all local in env base).

Run: .venv/bin/python -m pytest python/tests (as root, after ``bash scripts/setup.sh``).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import (
    HANDLER, REPO, aws_environment, cli_ok, need, need_root, run_cli, s3_client, snapshot,
)

SPACEFLIGHTS = Path(
    os.environ.get("KEDRO_SFN_REAL_PROJECTS", REPO.parent / "shared" / "real-projects")
) / "spaceflights-pandas"
RELAY = REPO / "tests" / "fixtures" / "transcoding"
RAW_BUCKET = "kedro-sfn-readonly-raw"
START = "2026-11-28T10:00:00.250Z"
VERSION = "2026-11-28T10.00.00.250Z"
DATA_PROCESSING = [
    "preprocess_companies_node", "preprocess_shuttles_node", "create_model_input_table_node",
]
# Stale output a developer's local run left in the project (and so in the image): the
# handler must write a new file, not follow the link into the read-only project.
STALE_COMPANIES = {"id": [999], "company_rating": [0.5], "iata_approved": [False]}

sys.path.insert(0, str(HANDLER.parent))
sys.path.insert(0, str(REPO / "tests" / "support"))
import kedro_sfn_handler as handler_module  # noqa: E402
from spaceflights_pandas_data import raw_files  # noqa: E402


def event(task: str, nodes: list, start: str = START, params: dict | None = None,
          env: str | None = None) -> dict:
    return {
        "task": task, "nodes": nodes, "pipeline": "__default__", "env": env,
        "execution_name": f"readonly-{task}", "execution_start_time": start,
        "input": {"params": params or {}},
    }


def copies_in(tmpdir: Path) -> list[Path]:
    return sorted(tmpdir.glob(handler_module.TEMP_COPY_PREFIX + "*"))


def copy_project(source: Path, target: Path) -> Path:
    if not source.is_dir():
        pytest.fail(
            f"the project {source} is missing: spaceflights-pandas is rendered from "
            f"kedro-org/kedro-starters (cookiecutter, kedro_version=1.7.0, tools None, example "
            f"pipeline); set KEDRO_SFN_REAL_PROJECTS to the directory that holds it",
            pytrace=False,
        )
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for path in [target, *target.rglob("*")]:  # the shared projects are read-only files
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    return target


# ---------------------------------------------------- spaceflights-pandas, real


def expected_model_input_table(project: Path):
    """The table the project's own nodes make from raw_files(), read and written in
    the formats of the catalog (CSV, Excel, parquet)."""
    import pandas as pd

    spec = importlib.util.spec_from_file_location(
        "readonly_spaceflights_nodes",
        project / "src" / "spaceflights_pandas" / "pipelines" / "data_processing" / "nodes.py",
    )
    nodes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nodes)

    def parquet(frame):
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        buffer.seek(0)
        return pd.read_parquet(buffer)

    files = raw_files()
    companies = pd.read_csv(io.BytesIO(files["01_raw/companies.csv"]))
    reviews = pd.read_csv(io.BytesIO(files["01_raw/reviews.csv"]))
    shuttles = pd.read_excel(io.BytesIO(files["01_raw/shuttles.xlsx"]), engine="openpyxl")
    return parquet(nodes.create_model_input_table(
        parquet(nodes.preprocess_shuttles(shuttles)),
        parquet(nodes.preprocess_companies(companies)),
        reviews,
    ))


def reporting_node_name(function: str, inputs: str, outputs: str) -> str:
    """The name Kedro gives a node without one (the starter's reporting nodes): the
    function's name and a hash of its module, name, inputs and outputs."""
    from kedro.pipeline import node

    def stand_in(data):
        return data

    stand_in.__name__ = stand_in.__qualname__ = function
    stand_in.__module__ = "spaceflights_pandas.pipelines.reporting.nodes"
    return node(stand_in, inputs, outputs).name


@pytest.fixture
def spaceflights_read_only(tmp_path, moto_endpoint, read_only_mount):
    """spaceflights-pandas, copied, with an env `aws` that puts the raw inputs on moto
    S3 (the rest stays local), a stale intermediate parquet file, mounted read-only."""
    import pandas as pd

    # What the starter's pipelines import and its catalog's datasets need.
    for module in ("openpyxl", "pyarrow", "sklearn", "plotly", "matplotlib", "seaborn"):
        need(importlib.util.find_spec(module) is not None,
             f"{module} in {sys.executable} (pinned in scripts/requirements-dev.txt)")
    need_root("a read-only task root")
    project = copy_project(SPACEFLIGHTS, tmp_path / "spaceflights-pandas")
    for raw in (project / "data" / "01_raw").glob("*.*"):
        raw.unlink()  # the overlay below reads S3; a stray local read must fail
    (project / "conf" / "aws").mkdir()
    (project / "conf" / "aws" / "catalog.yml").write_text(f"""\
companies:
  type: pandas.CSVDataset
  filepath: s3://{RAW_BUCKET}/01_raw/companies.csv

reviews:
  type: pandas.CSVDataset
  filepath: s3://{RAW_BUCKET}/01_raw/reviews.csv

shuttles:
  type: pandas.ExcelDataset
  filepath: s3://{RAW_BUCKET}/01_raw/shuttles.xlsx
  load_args:
    engine: openpyxl
""")
    pd.DataFrame(STALE_COMPANIES).to_parquet(
        project / "data" / "02_intermediate" / "preprocessed_companies.parquet"
    )

    s3 = s3_client(moto_endpoint)
    s3.create_bucket(
        Bucket=RAW_BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    for key, body in raw_files().items():
        s3.put_object(Bucket=RAW_BUCKET, Key=key, Body=body)
    return project, read_only_mount(project)


def test_real_project_group_passes_local_parquet_between_its_nodes_from_a_read_only_root(
    spaceflights_read_only, moto_endpoint, tmp_path
):
    # One invocation, four nodes of the real spaceflights-pandas: the three
    # data_processing nodes hand two local parquet files to each other, and a
    # reporting node writes a local (versioned) plot nobody in the pipeline
    # reads. The raw inputs come from S3; the project is read-only.
    import pandas as pd

    project, read_only = spaceflights_read_only
    before = snapshot(read_only)
    stale = (read_only / "data" / "02_intermediate" / "preprocessed_companies.parquet").read_bytes()
    plot = reporting_node_name(
        "compare_passenger_capacity_exp", "preprocessed_shuttles",
        "shuttle_passenger_capacity_plot_exp",
    )
    temp = tmp_path / "lambda-tmp"
    temp.mkdir()
    env = aws_environment(
        moto_endpoint, KEDRO_SFN_PROJECT_DIR=str(read_only), TMPDIR=str(temp), HOME=str(tmp_path)
    )
    summary, stderr = cli_ok(event("data_processing", [*DATA_PROCESSING, plot], env="aws"),
                             env, read_only)

    assert sorted(summary["nodes"]) == sorted([*DATA_PROCESSING, plot])
    assert [n for n in summary["nodes"] if n in DATA_PROCESSING] == DATA_PROCESSING
    assert summary["datasets_saved"][:2] == ["preprocessed_companies", "preprocessed_shuttles"]
    assert set(summary["datasets_saved"]) == {
        "preprocessed_companies", "preprocessed_shuttles", "model_input_table",
        "shuttle_passenger_capacity_plot_exp",
    }
    [copy_root] = copies_in(temp)
    copy = copy_root / read_only.name
    assert f"kedro-sfn task: project runs from {copy}: a writable copy of {read_only}" in stderr

    # Everything local landed in the copy, as real files; the read-only project is as it was.
    data = copy / "data"
    written = [
        data / "02_intermediate" / "preprocessed_companies.parquet",
        data / "02_intermediate" / "preprocessed_shuttles.parquet",
        data / "03_primary" / "model_input_table.parquet",
        data / "08_reporting" / "shuttle_passenger_capacity_plot_exp.json" / VERSION
        / "shuttle_passenger_capacity_plot_exp.json",
    ]
    for path in written:
        assert path.is_file() and not path.is_symlink(), path
    assert snapshot(read_only) == before
    assert (read_only / "data" / "02_intermediate" / "preprocessed_companies.parquet"
            ).read_bytes() == stale
    assert not (read_only / "data" / "03_primary" / "model_input_table.parquet").exists()
    # The raw inputs (from S3) went through the real nodes, and the stale parquet
    # file was replaced, not read.
    table = pd.read_parquet(data / "03_primary" / "model_input_table.parquet")
    pd.testing.assert_frame_equal(table, expected_model_input_table(project))
    assert 999 not in set(table["company_id"]) and len(table) == 3
    figure = json.loads(written[-1].read_text())
    assert figure["layout"]["title"]["text"] == "Shuttle Passenger capacity"
    # The config was read from the project itself, not copied.
    assert (copy / "conf").is_symlink() and (copy / "src").is_symlink()


# ------------------------------------------- warm process, transcoding fixture

WARM_SCRIPT = r"""
import json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import kedro_sfn_handler as h

events = json.loads(sys.argv[2])
out = {"results": [], "errors": [], "reports": [], "copies": [], "stale_seen": []}
for i, event in enumerate(events):
    try:
        out["results"].append(h.handler(event, None))
    except Exception as exc:
        out["errors"].append({"type": type(exc).__name__, "message": str(exc)})
    [copy] = [c for c in h._RUN_FROM.values()]
    out["copies"].append(str(copy.path))
    report = copy.path / "data" / "08_reporting" / "report.json"
    out["reports"].append(json.loads(report.read_text()) if report.exists() else None)
    stale = copy.path / "data" / "02_intermediate" / "stale.json"
    out["stale_seen"].append(stale.exists())
    # What a previous invocation might leave: the next one must not see it.
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("{}")
    (copy.path / "data" / "02_intermediate" / "scores.json").write_text('[{"player": "x", "score": 99}]')
out["cwd"] = os.getcwd()
print("RESULT " + json.dumps(out))
"""


@pytest.fixture
def relay_read_only(tmp_path, read_only_mount):
    project = copy_project(RELAY, tmp_path / "relay")
    return read_only_mount(project)


def run_warm(events: list, project: Path, temp: Path, cwd: Path) -> dict:
    env = aws_environment("http://127.0.0.1:9", KEDRO_SFN_PROJECT_DIR=str(project),
                          TMPDIR=str(temp))
    done = subprocess.run(
        [sys.executable, "-c", WARM_SCRIPT, str(HANDLER.parent), json.dumps(events)],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-6000:]
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):]), done.stderr


def test_warm_process_runs_transcoded_local_group_from_a_read_only_root_with_a_fresh_copy_each_time(
    relay_read_only, tmp_path
):
    # Env base keeps everything local: scores@pandas goes to a local JSON file
    # that scores@json reads back (transcoded) within the task, and report is
    # a local output nobody reads. Three invocations in one warm process, the
    # working directory read-only as /var/task is.
    before = snapshot(relay_read_only)
    temp = tmp_path / "lambda-tmp"
    temp.mkdir()
    everything = ["make_scores", "rank_scores", "report"]
    events = [
        event("relay", everything, "2026-11-28T11:00:00.001Z"),
        event("relay", everything, "2026-11-28T11:00:00.002Z", {"players": ["ada", "grace"]}),
        # Only the reader: the scores the previous invocations wrote (and the garbage
        # planted after them) are gone, as after a cold start.
        event("relay", ["rank_scores", "report"], "2026-11-28T11:00:00.003Z"),
    ]
    out, stderr = run_warm(events, relay_read_only, temp, relay_read_only)

    first, second = out["results"]
    assert first["datasets_saved"] == ["scores@pandas", "ranking", "report"]
    assert out["reports"][:2] == [
        {"winner": "barbara", "players": 4}, {"winner": "grace", "players": 2},
    ]
    [failed] = out["errors"]
    assert failed["type"] == "NodeFailed"
    assert failed["message"].startswith("node 'rank_scores' failed: DatasetError:")
    assert "scores.json" in failed["message"]
    # One copy for the process, rebuilt for every invocation.
    [copy_root] = copies_in(temp)
    assert out["copies"] == [str(copy_root / relay_read_only.name)] * 3
    assert out["stale_seen"] == [False, False, False]
    assert stderr.count(f"project runs from {copy_root / relay_read_only.name}") == 3
    assert out["cwd"] == str(temp)  # the read-only working directory was left for TMPDIR
    assert snapshot(relay_read_only) == before


# ------------------------------------------------------------- limits and errors


def test_full_temp_dir_fails_the_node_saying_so(relay_read_only, tmp_path):
    # A 64 KB tmpfs as the temp directory: the copy fits (links), the scores of
    # 2000 players (about 140 KB of JSON) do not.
    need_root("a small tmpfs as the temp directory")
    temp = tmp_path / "small-tmp"
    temp.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(temp)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"mount -t tmpfs failed: {done.stderr} (needs root)"
    try:
        players = [f"player-{i:06d}-" + "x" * 40 for i in range(2000)]
        env = aws_environment("http://127.0.0.1:9", KEDRO_SFN_PROJECT_DIR=str(relay_read_only),
                              TMPDIR=str(temp))
        result = run_cli(event("relay", ["make_scores"], params={"players": players}), env,
                         relay_read_only)
    finally:
        subprocess.run(["umount", str(temp)], capture_output=True, timeout=30)
    assert result.returncode == 1, result.stderr[-4000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("kedro-sfn task: NodeFailed: node 'make_scores' failed: ")
    assert "No space left on device" in last
    assert last.endswith(f"({handler_module.NO_SPACE_HINT})")


def test_no_writable_temp_dir_fails_clearly(relay_read_only):
    # A private mount namespace where /tmp and /var/tmp are read-only too (and
    # the working directory, the project, is): no temp directory at all.
    need_root("read-only /tmp in a private mount namespace")
    need(shutil.which("unshare") is not None, "unshare (apt-get install util-linux)")
    mounts = " && ".join(
        f"mount --rbind {d} {d} && mount -o remount,bind,ro {d}" for d in ("/tmp", "/var/tmp")
        if os.path.isdir(d)
    )
    env = aws_environment("http://127.0.0.1:9", KEDRO_SFN_PROJECT_DIR=str(relay_read_only))
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", f'{mounts} && exec "$@"',
         "sh", sys.executable, str(HANDLER)],
        input=json.dumps(event("relay", ["make_scores"])), capture_output=True, text=True,
        env=env, cwd=relay_read_only, timeout=120,
    )
    assert result.returncode == 1, result.stderr[-4000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"kedro-sfn task: NoWritableDirectory: the working directory {relay_read_only} is "
        f"not writable, and no temp directory is writable either (No usable temporary "
        f"directory found in ['/tmp', '/var/tmp', "
    ), last
    assert last.endswith("set TMPDIR to a writable directory")


def test_read_only_temp_dir_for_the_copy_fails_clearly(relay_read_only, tmp_path, monkeypatch):
    # In process: the project is read-only and the temp directory Python picked is too.
    read_only_tmp = relay_read_only / "data"  # a directory of the read-only mount
    monkeypatch.setattr(tempfile, "tempdir", str(read_only_tmp))
    monkeypatch.setattr(handler_module, "_RUN_FROM", {})
    with pytest.raises(handler_module.NoWritableDirectory) as caught:
        handler_module.run_from(relay_read_only, None)
    message = str(caught.value)
    assert message.startswith(
        f"the project directory {relay_read_only} is not writable (as Lambda's task root is "
        f"not), so kedro-sfn runs it from a copy in the temp directory, but {read_only_tmp} "
        f"is not writable either ("
    )
    assert "Read-only file system" in message
    assert message.endswith("set TMPDIR to a writable directory")


def test_copies_left_by_processes_that_are_gone_are_removed(tmp_path):
    # A copy whose lock nobody holds (its process died: a Lambda runtime restarted
    # after a timeout) is deleted when the next copy is made; a live one is not,
    # nor a directory still being set up (no lock file yet).
    import fcntl

    def fake_copy(name: str) -> Path:
        root = tmp_path / (handler_module.TEMP_COPY_PREFIX + name)
        (root / "project" / "data").mkdir(parents=True)
        (root / "project" / "data" / "big.bin").write_bytes(b"x" * 1000)
        return root

    dead, live, new = fake_copy("dead"), fake_copy("live"), fake_copy("new")
    (dead / handler_module.TEMP_COPY_LOCK).write_text("")
    (live / handler_module.TEMP_COPY_LOCK).write_text("")
    with open(live / handler_module.TEMP_COPY_LOCK) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another open file: as another process
        handler_module._remove_stale_copies(tmp_path)
        assert not dead.exists()
        assert (live / "project" / "data" / "big.bin").exists()
        assert (new / "project" / "data" / "big.bin").exists()
