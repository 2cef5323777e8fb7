"""kedro-sfn task handler: run some nodes of a Kedro pipeline as one Step Functions task.

AWS Lambda calls ``handler(event, context)``. Each Task state of the state
machine that kedro-sfn writes invokes the function with this event (the Task's
``Parameters``)::

    {"task": "<state name>",
     "nodes": ["preprocess_companies_node", "active_modelling_pipeline.split_data_node"],
     "pipeline": "__default__",
     "env": "aws",                                   # optional: Kedro's default when absent
     "execution": {"Name": "<execution name>",        # $$.Execution, the context
                   "StartTime": "2026-11-27T19:08:38.123Z",  # object (other keys
                   "Input": {"params": {"model_options.test_size": 0.3}}}}  # ignored)

(``execution_name``, ``execution_start_time`` and ``input`` as three keys, the
shape of earlier definitions and of ``--event-from-env``, are read too)

and gets back a small summary::

    {"task": ..., "nodes": [the nodes run, in the order Kedro ran them],
     "datasets_saved": [the outputs of those nodes], "save_version": "2026-11-27T19.08.38.123Z",
     "seconds": 1.234}

What it does, per invocation:

- Opens one ``KedroSession`` for ``env`` and runs exactly ``nodes`` of
  ``pipeline`` in it (``session.run(pipeline_names=[...], node_names=[...])``;
  ``pipeline_name=...`` on Kedro 0.19 to 1.1, whichever ``session.run`` takes),
  so hooks, the catalog, dataset factories and parameters work as in ``kedro run``.
- Runtime parameters come from the execution input's ``"params"`` object, keyed
  as ``kedro run --params`` keys them: ``{"params": {"model_options.test_size": 0.3}}``
  sets ``model_options.test_size`` and keeps the other ``model_options``. The
  input may be absent, ``null`` or ``{}``; other keys of the input are ignored.
- One save version per execution: the session id (which Kedro uses as the save
  version of every versioned dataset) is the execution's start time in Kedro's
  version format (``kedro.io.core.VERSION_FORMAT``, milliseconds, UTC), e.g.
  ``2026-11-27T19.08.38.123Z``. Every task of the execution derives the same one,
  and versions sort by start time. A versioned dataset that a node of the
  pipeline produces is *loaded* at that version too (``load_versions``), not at
  Kedro's "latest", so a task never reads what an overlapping, later execution
  saved. "Produces" follows Kedro's transcoding: ``x@json`` is produced when
  some node writes ``x@pandas`` (or ``x``), since both name the dataset ``x``.
  A versioned free input (produced by no node) loads Kedro's latest.
- A run that resumes a failed one (``kedro-sfn execute --resume``) has
  ``{"resume": {"execution": NAME, "start_time": ISO, "skip": [TASK, ...]}}`` in its
  input: every task saves and loads under the failed run's version (from its start
  time), and a task in ``skip`` (it succeeded in that run) returns at once
  (``"skipped": true``) without running a node.
- An exception in a node fails the invocation with ``NodeFailed`` ("node 'x'
  failed: ValueError: ..."), chained to the original: Lambda reports errorType
  ``NodeFailed`` and that message, which Step Functions shows.
- A bad event raises ``InvalidEvent`` naming the key (or the unknown nodes).

The project: ``$KEDRO_SFN_PROJECT_DIR`` when set (a source checkout), else
``$LAMBDA_TASK_ROOT/kedro_project`` (``/var/task/kedro_project``), where the image
puts ``pyproject.toml`` and ``conf/``; the package itself is installed. Kedro's
``bootstrap_project`` runs once per process (warm invocations reuse it).

Lambda's file system is read-only except ``/tmp``. Nothing here writes to the
project: the session is never saved (``save_on_close=False``, and the default
session store writes nothing anyway) and telemetry is off. When the working
directory is not writable (``/var/task`` on Lambda) the process moves to the
temp directory first, so that anything relative — a ``logging.yml`` file
handler (``info.log``), code writing to ``./`` — lands in ``/tmp``.

Kedro puts a relative local filepath (``data/02_intermediate/x.parquet``) under
the project directory, which on Lambda is read-only. So when the project
directory is not writable, the session runs the project from a writable copy
in the temp directory (``/tmp/kedro-sfn-project-XXXX/kedro_project``); one
line on stderr says where the project runs from. The copy costs next to no
space: every directory of the project is a real directory there, every file a
symbolic link to the original; the config directory (read straight from the
project: the session's ``conf_source``), the source directory and version
control, virtual environment and cache directories are one link each. Before
the run, a link at the local path a node of the task saves to is replaced (a
file: removed; a directory: its linked files copied), so the save writes into
the copy instead of following the link into the read-only project. Absolute
local paths are the user's choice and stay as they are, as do links the project
itself holds. The copy is made once per process and rebuilt at the start of
every invocation: what a warm process's previous invocation wrote locally is
deleted, so every invocation sees the project as a cold start does, whatever
ran before (a local dataset is never a way to hand data from one task to
another: each task may run in another sandbox) and ``/tmp`` holds one
invocation's local data at a time. Its size is Lambda's ephemeral storage (512
MB unless ``ephemeral_storage_mb`` says more); a node that fills it fails with
a ``NodeFailed`` that says so. A copy left by a process that is gone (a Lambda
runtime restarted after a timeout, an earlier local run) is deleted when the
next copy is made (each copy holds a lock while its process lives). When no
temp directory is writable either, the task fails with ``NoWritableDirectory``.

Command line (local runs, and ``kedro-sfn run-task``, which runs this source
with ``python -c``)::

    python kedro_sfn_handler.py < event.json

or, where no stdin can carry the event (an ECS task, whose Task state passes it
as container environment overrides, one variable per event key)::

    python kedro_sfn_handler.py --event-from-env

with ``KEDRO_SFN_TASK``, ``KEDRO_SFN_NODES`` (a JSON array), ``KEDRO_SFN_PIPELINE``,
``KEDRO_SFN_ENV`` (optional), ``KEDRO_SFN_EXECUTION_NAME``,
``KEDRO_SFN_EXECUTION_START_TIME`` and ``KEDRO_SFN_INPUT`` (JSON text; optional).

reads ONE event (a JSON object) from stdin, prints the summary as one JSON line
on stdout and nothing else there (Kedro's logs, warnings and prints go to
stderr). Exit codes: 0 done; 1 the task failed (a node failed, the project could
not be loaded, ...): a traceback and, last, one line
``kedro-sfn task: <ErrorType>: <message>`` on stderr; 2 a bad event (not JSON,
a missing or invalid key, unknown pipeline or nodes), explained on stderr.

Kedro internals touched, on purpose and nowhere else: the session's store
(``session._store``) gets the env and the params (as ``runtime_params``, or
``extra_params`` on Kedro 0.19: what ``KedroSession.create`` calls them), because
the constructor — the only way to choose the session id — takes neither. On
Kedro 0.19.0-0.19.8, whose catalog keeps no config, a dataset's config comes
from the catalog's ``_dataset_patterns``, ``_match_pattern`` and
``_resolve_config`` and the context's ``_convert_paths_to_absolute_posix``.
To know which inputs are versioned, and where the task's local outputs go when
the project runs from a copy, the session's context is loaded once before the
run (so the ``after_context_created`` and ``after_catalog_created`` hooks run twice then).
Which node failed is read from the traceback (Kedro re-raises a node's error
as is, without naming the node).

Known limits: a task that runs again within one execution (a Step Functions
retry after the function did run, a redrive) fails when it saves a versioned
dataset, because Kedro refuses to overwrite a version; two executions that
start in the same millisecond share a version.

One self-contained file, standard library plus Kedro only. Kedro 0.19.0 and
later (run here on 0.19.12, 1.0.0 and 1.7).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

PROG = "kedro-sfn task"
EXIT_FAILED = 1
EXIT_BAD_EVENT = 2
PROJECT_DIR_ENV = "KEDRO_SFN_PROJECT_DIR"
IMAGE_PROJECT_SUBDIR = "kedro_project"
PARAMS_KEY = "params"
# The execution input's key that makes a run the resumption of a failed one (written by
# ``kedro-sfn execute --resume``): {"execution": NAME, "start_time": ISO, "skip": [TASK...]}.
RESUME_KEY = "resume"
# Event key -> the environment variable that carries it in --event-from-env mode.
EVENT_ENV = {
    "task": "KEDRO_SFN_TASK",
    "nodes": "KEDRO_SFN_NODES",
    "pipeline": "KEDRO_SFN_PIPELINE",
    "env": "KEDRO_SFN_ENV",
    "execution_name": "KEDRO_SFN_EXECUTION_NAME",
    "execution_start_time": "KEDRO_SFN_EXECUTION_START_TIME",
    "input": "KEDRO_SFN_INPUT",
}
EVENT_ENV_JSON = frozenset({"nodes", "input"})
EVENT_ENV_OPTIONAL = frozenset({"env", "input"})
EVENT_FROM_ENV_FLAG = "--event-from-env"
TRANSCODING_SEPARATOR = "@"  # Kedro's: "x@pandas" and "x@json" are the dataset "x"
# The writable copy of a read-only project: <temp dir>/kedro-sfn-project-XXXX/<project dir name>,
# beside a lock file its process holds while it lives.
TEMP_COPY_PREFIX = "kedro-sfn-project-"
TEMP_COPY_LOCK = ".lock"
# Directories that the copy links whole instead of rebuilding: no dataset writes there.
LINKED_WHOLE = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__",
    ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox",
})
NO_SPACE_HINT = (
    "no space left on the local disk: on Lambda only the temp directory (/tmp) is "
    "writable, it holds the local datasets of the task, and it has 512 MB unless the "
    "function's ephemeral_storage_mb (kedro-sfn.yml) says more; keep big datasets on S3"
)

# $$.Execution.StartTime: ISO 8601 with 0-9 fractional digits and Z or an offset.
START_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})"
    r"(?:[.,](\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))"
)
START_TIME_EXAMPLE = "2026-11-27T19:08:38.123Z"


class InvalidEvent(ValueError):
    """The event is not what the state machine sends, or names unknown nodes."""


class NodeFailed(Exception):
    """A node raised (or failed loading or saving its data); chained to the original."""

    def __init__(self, node: str, error: BaseException) -> None:
        message = f"node '{node}' failed: {type(error).__name__}: {error}"
        if _is_no_space(error):
            message += f" ({NO_SPACE_HINT})"
        super().__init__(message)
        self.node = node


class NoWritableDirectory(RuntimeError):
    """The project directory is read-only, and no temp directory is writable for its copy."""


class UnsupportedKedro(RuntimeError):
    """The installed Kedro's ``KedroSession.run`` takes no pipeline keyword known here."""


