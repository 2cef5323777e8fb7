"""The `kedro sfn` project commands: which arguments each subcommand gives the binary, and
that click passes everything else through untouched. The installed wheel, run by real Kedro
in a real project, is tested in tests/it/wheel.rs."""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kedro_sfn import _binary, plugin  # noqa: E402

PROJECT = Path("/projects/spaceflights")


def sub(*path: str) -> plugin.Subcommand:
    return next(s for s in plugin.SUBCOMMANDS if s.path == path)


def test_plan_gets_project_python_env_and_pipeline():
    args = plugin.binary_args(
        sub("plan"), PROJECT, "/venv/bin/python", "aws", "data_processing", ["--offline"]
    )
    assert args == [
        "plan",
        "--project",
        "/projects/spaceflights",
        "--python",
        "/venv/bin/python",
        "--env",
        "aws",
        "--pipeline",
        "data_processing",
        "--offline",
    ]


def test_execute_and_rollback_take_no_python():
    for name in ("execute", "rollback"):
        args = plugin.binary_args(sub(name), PROJECT, "/venv/bin/python", None, None, [])
        assert args == [name, "--project", "/projects/spaceflights"]


def test_an_explicit_flag_beats_the_implied_one():
    args = plugin.binary_args(
        sub("check"), PROJECT, "/venv/bin/python", None, None, ["--python=/other", "--project", "x"]
    )
    assert args == ["check", "--python=/other", "--project", "x"]


def test_image_push_takes_nothing_from_the_project():
    assert plugin.binary_args(sub("image", "push"), PROJECT, "/p", None, None, []) == [
        "image",
        "push",
    ]


def test_every_subcommand_is_on_the_sfn_group():
    names = set(plugin.sfn.commands)
    assert names == {"init", "check", "plan", "deploy", "execute", "rollback", "run-task", "export", "image"}
    assert set(plugin.sfn.commands["image"].commands) == {"build", "push"}


@pytest.fixture
def recording_binary(tmp_path, monkeypatch):
    """A stand-in binary on the scripts path that records its arguments and exits 3."""
    record = tmp_path / "args"
    binary = tmp_path / _binary.BINARY
    binary.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\nexit 3\n')
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(_binary, "_candidate_dirs", lambda: [str(tmp_path)])
    return record


def test_click_passes_unknown_flags_and_help_through(recording_binary):
    result = CliRunner().invoke(
        plugin.commands,
        ["sfn", "plan", "-e", "aws", "--out", "out dir", "-vv", "--help"],
        obj=SimpleNamespace(project_path=PROJECT),
    )
    assert result.exit_code == 3, result.output
    assert recording_binary.read_text().splitlines() == [
        "plan",
        "--project",
        str(PROJECT),
        "--python",
        sys.executable,
        "--env",
        "aws",
        "--out",
        "out dir",
        "-vv",
        "--help",
    ]


def test_outside_a_project_says_where_to_run(recording_binary):
    result = CliRunner().invoke(plugin.commands, ["sfn", "plan"], obj=None)
    assert result.exit_code == 1
    assert "runs inside a Kedro project" in result.output
    assert not recording_binary.exists()


def test_a_missing_binary_says_how_to_reinstall(tmp_path, monkeypatch):
    monkeypatch.setattr(_binary, "_candidate_dirs", lambda: [str(tmp_path)])
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(
        plugin.commands, ["sfn", "check"], obj=SimpleNamespace(project_path=PROJECT)
    )
    assert result.exit_code == 1
    assert "pip install --force-reinstall kedro-sfn" in result.output


def test_sfn_help_lists_the_subcommands():
    result = CliRunner().invoke(plugin.commands, ["sfn", "--help"])
    assert result.exit_code == 0
    for name in ("init", "check", "plan", "deploy", "execute", "rollback", "run-task"):
        assert f"  {name} " in result.output, result.output
