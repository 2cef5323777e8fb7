"""What the handler's tests share: a real moto S3 server, read-only bind mounts, the CLI.

A missing tool fails a test (never skips it), saying how to get it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HANDLER = REPO / "python" / "kedro_sfn_handler.py"
SETUP_HINT = "run `bash scripts/setup.sh` from the repository root, then use .venv/bin/python"
ROOT_HINT = (
    "run the tests as root (CI does): Lambda's read-only task root is emulated with a "
    "read-only bind mount (mount --bind SRC DST && mount -o remount,bind,ro DST)"
)


def need(condition: bool, what: str) -> None:
    """A missing tool fails the test (never skips), saying how to get it."""
    if not condition:
        pytest.fail(f"{what} is missing: {SETUP_HINT}", pytrace=False)


def need_root(what: str) -> None:
    """Fail (never skip) when not root: ``what`` needs mounts."""
    if os.geteuid() != 0:
        pytest.fail(f"{what} needs root (euid {os.geteuid()}): {ROOT_HINT}", pytrace=False)
    for tool in ("mount", "umount"):
        if shutil.which(tool) is None:
            pytest.fail(f"{what} needs `{tool}`: apt-get install mount", pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def aws_environment(endpoint: str, **extra: str) -> dict:
    """The environment of a task process: moto, telemetry off, nothing of the caller's
    AWS_*, KEDRO_* or LAMBDA_TASK_ROOT."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("AWS_", "KEDRO_")) and k not in ("LAMBDA_TASK_ROOT", "TMPDIR")
    }
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_REGION="eu-west-1",
        KEDRO_DISABLE_TELEMETRY="true",
    )
    env.update(extra)
    return env


def s3_client(endpoint: str):
    try:
        import boto3
    except ImportError:
        need(False, f"boto3 in {sys.executable}")
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="eu-west-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


def run_cli(event: dict, env: dict, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """One task in its own process: the handler's CLI with the event on stdin."""
    return subprocess.run(
        [sys.executable, str(HANDLER)], input=json.dumps(event), capture_output=True,
        text=True, env=env, cwd=cwd, timeout=timeout,
    )


def cli_ok(event: dict, env: dict, cwd: Path) -> tuple[dict, str]:
    """The summary and stderr of a task that must succeed."""
    result = run_cli(event, env, cwd)
    assert result.returncode == 0, f"{event['task']}:\n{result.stderr[-6000:]}"
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"stdout must be one JSON line, got:\n{result.stdout[:2000]}"
    return json.loads(lines[0]), result.stderr


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    """One moto S3 server for the whole session, on a free loopback port."""
    server = Path(sys.executable).parent / "moto_server"
    need(server.exists(), f"moto_server (PyPI moto[server]) next to {sys.executable}")
    log = tempfile.TemporaryFile()
    port = free_port()
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"moto_server did not start:\n{log.read().decode()[-2000:]}")
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def read_only_mount(tmp_path_factory):
    """``mount(src) -> dst``: ``src`` bind-mounted read-only at a new directory, as
    Lambda's task root is read-only; unmounted after the test. Needs root."""
    mounted: list[Path] = []

    def mount(source: Path) -> Path:
        need_root("a read-only task root")
        target = tmp_path_factory.mktemp("read-only")
        for command in (
            ["mount", "--bind", str(source), str(target)],
            ["mount", "-o", "remount,bind,ro", str(target)],
        ):
            done = subprocess.run(command, capture_output=True, text=True, timeout=30)
            if done.returncode != 0:
                if command[1] != "--bind":
                    subprocess.run(["umount", str(target)], capture_output=True, timeout=30)
                pytest.fail(
                    f"`{' '.join(command)}` failed ({done.stderr.strip()}): the test needs "
                    f"root with CAP_SYS_ADMIN (in a container: --privileged or --cap-add "
                    f"SYS_ADMIN); {ROOT_HINT}",
                    pytrace=False,
                )
        mounted.append(target)
        probe = target / ".kedro-sfn-write-probe"
        try:
            probe.write_text("")
        except OSError:
            pass
        else:
            probe.unlink()
            pytest.fail(f"{target} is still writable after remount,ro", pytrace=False)
        return target

    yield mount
    for target in reversed(mounted):
        done = subprocess.run(["umount", str(target)], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:  # busy: detach now, freed when the last user goes
            subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


def snapshot(root: Path) -> dict:
    """Every file and directory under root (size and mtime of files), bytecode caches aside."""
    found = {}
    for path in root.rglob("*"):
        if "__pycache__" in path.parts:
            continue
        info = path.lstat()
        found[str(path.relative_to(root))] = (
            "dir" if path.is_dir() else (info.st_size, info.st_mtime_ns)
        )
    return found