def _is_no_space(error: Optional[BaseException]) -> bool:
    """``error`` or one it was raised from is a full disk (ENOSPC)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
        error = error.__cause__ or error.__context__
    return False


# ------------------------------------------------------------------ the event


def parse_event(event: Any) -> dict:
    """Check the event; return its parts, with the save version and the params."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"the event must be a JSON object, got {_json_type(event)}")
    if "execution" in event:
        event = {**event, **execution_keys(event["execution"])}

    def text(key: str, optional: bool = False) -> Optional[str]:
        if key not in event or (optional and event[key] is None):
            if optional:
                return None
            raise InvalidEvent(f"event key '{key}' is missing")
        value = event[key]
        if not isinstance(value, str) or not value:
            raise InvalidEvent(
                f"event key '{key}' must be a non-empty string, got {_short(value)}"
            )
        return value

    task = text("task")
    pipeline = text("pipeline")
    env = text("env", optional=True)
    execution_name = text("execution_name")
    version = save_version_from_start_time(text("execution_start_time"))
    resume = resume_of(event.get("input"))
    if resume is not None:
        # The failed run's data version: its outputs are this run's inputs, and this
        # run's outputs complete its version.
        version = save_version_from_start_time(resume["start_time"])

    if "nodes" not in event:
        raise InvalidEvent("event key 'nodes' is missing")
    nodes = event["nodes"]
    if (
        not isinstance(nodes, list)
        or not nodes
        or not all(isinstance(n, str) and n for n in nodes)
    ):
        raise InvalidEvent(
            f"event key 'nodes' must be a non-empty list of node names, got {_short(nodes)}"
        )
    duplicates = sorted({n for n in nodes if nodes.count(n) > 1})
    if duplicates:
        raise InvalidEvent(f"event key 'nodes' names a node twice: {', '.join(duplicates)}")

    return {
        "task": task,
        "nodes": nodes,
        "pipeline": pipeline,
        "env": env,
        "execution_name": execution_name,
        "save_version": version,
        "runtime_params": runtime_params(event.get("input")),
        "params_given": given_param_keys(event.get("input")),
        "resumes": resume["execution"] if resume else None,
        "skip": task in resume["skip"] if resume else False,
    }


def resume_of(execution_input: Any) -> Optional[dict]:
    """The execution input's ``"resume"``, checked; ``None`` for a run that resumes
    nothing."""
    if not isinstance(execution_input, dict) or execution_input.get(RESUME_KEY) is None:
        return None
    resume = execution_input[RESUME_KEY]
    shape = ('{"execution": "<failed run>", "start_time": "<its $$.Execution.StartTime>", '
             '"skip": ["<task>", ...]}')
    if not isinstance(resume, dict):
        raise InvalidEvent(f"execution input key '{RESUME_KEY}' must be {shape}, "
                           f"got {_json_type(resume)}")
    execution, start, skip = resume.get("execution"), resume.get("start_time"), resume.get("skip")
    if (
        not isinstance(execution, str) or not execution
        or not isinstance(start, str)
        or not isinstance(skip, list) or not all(isinstance(t, str) for t in skip)
    ):
        raise InvalidEvent(f"execution input key '{RESUME_KEY}' must be {shape}, "
                           f"got {_short(resume)}")
    return {"execution": execution, "start_time": start, "skip": set(skip)}


def execution_keys(execution: Any) -> dict:
    """``$$.Execution`` (the context object) as the event's three execution keys."""
    if not isinstance(execution, dict):
        raise InvalidEvent(
            f"event key 'execution' must be the execution's context object ($$.Execution), "
            f"got {_json_type(execution)}"
        )
    keys = {}
    for key, field in (("execution_name", "Name"), ("execution_start_time", "StartTime")):
        if field not in execution:
            raise InvalidEvent(f"event key 'execution' has no '{field}' ($$.Execution.{field})")
        keys[key] = execution[field]
    keys["input"] = execution.get("Input")
    return keys


