"""kedro-sfn task handler: run some nodes of a Kedro pipeline as one Step Functions task.

AWS Lambda calls ``handler(event, context)``. Each Task state of the state
machine that kedro-sfn writes invokes the function with this event (the Task's
``Parameters``)::

    {"task": "<state name>",
     "nodes": ["preprocess_companies_node", "active_modelling_pipeline.split_data_node"],
     "pipeline": "__default__",
     "env": "aws",                                   # optional: Kedro's default when absent
     "execution_name": "<$$.Execution.Name>",
     "execution_start_time": "2026-11-27T19:08:38.123Z",  # $$.Execution.StartTime
     "input": {"params": {"model_options.test_size": 0.3}}}  # $$.Execution.Input

and gets back a small summary::

    {"task": ..., "nodes": [the nodes run, in the order Kedro ran them],
     "datasets_saved": [the outputs of those nodes], "save_version": "2026-11-27T19.08.38.123Z",
     "seconds": 1.234}

What it does, per invocation:

- Opens one ``KedroSession`` for ``env`` and runs exactly ``nodes`` of
  ``pipeline`` in it (``session.run(pipeline_names=[...], node_names=[...])``),
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
  saved. A versioned free input (produced by no node) loads Kedro's latest.
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

Command line (local runs, and ``kedro-sfn run-task``, which runs this source
with ``python -c``)::

    python kedro_sfn_handler.py < event.json

reads ONE event (a JSON object) from stdin, prints the summary as one JSON line
on stdout and nothing else there (Kedro's logs, warnings and prints go to
stderr). Exit codes: 0 done; 1 the task failed (a node failed, the project could
not be loaded, ...): a traceback and, last, one line
``kedro-sfn task: <ErrorType>: <message>`` on stderr; 2 a bad event (not JSON,
a missing or invalid key, unknown pipeline or nodes), explained on stderr.

Kedro internals touched, on purpose and nowhere else: the session's store
(``session._store``) gets the env and the params, because the constructor —
the only way to choose the session id — takes neither. To know which inputs
are versioned, the session's context is loaded once before the run (so the
``after_context_created`` and ``after_catalog_created`` hooks run twice then).
Which node failed is read from the traceback (Kedro re-raises a node's error
as is, without naming the node).

Known limits: a task that runs again within one execution (a Step Functions
retry after the function did run, a redrive) fails when it saves a versioned
dataset, because Kedro refuses to overwrite a version; two executions that
start in the same millisecond share a version.

One self-contained file, standard library plus Kedro only. Kedro 1.x.
"""

from __future__ import annotations

import json
import os
import re
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
        super().__init__(f"node '{node}' failed: {type(error).__name__}: {error}")
        self.node = node


# ------------------------------------------------------------------ the event


def parse_event(event: Any) -> dict:
    """Check the event; return its parts, with the save version and the params."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"the event must be a JSON object, got {_json_type(event)}")

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
    }


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
    """
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    if not os.environ.get("KEDRO_LOGGING_CONFIG"):
        for suffix in (".yml", ".yaml"):
            candidate = project / "conf" / f"logging{suffix}"
            if candidate.is_file():
                os.environ["KEDRO_LOGGING_CONFIG"] = str(candidate)
                break
    try:
        writable = os.access(os.getcwd(), os.W_OK)
    except OSError:  # the working directory was removed
        writable = False
    if not writable:
        os.chdir(tempfile.gettempdir())


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


# ----------------------------------------------------------------- the handler


