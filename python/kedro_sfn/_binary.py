"""Where the ``kedro-sfn`` binary of this installation is, and how to run it.

The wheel puts the binary in the environment's scripts directory (``bin/`` of a virtual
environment, ``~/.local/bin`` for ``pip install --user``). A PATH lookup alone could run
another installation's binary (a different version than this plugin), so the directories
of this interpreter come first.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Sequence

BINARY = "kedro-sfn.exe" if os.name == "nt" else "kedro-sfn"


class BinaryNotFound(RuntimeError):
    """The distribution's binary is missing: a broken or partial installation."""


def _candidate_dirs() -> list[str]:
    dirs = [sysconfig.get_path("scripts")]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        dirs.append(sysconfig.get_path("scripts", scheme=user_scheme))
    dirs.append(os.path.dirname(sys.executable))
    return [d for d in dirs if d]


def find_binary() -> str:
    """The path of the ``kedro-sfn`` binary installed with this package."""
    dirs = _candidate_dirs()
    for directory in dirs:
        path = os.path.join(directory, BINARY)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    on_path = shutil.which(BINARY)
    if on_path:
        return on_path
    searched = ", ".join(dirs)
    raise BinaryNotFound(
        f"the {BINARY} binary is not installed next to this Python ({sys.executable}); "
        f"searched {searched} and PATH. Reinstall it into this environment: "
        f"{sys.executable} -m pip install --force-reinstall kedro-sfn"
    )


def run(args: Sequence[str]) -> int:
    """Runs the binary with ``args`` and returns its exit code.

    Ctrl-C reaches the binary from the terminal (same process group); this process ignores it
    while waiting, so the binary decides how to stop and its exit code is the one returned.
    """
    process = subprocess.Popen([find_binary(), *args])
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