def event_from_env(environ: Any) -> dict:
    """The event an ECS task gets as environment variables (``EVENT_ENV``)."""
    event: dict = {}
    for key, variable in EVENT_ENV.items():
        value = environ.get(variable)
        if value is None or (value == "" and key in EVENT_ENV_OPTIONAL):
            if key in EVENT_ENV_OPTIONAL:
                continue
            raise InvalidEvent(f"environment variable {variable} (event key '{key}') is missing")
        if key in EVENT_ENV_JSON:
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise InvalidEvent(
                    f"environment variable {variable} (event key '{key}') must hold JSON: {exc}"
                ) from None
        event[key] = value
    return event


def save_version_from_start_time(start_time: Any) -> str:
    """The execution's save version: its start time in Kedro's version format.

    ``2026-11-27T19:08:38.123456789+01:00`` -> ``2026-11-27T18.08.38.123Z``: UTC,
    cut (not rounded) to milliseconds as ``kedro.io.core.generate_timestamp`` cuts
    the current time, so versions sort by start time and look like Kedro's own.
    """
    from kedro.io.core import VERSION_FORMAT

    match = START_TIME.fullmatch(start_time) if isinstance(start_time, str) else None
    if match is None:
        raise InvalidEvent(
            "event key 'execution_start_time' must be an ISO 8601 time with a zone, like "
            f"{START_TIME_EXAMPLE} ($$.Execution.StartTime), got {_short(start_time)}"
        )
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        zone = timezone.utc
        if not zulu:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            zone = timezone(-offset if sign == "-" else offset)
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int((fraction or "").ljust(6, "0")[:6]), tzinfo=zone,
        ).astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise InvalidEvent(
            f"event key 'execution_start_time' is not a valid time: {start_time!r} ({exc})"
        ) from None
    stamp = moment.strftime(VERSION_FORMAT)  # ...%S.%fZ: microseconds
    return stamp[:-4] + stamp[-1:]  # milliseconds, exactly as generate_timestamp()


def given_param_keys(execution_input: Any) -> list:
    """The runtime param keys as given (``model_options.test_size``), for the warning
    about keys no node reads (``runtime_params`` has checked their shape)."""
    if not isinstance(execution_input, dict):
        return []
    params = execution_input.get(PARAMS_KEY)
    return sorted(params) if isinstance(params, dict) else []


def unread_params(keys: list, pipeline: Any) -> list:
    """The keys no node of ``pipeline`` reads: not as ``params:<key>``, not as a
    parameter that holds it or one of its parts, not through ``parameters``. Kedro runs
    with such a key and ignores it; a typo in a scheduled run's params would go unseen."""
    inputs = {name for node in pipeline.nodes for name in node.inputs}
    if "parameters" in inputs:
        return []
    read = [name[len("params:"):] for name in inputs if name.startswith("params:")]

    def within(outer: str, inner: str) -> bool:
        return inner == outer or inner.startswith(outer + ".")

    return [key for key in keys if not any(within(r, key) or within(key, r) for r in read)]


def runtime_params(execution_input: Any) -> dict:
    """Kedro runtime params from the execution input's ``"params"``.

    Dotted keys nest as with ``kedro run --params``: ``{"a.b": 1, "a": {"c": 2}}``
    becomes ``{"a": {"b": 1, "c": 2}}``; Kedro then merges that into the
    project's parameters.
    """
    if execution_input is None:
        return {}
    if not isinstance(execution_input, dict):
        raise InvalidEvent(
            f"event key 'input' (the execution input) must be a JSON object, "
            f"got {_json_type(execution_input)}"
        )
    params = execution_input.get(PARAMS_KEY)
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise InvalidEvent(
            f"execution input key '{PARAMS_KEY}' must be an object of parameters like "
            f'{{"model_options.test_size": 0.3}}, got {_json_type(params)}'
        )
    nested: dict = {}
    for key, value in params.items():
        path = key.split(".")
        if not all(path):
            raise InvalidEvent(
                f"execution input key '{PARAMS_KEY}' has an invalid parameter name {key!r}"
            )
        _set_nested(nested, path, value, key)
    return nested


def _set_nested(target: dict, path: list, value: Any, key: str) -> None:
    for depth, part in enumerate(path[:-1]):
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise InvalidEvent(
                f"execution input key '{PARAMS_KEY}': {key!r} conflicts with the value "
                f"given for {'.'.join(path[: depth + 1])!r}"
            )
        target = child
    last = path[-1]
    if isinstance(value, dict) and isinstance(target.get(last), dict):
        for sub_key, sub_value in value.items():
            _set_nested(target[last], [sub_key], sub_value, key)
    elif last in target:
        raise InvalidEvent(f"execution input key '{PARAMS_KEY}' sets {key!r} twice")
    else:
        target[last] = value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# ---------------------------------------------------------- process and project


def project_dir() -> Path:
    """``$KEDRO_SFN_PROJECT_DIR``, else ``$LAMBDA_TASK_ROOT/kedro_project``."""
    configured = os.environ.get(PROJECT_DIR_ENV)
    if configured:
        path = Path(configured).expanduser().resolve()
        # Pinned, because prepare_process() may change the working directory.
        os.environ[PROJECT_DIR_ENV] = str(path)
        return path
    return Path(os.environ.get("LAMBDA_TASK_ROOT", "/var/task")) / IMAGE_PROJECT_SUBDIR


def prepare_process(project: Path) -> None:
    """What Lambda's read-only file system needs; before Kedro is first imported.

    - Telemetry off unless set otherwise: kedro-telemetry, when installed, would
      phone home on every invocation and write its consent files.
    - ``KEDRO_LOGGING_CONFIG`` -> the project's ``conf/logging.yml`` when it has
      one and nothing else is set: Kedro looks for ``conf/logging.yml`` relative to
      the working directory, which is the project only under ``kedro run``.
    - An unwritable working directory is left for the temp directory (``/tmp``).

    The project itself is handled by ``run_from`` (a writable copy when needed).
    """
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    if not os.environ.get("KEDRO_LOGGING_CONFIG"):
        for suffix in (".yml", ".yaml"):
            candidate = project / "conf" / f"logging{suffix}"
            if candidate.is_file():
                os.environ["KEDRO_LOGGING_CONFIG"] = str(candidate)
                break
    try:
        cwd = os.getcwd()
        writable = os.access(cwd, os.W_OK)
    except OSError:  # the working directory was removed
        cwd, writable = None, False
    if not writable:
        os.chdir(temp_dir(
            f"the working directory {cwd} is not writable" if cwd
            else "the working directory is gone"
        ))


def temp_dir(why: str) -> Path:
    """The temp directory (``$TMPDIR``, else ``/tmp``, ...), or ``NoWritableDirectory``."""
    try:
        path = Path(tempfile.gettempdir())
    except OSError as exc:  # FileNotFoundError: "No usable temporary directory found in ..."
        raise NoWritableDirectory(
            f"{why}, and no temp directory is writable either ({exc.strerror or exc}); "
            f"set TMPDIR to a writable directory"
        ) from exc
    return path


_BOOTSTRAPPED: dict = {}  # project path -> Kedro's ProjectMetadata, per process


def bootstrap(project: Path) -> Any:
    """``bootstrap_project`` once per process and project (warm Lambdas reuse it)."""
    if project in _BOOTSTRAPPED:
        return _BOOTSTRAPPED[project]
    from kedro.framework.startup import bootstrap_project

    if not (project / "pyproject.toml").is_file():
        raise FileNotFoundError(
            f"no Kedro project at {project} (no pyproject.toml); set {PROJECT_DIR_ENV} "
            f"or put the project in $LAMBDA_TASK_ROOT/{IMAGE_PROJECT_SUBDIR}"
        )
    try:
        metadata = bootstrap_project(project)
    except NotADirectoryError as exc:
        # Kedro insists that the source dir exists, even with the package installed.
        raise NotADirectoryError(
            f"{exc} Kedro needs the project's source directory to exist, "
            f"even when the package is installed (an empty directory will do)."
        ) from exc
    _BOOTSTRAPPED.clear()
    _BOOTSTRAPPED[project] = metadata
    return metadata