def handler(event: Any, context: Any = None) -> dict:
    """The Lambda entry point: run the event's nodes; return the summary."""
    started = time.monotonic()
    request = parse_event(event)
    project = project_dir()
    prepare_process(project)
    bootstrap(project)

    pipeline = registered_pipeline(request["pipeline"])
    known = {node.name for node in pipeline.nodes}
    unknown = [name for name in request["nodes"] if name not in known]
    if unknown:
        raise InvalidEvent(unknown_nodes_message(request["pipeline"], unknown, known))
    wanted = set(request["nodes"])
    to_run = [node for node in pipeline.nodes if node.name in wanted]  # Kedro's order
    # Inputs of these nodes that some node of the pipeline produces: the ones
    # whose load version must be this execution's when they are versioned.
    produced = pipeline.all_outputs()
    pinnable = sorted({name for node in to_run for name in node.inputs} & produced)

    version = request["save_version"]
    _log(
        f"execution {request['execution_name']}, task {request['task']}: "
        f"nodes {', '.join(n.name for n in to_run)}; save version {version}"
    )
    with open_session(project, version, request["env"], request["runtime_params"]) as session:
        load_versions = {}
        if pinnable:
            versioned = versioned_datasets(session.load_context().catalog, pinnable)
            load_versions = {name: version for name in versioned}
        try:
            session.run(
                pipeline_names=[request["pipeline"]],
                node_names=[node.name for node in to_run],
                load_versions=load_versions or None,
            )
        except Exception as exc:
            failed = failed_node(exc, to_run)
            if failed is None:
                raise
            raise NodeFailed(failed, exc) from exc

    saved: list = []
    for node in to_run:
        saved.extend(name for name in node.outputs if name not in saved)
    return {
        "task": request["task"],
        "nodes": [node.name for node in to_run],
        "datasets_saved": saved,
        "save_version": version,
        "seconds": round(time.monotonic() - started, 3),
    }


def open_session(project: Path, version: str, env: Optional[str], params: dict) -> Any:
    """A ``KedroSession`` whose id — hence save version — is ``version``.

    ``KedroSession.create`` (Kedro 1.7) always makes a fresh timestamp id, so the
    session is built with its constructor, which takes ``session_id``, and its
    store gets what ``create`` would put there for the env and the params
    (``load_context`` reads both from it). No git call, no username: nothing
    else uses them, and the store is never saved.
    """
    from kedro.framework.project import validate_settings
    from kedro.framework.session import KedroSession

    validate_settings()
    session = KedroSession(session_id=version, project_path=project, save_on_close=False)
    data: dict = {"project_path": project.resolve(), "session_id": version}
    env = env or os.environ.get("KEDRO_ENV")
    if env:
        data["env"] = env
    if params:
        data["runtime_params"] = params
    session._store.update(data)
    return session


def versioned_datasets(catalog: Any, names: list) -> list:
    """Those of ``names`` that the catalog declares ``versioned``.

    Kedro's ``load_versions`` only accepts a name that has a catalog entry or
    matches a dataset pattern; a versioned dataset that only the catch-all
    pattern ``{name}`` matches cannot be pinned, so that is an error here.
    """
    resolver = catalog.config_resolver
    versioned = []
    for name in names:
        if name in resolver.config:
            config = resolver.config[name]
        elif resolver.match_dataset_pattern(name):
            config = resolver.resolve_pattern(name)
        elif resolver.match_user_catch_all_pattern(name):
            if resolver.resolve_pattern(name).get("versioned"):
                raise ValueError(
                    f"dataset '{name}' is versioned through the catch-all pattern, and "
                    f"Kedro cannot pin a load version for it: give it a catalog entry "
                    f"or a more specific pattern"
                )
            continue
        else:
            continue  # not in the catalog: a MemoryDataset, never versioned
        if isinstance(config, dict) and config.get("versioned"):
            versioned.append(name)
    return versioned


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
    if args:
        usage = f"usage: python kedro_sfn_handler.py < event.json\n\n{__doc__.split(chr(10))[0]}"
        print(usage, file=sys.stderr)
        return 0 if args in (["-h"], ["--help"]) else EXIT_BAD_EVENT
    real_stdout = divert_stdout()
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    try:
        event = json.loads(sys.stdin.read())
    except ValueError as exc:
        print(f"{PROG}: stdin must hold one JSON event object: {exc}", file=sys.stderr)
        return EXIT_BAD_EVENT
    try:
        result = handler(event, None)
    except InvalidEvent as exc:
        print(f"{PROG}: bad event: {one_line(str(exc))}", file=sys.stderr)
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