class TempCopy:
    """A writable stand-in for a read-only project, in the temp directory.

    ``root`` (``<temp>/kedro-sfn-project-XXXX``) holds the lock file, held while
    this process lives, and ``path``, the copy itself, named as the project's
    directory. ``refresh`` rebuilds ``path`` from the project.
    """

    def __init__(self, project: Path, root: Path, lock: Any) -> None:
        self.project = project
        self.root = root
        self.path = root / (project.name or "project")
        self.lock = lock  # the open lock file: closing it would release the lock
        self.linked: frozenset = frozenset()

    def refresh(self) -> None:
        """Delete what the previous invocation wrote; mirror the project again."""
        try:
            if self.path.exists():
                shutil.rmtree(self.path)
            self.path.mkdir()
            _mirror(self.project, self.path, self.linked)
        except OSError as exc:
            raise NoWritableDirectory(
                f"the project directory {self.project} is not writable, and its copy in "
                f"{self.root} could not be made: {exc}"
            ) from exc


_RUN_FROM: dict = {}  # project -> its TempCopy, or None: the project is writable


def run_from(project: Path, metadata: Any) -> Optional[TempCopy]:
    """The writable copy this invocation runs ``project`` from, fresh; ``None``:
    the project directory is writable and runs as it is.

    Decided once per process; the copy is made then too, and rebuilt at every
    call (see the module's docstring).
    """
    if project not in _RUN_FROM:
        copy = None
        if not os.access(project, os.W_OK):
            copy = _new_temp_copy(project.resolve())
            copy.linked = _linked_whole(copy.project, metadata)
        for old in _RUN_FROM.values():  # another project before, in this process
            if old is not None:
                shutil.rmtree(old.root, ignore_errors=True)
                old.lock.close()
        _RUN_FROM.clear()
        _RUN_FROM[project] = copy
    copy = _RUN_FROM[project]
    if copy is not None:
        copy.refresh()
    return copy


def _new_temp_copy(project: Path) -> TempCopy:
    why = (
        f"the project directory {project} is not writable (as Lambda's task root is "
        f"not), so kedro-sfn runs it from a copy in the temp directory"
    )
    base = temp_dir(why)
    _remove_stale_copies(base)
    try:
        # Resolved: Kedro resolves the session's project path, and so the paths
        # make_outputs_writable() compares with this one.
        root = Path(tempfile.mkdtemp(prefix=TEMP_COPY_PREFIX, dir=base)).resolve()
        lock = _hold_lock(root)
    except OSError as exc:
        raise NoWritableDirectory(
            f"{why}, but {base} is not writable either ({exc}); "
            f"set TMPDIR to a writable directory"
        ) from exc
    return TempCopy(project, root, lock)


def _hold_lock(root: Path) -> Any:
    """Lock ``root`` for this process's lifetime: an exclusive ``flock`` on its lock file.

    The file is locked under another name, then renamed, so another process
    never finds an unlocked lock file in a live copy.
    """
    pending = root / (TEMP_COPY_LOCK + ".new")
    handle = open(pending, "w")  # noqa: SIM115 - held open on purpose
    try:
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # not on Linux: no cleanup of others' stale copies
        pass
    pending.rename(root / TEMP_COPY_LOCK)
    return handle


def _remove_stale_copies(base: Path) -> None:
    """Delete the copies whose process is gone: their lock file can be locked.

    A copy without a lock file yet (being made) or whose lock cannot be opened
    (another user's) is left alone.
    """
    try:
        import fcntl
    except ImportError:
        return
    try:
        candidates = [p for p in base.glob(TEMP_COPY_PREFIX + "*") if not p.is_symlink()]
    except OSError:
        return
    for root in candidates:
        try:
            handle = open(root / TEMP_COPY_LOCK, "r+")  # noqa: SIM115
        except OSError:
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live process holds it
            shutil.rmtree(root, ignore_errors=True)


def _linked_whole(project: Path, metadata: Any) -> frozenset:
    """Directories of the project the copy links whole: config and source."""
    from kedro.framework.project import settings

    linked = set()
    for path in (project / str(settings.CONF_SOURCE), getattr(metadata, "source_dir", None)):
        if path is None:
            continue
        path = Path(path)
        if path != project and project in path.parents:
            linked.add(path)
    return frozenset(linked)


def _mirror(source: Path, target: Path, linked: frozenset) -> None:
    """Rebuild ``source`` under ``target``: directories as directories, anything
    else (files, links, directories in ``linked`` or ``LINKED_WHOLE``, unreadable
    ones) as a symbolic link to the original."""
    with os.scandir(source) as entries:
        for entry in entries:
            original = Path(entry.path)
            copy = target / entry.name
            if (
                entry.is_dir(follow_symlinks=False)
                and entry.name not in LINKED_WHOLE
                and original not in linked
                and os.access(original, os.R_OK | os.X_OK)
            ):
                copy.mkdir()
                _mirror(original, copy, linked)
            else:
                copy.symlink_to(original)


def make_outputs_writable(
    catalog: Any, names: list, copy: TempCopy, context: Any = None,
) -> None:
    """Replace the links in the copy at the local paths that ``names`` save to.

    A link there points into the read-only project: a save would follow it and
    fail. A linked file is removed (the save writes a new one); in a directory
    (a partitioned dataset, say), the linked files are copied, so a save that
    adds to the directory keeps what is there. A versioned dataset saves into a
    new version directory: nothing to do. Paths outside the copy (absolute
    ones, URLs) and links that the project itself holds (to elsewhere) are left
    alone. ``context``: the ``KedroContext`` of ``catalog`` (see ``catalog_lookup``).
    """
    project = str(copy.project)
    lookup = catalog_lookup(catalog, context)
    for name in names:
        config = lookup(name)[1]
        if not isinstance(config, dict) or config.get("versioned"):
            continue
        path = config.get("filepath", config.get("path"))
        if not isinstance(path, str) or "://" in path:
            continue
        path = Path(path)
        if not path.is_absolute() or copy.path not in path.parents:
            continue
        for link in _links_at(path):
            original = os.path.realpath(link)
            if os.path.commonpath([original, project]) != project:
                continue  # the project's own link, to elsewhere
            link.unlink()
            if link != path:
                shutil.copyfile(original, link)


def _links_at(path: Path) -> list:
    """``path`` when it is a link to a file; the links to files under it when it is
    a directory."""
    if path.is_symlink():
        return [path] if path.is_file() else []
    if not path.is_dir():
        return []
    found = []
    for parent, dirs, files in os.walk(path):
        for name in files:
            candidate = Path(parent, name)
            if candidate.is_symlink() and candidate.is_file():
                found.append(candidate)
    return found


def registered_pipeline(name: str) -> Any:
    """The registered pipeline ``name``, or ``InvalidEvent`` listing the registered ones."""
    from kedro.framework.project import pipelines

    lazy = hasattr(pipelines, "set_requested")  # Kedro >= 1.5 loads only what is asked
    if lazy:
        pipelines.set_requested([name])
    error: Optional[Exception] = None
    try:
        pipeline = pipelines[name]
    except Exception as exc:  # noqa: BLE001 - KeyError; Kedro 1.7's find_pipelines
        pipeline, error = None, exc  # raises ImportError for a name it has no module for
    if pipeline is not None:
        return pipeline
    if lazy:
        pipelines.set_requested(None)
    try:
        known = sorted(key for key, value in pipelines.items() if value is not None)
    except Exception:  # noqa: BLE001 - the registry itself is broken: show the first error
        known = None
    if known is None or (name in known and error is not None):
        raise error if error is not None else KeyError(name)
    raise InvalidEvent(
        f"event key 'pipeline': the project registers no pipeline '{name}' "
        f"(registered: {', '.join(known) or 'none'})"
    )


def unknown_nodes_message(pipeline: str, unknown: list, known: set) -> str:
    """Names every unknown node, with the nearest real name where there is one."""
    import difflib

    parts = []
    for name in unknown:
        # The namespaced name of the same node first ("split" -> "ns.split").
        near = sorted(k for k in known if k.endswith("." + name))
        near = near or difflib.get_close_matches(name, sorted(known), n=1)
        parts.append(f"'{name}'" + (f" (did you mean '{near[0]}'?)" if near else ""))
    return (
        f"event key 'nodes': pipeline '{pipeline}' has no node named {', '.join(parts)}; "
        f"node names are the full, namespaced names that `kedro-sfn export` prints"
    )


# ---------------------------------------------------------------- credentials


CREDENTIALS_ENV = "KEDRO_SFN_CREDENTIALS"  # {"<Kedro credentials key>": "secretsmanager:NAME"}
STAND_IN_CREDENTIALS_ENV = "KEDRO_SFN_STAND_IN_CREDENTIALS"  # "1": no AWS call (image test)
CREDENTIAL_SERVICES = {"secretsmanager": "Secrets Manager", "ssm": "SSM Parameter Store"}
_FETCHED_CREDENTIALS: dict = {}  # the env's mapping (as JSON text) -> what it gave, per process


class CredentialsUnavailable(RuntimeError):
    """A credentials source of ``KEDRO_SFN_CREDENTIALS`` could not be read or is not JSON."""


class StandIn(dict):
    """A credentials entry for checks that must not read a secret: any key is present
    and holds a placeholder, so a dataset can be built but never reach a real system."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def __contains__(self, item: object) -> bool:
        return True

    def __missing__(self, item: str) -> str:
        return f"kedro-sfn-stand-in-{self.key}"


def credential_sources(environ: Any) -> dict:
    """``$KEDRO_SFN_CREDENTIALS``: each Kedro credentials key -> (service, name)."""
    text = environ.get(CREDENTIALS_ENV) or "{}"
    try:
        mapping = json.loads(text)
    except ValueError as exc:
        raise CredentialsUnavailable(f"{CREDENTIALS_ENV} is not JSON: {exc}") from None
    if not isinstance(mapping, dict):
        raise CredentialsUnavailable(f"{CREDENTIALS_ENV} must be a JSON object")
    sources = {}
    for key, source in sorted(mapping.items()):
        service, _, name = str(source).partition(":")
        if service not in CREDENTIAL_SERVICES or not name:
            raise CredentialsUnavailable(
                f"{CREDENTIALS_ENV}: credentials '{key}' come from {source!r}; expected "
                f"secretsmanager:NAME or ssm:NAME (credentials: in kedro-sfn.yml)"
            )
        sources[key] = (service, name)
    return sources


def aws_client(service: str) -> Any:
    """A client of ``service`` (boto3 when installed, as on Lambda; else botocore, which
    s3fs brings), honouring ``AWS_REGION`` and ``AWS_ENDPOINT_URL``."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    try:
        import boto3

        return boto3.client(service, region_name=region)
    except ImportError:
        import botocore.session

        return botocore.session.get_session().create_client(service, region_name=region)


def fetch_credentials(key: str, service: str, name: str) -> dict:
    """One credentials entry, read from AWS: a JSON object, never logged."""
    where = f"{CREDENTIAL_SERVICES[service]} ({service}:{name})"
    action = "secretsmanager:GetSecretValue" if service == "secretsmanager" else "ssm:GetParameter"
    try:
        if service == "secretsmanager":
            text = aws_client(service).get_secret_value(SecretId=name)["SecretString"]
        else:
            answer = aws_client(service).get_parameter(Name=name, WithDecryption=True)
            text = answer["Parameter"]["Value"]
    except Exception as exc:  # noqa: BLE001 - botocore's errors, a missing package, ...
        raise CredentialsUnavailable(
            f"credentials '{key}': cannot read {where}: {type(exc).__name__}: {exc}; check "
            f"that it exists in the function's region and that its role may {action} on it"
        ) from None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise CredentialsUnavailable(
            f"credentials '{key}': {where} must hold a JSON object (the entry Kedro's "
            f"credentials.yml would have under '{key}', e.g. {{\"con\": \"postgresql://...\"}})"
        )
    return value


def deployed_credentials(environ: Any, stand_in: bool = False) -> dict:
    """The credentials the deployment maps to AWS, read once per process (a cold start).

    ``stand_in``: placeholders instead, read from nowhere (``image test``, offline).
    """
    sources = credential_sources(environ)
    if stand_in:
        return {key: StandIn(key) for key in sources}
    cache_key = environ.get(CREDENTIALS_ENV) or "{}"
    if cache_key not in _FETCHED_CREDENTIALS:
        fetched = {key: fetch_credentials(key, *source) for key, source in sources.items()}
        _FETCHED_CREDENTIALS.clear()
        _FETCHED_CREDENTIALS[cache_key] = fetched
    return _FETCHED_CREDENTIALS[cache_key]


def install_credentials(extra: dict) -> None:
    """Give Kedro ``extra`` as the env's credentials, beside any the project's config has.

    Kedro reads credentials in ``KedroContext._get_config_credentials`` (0.19.0 to 1.7:
    the one place it does, when it builds the catalog); the context class the project's
    settings name gets a version that adds ``extra``. Nothing is written to disk.
    """
    from kedro.framework.project import settings

    cls = settings.CONTEXT_CLASS
    original = cls.__dict__.get("_kedro_sfn_original_credentials") or cls._get_config_credentials

    def _get_config_credentials(self: Any) -> dict:
        return {**(original(self) or {}), **extra}

    cls._kedro_sfn_original_credentials = original
    cls._get_config_credentials = _get_config_credentials


# -------------------------------------------------------------------- the probe


PROBE_FLAG = "--probe"
NO_MODULE = re.compile(r"No module named '([^']+)'")
MISSING_CREDENTIALS = re.compile(r"Unable to find credentials '([^']+)'")
PIPELINE_IMPORT_WARNING = "An error occurred while importing the"
REQUIREMENTS_FIX = (
    "add the distribution that provides it to the project's dependencies (pyproject.toml or "
    "requirements.txt) or to image.requirements in kedro-sfn.yml, then build the image again"
)


def probe(pipeline_name: str, env: Optional[str], nodes: Optional[list] = None,
          stand_in: bool = False) -> dict:
    """What would make a task fail before its first node runs, all at once.

    Loads the project as a task does (bootstrap, the pipeline's modules, the env's catalog
    with its credentials), then builds every dataset the nodes (default: the pipeline's)
    read or write. Reads and writes no data. Each failure names what is missing (a module,
    a dataset's type, a credentials key), the nodes it stops, and the fix.
    """
    import warnings

    started = time.monotonic()
    failures: list = []
    report = {"pipeline": pipeline_name, "env": env, "failures": failures}

    def fail(kind: str, subject: str, error: Any, fix: str, where: tuple = ()) -> None:
        failures.append({"kind": kind, "subject": subject, "nodes": sorted(where),
                         "error": one_line(str(error))[:600], "fix": fix})

    def finish() -> dict:
        report["ok"] = not failures
        report["seconds"] = round(time.monotonic() - started, 3)
        return report

    project = project_dir()
    try:
        prepare_process(project)
        bootstrap(project)
        import kedro
        from kedro.framework.session import KedroSession

        report["kedro_version"] = kedro.__version__
    except Exception as exc:  # noqa: BLE001 - every failure is reported
        fail("project", str(project), exc, "check that the image holds the project "
             "(kedro_project/) and that Kedro is among its requirements")
        return finish()
    if run_pipeline_keyword(KedroSession.run) is None:
        fail("kedro-version", kedro.__version__, "KedroSession.run takes neither "
             "pipeline_names nor pipeline_name", "use Kedro 0.19.0 or later")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pipeline = registered_pipeline(pipeline_name)
        except Exception as exc:  # noqa: BLE001
            pipeline = None
            error = exc
    for warning in caught:
        text = str(warning.message)
        if text.startswith(PIPELINE_IMPORT_WARNING):
            missing = NO_MODULE.search(text)
            module = text.split("'")[1] if "'" in text else text.split("\n")[0]
            last = [line for line in text.splitlines() if line.strip()][-1]
            if missing:
                fail("module", missing.group(1), f"importing {module}: {last.strip()}",
                     REQUIREMENTS_FIX)
            else:
                fail("pipeline", module, last.strip(), "fix the error in that module")
    if pipeline is None and not failures:
        text = " ".join(f"{type(e).__name__}: {e}" for e in _chain(error))
        missing = NO_MODULE.search(text)
        fail("module" if missing else "pipeline",
             missing.group(1) if missing else pipeline_name, text,
             REQUIREMENTS_FIX if missing else "check the project's pipeline registry")

    # Without the pipeline the catalog is still built: its credentials fail every task.
    wanted = set(nodes or [node.name for node in pipeline.nodes] if pipeline else ())
    to_check = [node for node in pipeline.nodes if node.name in wanted] if pipeline else []
    report["nodes"] = len(to_check)
    users: dict = {}
    for node in to_check:
        for name in (*node.inputs, *node.outputs):
            if name != "parameters" and not name.startswith("params:"):
                users.setdefault(name, set()).add(node.name)
    report["datasets"] = len(users)

    try:
        install_credentials(deployed_credentials(os.environ, stand_in))
    except CredentialsUnavailable as exc:
        fail("credentials", "KEDRO_SFN_CREDENTIALS", exc, "see the message")
        return finish()
    try:
        with open_session(project, "1970-01-01T00.00.00.000Z", env, {}) as session:
            catalog = session.load_context().catalog
    except Exception as exc:  # noqa: BLE001
        missing = MISSING_CREDENTIALS.search(str(exc))
        module = NO_MODULE.search(str(exc))
        if missing:
            key = missing.group(1)
            fail("credentials", key, exc, f"add `{key}: secretsmanager:NAME` (or ssm:NAME) "
                 f"under credentials: in kedro-sfn.yml: the image carries no credentials file")
        elif module:
            fail("module", module.group(1), exc, REQUIREMENTS_FIX)
        else:
            fail("catalog", env or "default env", exc, "check the env's catalog.yml")
        return finish()

    for name in sorted(users):
        try:
            dataset_object(catalog, name)
        except Exception as exc:  # noqa: BLE001
            text = " ".join(str(e) for e in _chain(exc))
            module = NO_MODULE.search(text)
            missing = MISSING_CREDENTIALS.search(text)
            if module:
                fail("module", module.group(1), f"dataset '{name}': {text}", REQUIREMENTS_FIX,
                     tuple(users[name]))
            elif missing:
                fail("credentials", missing.group(1), f"dataset '{name}': {text}",
                     f"add `{missing.group(1)}: secretsmanager:NAME` under credentials: in "
                     f"kedro-sfn.yml", tuple(users[name]))
            else:
                fail("dataset", name, text, "check the dataset's catalog entry",
                     tuple(users[name]))
    return finish()


def _chain(error: BaseException) -> list:
    """``error`` and those it was raised from, outermost first."""
    chain, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def dataset_object(catalog: Any, name: str) -> Any:
    """The dataset ``name`` built by the catalog (entries, patterns, defaults): Kedro 1.x
    catalogs build on access (``catalog[name]``), 0.19's through ``_get_dataset``."""
    getter = getattr(catalog, "_get_dataset", None)
    if getter is not None and not hasattr(type(catalog), "__getitem__"):
        return getter(name)
    return catalog[name]


def run_pipeline_keyword(run: Any) -> Optional[str]:
    """``pipeline_names`` (Kedro >= 1.2) or ``pipeline_name`` (0.19 to 1.1), as
    ``KedroSession.run`` takes it; ``None``: neither."""
    import inspect

    parameters = inspect.signature(run).parameters
    for keyword in ("pipeline_names", "pipeline_name"):
        if keyword in parameters:
            return keyword
    return None


class ProbeFailed(RuntimeError):
    """A probe found what would fail the task: every failure, one per line."""


def probe_message(report: dict) -> str:
    """The failures of a probe, one line each: what, where, and the fix."""
    lines = []
    for failure in report["failures"]:
        where = f" (nodes {', '.join(failure['nodes'])})" if failure["nodes"] else ""
        lines.append(f"{failure['kind']} {failure['subject']}{where}: {failure['error']}; "
                     f"fix: {failure['fix']}")
    return "; ".join(lines)


# ----------------------------------------------------------------- the handler


def handler(event: Any, context: Any = None) -> dict:
    """The Lambda entry point: run the event's nodes; return the summary.

    A probe event (``{"probe": true, "pipeline": ..., "env": ..., "nodes": [...]}``, sent
    by a deploy before the alias moves) runs no node: it checks what the task needs
    (see ``probe``) and fails with ``ProbeFailed`` naming every problem.
    """
    if isinstance(event, dict) and event.get("probe") is True:
        return handle_probe(event)
    started = time.monotonic()
    request = parse_event(event)
    if request["skip"]:
        # Succeeded in the run this one resumes: its outputs are there, under that run's
        # version. Nothing to load, so nothing is bootstrapped.
        _log(
            f"execution {request['execution_name']}, task {request['task']}: skipped, it "
            f"succeeded in {request['resumes']} (outputs under version {request['save_version']})"
        )
        return {
            "task": request["task"],
            "nodes": [],
            "skipped": True,
            "datasets_saved": [],
            "save_version": request["save_version"],
            "seconds": round(time.monotonic() - started, 3),
        }
    project = project_dir()
    prepare_process(project)
    metadata = bootstrap(project)
    if os.environ.get(CREDENTIALS_ENV):
        install_credentials(deployed_credentials(os.environ))

    pipeline = registered_pipeline(request["pipeline"])
    known = {node.name for node in pipeline.nodes}
    unknown = [name for name in request["nodes"] if name not in known]
    if unknown:
        raise InvalidEvent(unknown_nodes_message(request["pipeline"], unknown, known))
    for key in unread_params(request["params_given"], pipeline):
        _log(
            f"warning: the runtime param {key!r} is read by no node of pipeline "
            f"{request['pipeline']!r} (as params:{key}, a part of it, or parameters): "
            f"the run ignores it; check its spelling against the project's parameters"
        )
    wanted = set(request["nodes"])
    to_run = [node for node in pipeline.nodes if node.name in wanted]  # Kedro's order
    pinnable = pinnable_inputs(pipeline, to_run)

    version = request["save_version"]
    _log(
        f"execution {request['execution_name']}, task {request['task']}: "
        f"nodes {', '.join(n.name for n in to_run)}; save version {version}"
    )
    copy = run_from(project, metadata)
    if copy is None:
        _log(f"project runs from {project}")
    else:
        _log(
            f"project runs from {copy.path}: a writable copy of {copy.project}, which is "
            f"read-only; relative local paths of the catalog are in the copy"
        )
    with open_session(
        project, version, request["env"], request["runtime_params"],
        run_path=copy.path if copy is not None else None,
    ) as session:
        which_pipeline = pipeline_argument(session.run, request["pipeline"])
        load_versions = {}
        if pinnable or copy is not None:
            kedro_context = session.load_context()
            catalog = kedro_context.catalog
            if copy is not None:
                make_outputs_writable(catalog, saved_names(to_run), copy, kedro_context)
            load_versions = {
                name: version
                for name in versioned_datasets(catalog, pinnable, kedro_context)
            }
        try:
            session.run(
                **which_pipeline,
                node_names=[node.name for node in to_run],
                load_versions=load_versions or None,
            )
        except Exception as exc:
            failed = failed_node(exc, to_run)
            if failed is None:
                raise
            raise NodeFailed(failed, exc) from exc

    return {
        "task": request["task"],
        "nodes": [node.name for node in to_run],
        "datasets_saved": saved_names(to_run),
        "save_version": version,
        "seconds": round(time.monotonic() - started, 3),
    }


def run_probe(event: Any) -> dict:
    """The report of a probe event (``pipeline``, optional ``env`` and ``nodes``)."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"the probe event must be a JSON object, got {_json_type(event)}")
    pipeline, env, nodes = event.get("pipeline"), event.get("env"), event.get("nodes")
    if not isinstance(pipeline, str) or not pipeline:
        raise InvalidEvent("probe event key 'pipeline' must be a non-empty string")
    if env is not None and not isinstance(env, str):
        raise InvalidEvent("probe event key 'env' must be a string or absent")
    if nodes is not None and not (isinstance(nodes, list) and all(isinstance(n, str) for n in nodes)):
        raise InvalidEvent("probe event key 'nodes' must be a list of node names or absent")
    return probe(pipeline, env, nodes, stand_in=os.environ.get(STAND_IN_CREDENTIALS_ENV) == "1")


def handle_probe(event: dict) -> dict:
    """A probe event: the report, or ``ProbeFailed`` when anything would fail."""
    report = run_probe(event)
    if not report["ok"]:
        raise ProbeFailed(probe_message(report))
    return report


def saved_names(nodes: list) -> list:
    """The outputs of ``nodes``, in order, each once."""
    saved: list = []
    for node in nodes:
        saved.extend(name for name in node.outputs if name not in saved)
    return saved


def strip_transcoding(name: str) -> str:
    """The dataset a node input or output names: ``x@pandas`` -> ``x``.

    Kedro's rule (``kedro.pipeline.transcoding``): the part before the one
    ``@``; Kedro refuses a name with more than one.
    """
    parts = name.split(TRANSCODING_SEPARATOR)
    if len(parts) > 2:
        raise ValueError(
            f"Expected maximum 1 transcoding separator, found {len(parts) - 1} "
            f"instead: '{name}'."
        )
    return parts[0]


def pinnable_inputs(pipeline: Any, nodes: list) -> list:
    """Inputs of ``nodes`` that some node of ``pipeline`` produces, sorted: the ones
    whose load version must be the execution's when they are versioned.

    Compared without the transcoding suffix, as Kedro links them: a node
    writing ``x@pandas`` produces the ``x@json`` another one reads. The names
    returned are the inputs' own (``x@json``): that is the catalog entry a
    load version is given to.
    """
    produced = {strip_transcoding(name) for name in pipeline.all_outputs()}
    return sorted(
        {name for node in nodes for name in node.inputs if strip_transcoding(name) in produced}
    )


def open_session(
    project: Path, version: str, env: Optional[str], params: dict,
    run_path: Optional[Path] = None,
) -> Any:
    """A ``KedroSession`` whose id — hence save version — is ``version``.

    ``KedroSession.create`` (Kedro 1.7) always makes a fresh timestamp id, so the
    session is built with its constructor, which takes ``session_id``, and its
    store gets what ``create`` would put there for the env and the params
    (``load_context`` reads both from it). No git call, no username: nothing
    else uses them, and the store is never saved.

    ``run_path``: the writable copy to run from (Kedro puts relative local
    filepaths under the session's project path); the config is still read from
    ``project``.
    """
    from kedro.framework.project import settings, validate_settings
    from kedro.framework.session import KedroSession

    validate_settings()
    session = KedroSession(
        session_id=version,
        project_path=run_path or project,
        save_on_close=False,
        conf_source=str(project / str(settings.CONF_SOURCE)) if run_path else None,
    )
    data: dict = {"project_path": (run_path or project).resolve(), "session_id": version}
    env = env or os.environ.get("KEDRO_ENV")
    if env:
        data["env"] = env
    if params:
        data[params_store_key(KedroSession)] = params
    session._store.update(data)
    return session


def params_store_key(session_class: Any) -> str:
    """The session store's key for runtime params, as ``KedroSession.create`` names
    its argument (and puts it in the store): ``runtime_params`` (Kedro 1.x) or
    ``extra_params`` (0.19.x). ``load_context`` reads that key."""
    import inspect

    parameters = inspect.signature(session_class.create).parameters
    if "runtime_params" not in parameters and "extra_params" in parameters:
        return "extra_params"
    return "runtime_params"


def pipeline_argument(run: Any, pipeline: str) -> dict:
    """``session.run``'s pipeline argument: ``{"pipeline_names": [pipeline]}`` (Kedro
    >= 1.2) or ``{"pipeline_name": pipeline}`` (0.19.0 to 1.1), whichever ``run``'s
    signature has; ``UnsupportedKedro`` when it has neither."""
    keyword = run_pipeline_keyword(run)
    if keyword == "pipeline_names":
        return {keyword: [pipeline]}
    if keyword == "pipeline_name":
        return {keyword: pipeline}
    import kedro

    raise UnsupportedKedro(
        f"Kedro {getattr(kedro, '__version__', '(version unknown)')} is not supported: its "
        f"KedroSession.run takes neither pipeline_names (Kedro 1.2 and later) nor "
        f"pipeline_name (Kedro 0.19.0 to 1.1); kedro-sfn runs Kedro 0.19.0 and later"
    )


def versioned_datasets(catalog: Any, names: list, context: Any = None) -> list:
    """Those of ``names`` that the catalog declares ``versioned``.

    Kedro's ``load_versions`` only accepts a name that has a catalog entry or
    matches a dataset pattern; on Kedro 1.x a versioned dataset that only the
    catch-all pattern ``{name}`` matches cannot be pinned, so that is an error
    here (Kedro 0.19 accepts the catch-all). ``context``: see ``catalog_lookup``.
    """
    lookup = catalog_lookup(catalog, context)
    versioned = []
    for name in names:
        match, config = lookup(name)
        if match is None:
            continue  # not in the catalog: a MemoryDataset, never versioned
        if not (isinstance(config, dict) and config.get("versioned")):
            continue
        if match == CATCH_ALL:
            raise ValueError(
                f"dataset '{name}' is versioned through the catch-all pattern, "
                f"and Kedro cannot pin a load version for it: give it a catalog "
                f"entry or a more specific pattern"
            )
        versioned.append(name)
    return versioned


def dataset_config(catalog: Any, name: str, context: Any = None) -> Optional[dict]:
    """The catalog's config of dataset ``name`` (an entry or a pattern, the catch-all
    included, with Kedro's relative paths already made absolute), or ``None``.
    ``context``: see ``catalog_lookup``."""
    return catalog_lookup(catalog, context)(name)[1]


# What catalog_lookup found a dataset name to be: an entry, a dataset factory
# pattern that load_versions accepts, Kedro 1.x's user catch-all (which it does not).
ENTRY, PATTERN, CATCH_ALL = "entry", "pattern", "catch-all"


def catalog_lookup(catalog: Any, context: Any = None) -> Any:
    """A function: dataset name -> ``(ENTRY, PATTERN, CATCH_ALL or None, its config)``,
    the config with Kedro's relative paths made absolute; ``(None, None)`` when nothing
    in the catalog matches the name (Kedro then makes it a MemoryDataset).

    Three catalogs: Kedro 1.x's ``config_resolver`` (``match_dataset_pattern``,
    ``match_user_catch_all_pattern``); 0.19.9-0.19.x's (one ``match_pattern``, the
    catch-all included); 0.19.0-0.19.8's, which has no resolver and keeps no config
    of its entries: they are read from ``context`` (the ``KedroContext`` the catalog
    came from; needed then), their paths made absolute as the context makes them for
    the catalog, and patterns from the catalog's private ``_dataset_patterns``.
    """
    resolver = getattr(catalog, "config_resolver", None)
    if resolver is None:
        return _legacy_catalog_lookup(catalog, context)

    if hasattr(resolver, "match_dataset_pattern"):  # Kedro >= 1.0
        def pattern_kind(name: str) -> Optional[str]:
            if resolver.match_dataset_pattern(name):
                return PATTERN
            return CATCH_ALL if resolver.match_user_catch_all_pattern(name) else None
    else:  # Kedro 0.19.9-0.19.x
        def pattern_kind(name: str) -> Optional[str]:
            return PATTERN if resolver.match_pattern(name) is not None else None

    def lookup(name: str) -> tuple:
        if name in resolver.config:
            return ENTRY, resolver.config[name]
        kind = pattern_kind(name)
        return (kind, resolver.resolve_pattern(name)) if kind else (None, None)

    return lookup


def _legacy_catalog_lookup(catalog: Any, context: Any) -> Any:
    """``catalog_lookup`` on Kedro 0.19.0-0.19.8."""
    from copy import deepcopy

    if context is None:
        raise TypeError(
            "the catalog has no config_resolver (Kedro 0.19.0-0.19.8): its entries' "
            "config is read from the KedroContext, so pass the context"
        )
    from kedro.framework.context.context import _convert_paths_to_absolute_posix

    entries = _convert_paths_to_absolute_posix(
        Path(context.project_path),
        {
            name: config
            for name, config in context.config_loader["catalog"].items()
            if not name.startswith("_") and "{" not in name and isinstance(config, dict)
        },
    )
    patterns = getattr(catalog, "_dataset_patterns", None) or {}

    def lookup(name: str) -> tuple:
        if name in entries:
            return ENTRY, entries[name]
        pattern = catalog._match_pattern(patterns, name) if patterns else None
        if pattern is None:
            return None, None
        return PATTERN, catalog._resolve_config(name, pattern, deepcopy(patterns[pattern]))

    return lookup


def failed_node(error: BaseException, nodes: list) -> Optional[str]:
    """The name of the node that ``error`` came from, or ``None`` (a setup error).

    Kedro re-raises a node's exception unchanged, without naming the node. Its
    runner holds the node in a local ``node`` while loading, running and saving
    it, so the innermost traceback frame with a Kedro ``Node`` there names it
    (also for a failed load or save of its data).
    """
    from kedro.pipeline.node import Node

    found = None
    tb = error.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("node")
        if isinstance(candidate, Node):
            found = candidate.name
        tb = tb.tb_next
    return found


def _log(message: str) -> None:
    """A progress line on stderr (CloudWatch on Lambda; never the CLI's stdout)."""
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ CLI


def divert_stdout() -> Any:
    """Send everything written to stdout to stderr; return a handle on the real stdout.

    Kedro's logging (rich) and project code print to stdout; only the summary
    may go there. The file descriptor itself is redirected, so output from C
    extensions and subprocesses is caught too.
    """
    sys.stdout.flush()
    try:
        real = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)
    except OSError:  # no usable fd 1: swap the Python object only
        real = sys.stdout
    sys.stdout = sys.stderr
    return real


def one_line(text: str) -> str:
    """``text`` on one line (Kedro's dataset errors span several)."""
    return " ".join(text.split())


def main(argv: Optional[list] = None) -> int:
    """Read one event from stdin, run it, print the summary; return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    from_env = args == [EVENT_FROM_ENV_FLAG]
    if len(args) == 2 and args[0] == PROBE_FLAG:
        return main_probe(args[1])
    if args and not from_env:
        usage = (
            f"usage: python kedro_sfn_handler.py < event.json\n"
            f"       python kedro_sfn_handler.py {EVENT_FROM_ENV_FLAG}\n"
            f"       python kedro_sfn_handler.py {PROBE_FLAG} "
            f"'{{\"pipeline\": \"__default__\", \"env\": \"aws\"}}'\n\n"
            f"{__doc__.split(chr(10))[0]}"
        )
        print(usage, file=sys.stderr)
        return 0 if args in (["-h"], ["--help"]) else EXIT_BAD_EVENT
    try:
        event = event_from_env(os.environ) if from_env else json.loads(sys.stdin.read())
    except InvalidEvent as exc:
        print(f"{PROG}: bad event: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_EVENT
    except ValueError as exc:
        print(f"{PROG}: stdin must hold one JSON event object: {exc}", file=sys.stderr)
        return EXIT_BAD_EVENT
    return print_outcome(lambda: handler(event, None), "bad event")


def main_probe(text: str) -> int:
    """``--probe EVENT``: print the probe's report as one JSON line. Exit 0 whenever a
    report is printed (its ``ok`` says whether the tasks would start), 2 for a bad event,
    1 when the probe itself could not run."""
    try:
        event = json.loads(text)
    except ValueError as exc:
        print(f"{PROG}: the probe event must be one JSON object: {exc}", file=sys.stderr)
        return EXIT_BAD_EVENT
    return print_outcome(lambda: run_probe(event), "bad probe event")


def print_outcome(run: Any, bad: str) -> int:
    """Runs ``run`` with stdout diverted; prints its result as one JSON line on the real
    stdout (0), or says on stderr why not: ``bad`` input (2), any other failure (1)."""
    real_stdout = divert_stdout()
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    try:
        result = run()
    except InvalidEvent as exc:
        print(f"{PROG}: {bad}: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_BAD_EVENT
    except Exception as exc:  # noqa: BLE001 - every failure is reported, then exit 1
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        print(f"{PROG}: {type(exc).__name__}: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    real_stdout.write(json.dumps(result) + "\n")
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
