"""kedro-sfn export: print a Kedro project's pipeline, resolved for one env, as JSON.

The kedro-sfn binary embeds this file and runs it with the project's own Python
(``PYTHON -c <this source> --project DIR --pipeline NAME [--env ENV]``), so that
Kedro itself — not a re-implementation — loads the project: ``bootstrap_project``,
the ``pipelines`` registry, a ``KedroSession`` for the env, and the session's
catalog with its dataset factory patterns. For manual use:

    python python/kedro_sfn_export.py --project examples/spaceflights --env aws

It prints exactly one JSON document (format ``kedro-sfn/pipeline@1``) on stdout;
everything else (Kedro's logging, warnings, prints in project code) goes to
stderr. The document carries no credentials: only each dataset's type, path
and versioned flag are read from the catalog.

Exit codes: 0 document printed (also when the pipeline does not exist: its
``nodes`` are then empty and ``pipelines`` lists what does), 2 bad arguments,
3 the project could not be loaded, 4 Kedro is not importable in this Python.

One self-contained file, standard library plus Kedro only: it runs in whatever
environment the project has. Supported: Kedro 1.x (tested with 1.7) and 0.19
(checked by hand with 0.19.15 and, for the pre-resolver catalog, 0.19.8).

Why not ``kedro.inspection.get_project_snapshot()`` (Kedro >= 1.4)? Its
snapshot lacks what the document needs: the ``versioned`` flag, locations kept
under ``path``/``filename``, the function's module, which names fell through to
a MemoryDataset; its ``kedro_version`` is the project's ``kedro_init_version``;
and it reads the catalog config without a session, so catalog hooks are not
applied. The public pieces it is built from (``bootstrap_project``, the
``pipelines`` registry, the session's catalog and its config resolver) are
used directly instead, which also works on 0.19.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import traceback
import warnings
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Optional

FORMAT = "kedro-sfn/pipeline@1"
EXIT_PROJECT = 3
EXIT_NO_KEDRO = 4
# The Rust side shows the last 25 non-empty lines of stderr: summary, traceback
# tail and hint together stay within that.
TRACEBACK_LINES = 17
# Catalog keys that hold a dataset's location, in the order they are looked for.
PATH_KEYS = ("filepath", "path", "filename")
MEMORY_DATASET = "kedro.io.MemoryDataset"
# find_pipelines() words its import failures like this in every Kedro 0.19-1.7.
PIPELINE_IMPORT_WARNING = "An error occurred while importing the"

DatasetConfig = dict  # a catalog entry: {"type": ..., "filepath": ..., ...}


class PipelineImportError(ImportError):
    """A pipeline module failed to import and ``find_pipelines`` only warned.

    Carries the original traceback text, which Kedro put in the warning.
    """

    def __init__(self, message: str) -> None:
        summary, _, details = message.partition("\n")
        super().__init__(summary.strip())
        self.details = details.strip()


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the arguments the Rust side passes; argparse exits 2 on bad ones."""
    parser = argparse.ArgumentParser(
        prog="kedro_sfn_export",
        description="Print a Kedro project's pipeline and catalog as kedro-sfn JSON.",
    )
    parser.add_argument("--project", required=True, help="the Kedro project's root directory")
    parser.add_argument(
        "--env",
        default=None,
        help="Kedro env whose catalog to resolve (default: Kedro's own default)",
    )
    parser.add_argument("--pipeline", default="__default__", help="registered pipeline name")
    parser.add_argument(
        "--with-catalog",
        action="store_true",
        help="add each dataset's catalog entry as written (credentials by name only), "
        "under the key 'catalog' (what `kedro-sfn init` copies into the new env)",
    )
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    """Export and print; return the process exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    real_stdout = divert_stdout()
    # A read-only export, often run in CI without network: never phone home.
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

    kedro_error = import_kedro_error()
    if kedro_error is not None:
        print(kedro_error, file=sys.stderr)
        return EXIT_NO_KEDRO

    project = Path(args.project).expanduser().resolve()
    try:
        document = export(project, args.env, args.pipeline, args.with_catalog)
    except Exception as exc:  # noqa: BLE001 - any failure here is the project's
        report_load_failure(project, exc)
        return EXIT_PROJECT

    real_stdout.write(render(document))
    real_stdout.flush()
    return 0


def divert_stdout() -> Any:
    """Send everything written to stdout to stderr; return a handle on the real stdout.

    Kedro configures (rich) logging when ``kedro.framework.project`` is imported,
    and project code or hooks may ``print``: none of it may reach the JSON. The
    file descriptor itself is redirected, so output from C extensions and
    subprocesses is caught too.
    """
    sys.stdout.flush()
    try:
        real = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)
    except OSError:  # no usable fd 1: fall back to swapping the Python object
        real = sys.stdout
    sys.stdout = sys.stderr
    return real


def import_kedro_error() -> Optional[str]:
    """``None`` when Kedro imports, else the message to show (exit code 4)."""
    try:
        import kedro  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name == "kedro":
            return f"kedro is not installed in {sys.executable}; install it or pass --python"
        return f"kedro could not be imported in {sys.executable}: {type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a broken install
        return f"kedro could not be imported in {sys.executable}: {type(exc).__name__}: {exc}"
    return None


def render(document: dict) -> str:
    """Pretty JSON with a trailing newline, as the Rust side writes it too."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------- the export


def export(
    project: Path, env: Optional[str], pipeline_name: str, with_catalog: bool = False
) -> dict:
    """Load the project with Kedro and build the document."""
    import kedro
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    metadata = bootstrap_project(project)
    registry = load_pipelines()
    pipeline = registry.get(pipeline_name)
    stand_in_credentials()

    with KedroSession.create(project_path=project, env=env, save_on_close=False) as session:
        context = session.load_context()
        # Built even for an unknown pipeline, so that a bad env or catalog fails alike.
        lookup = catalog_lookup(context)
        nodes: list = []
        datasets: dict = {}
        entries: dict = {}
        if pipeline is not None:
            nodes = [describe_node(node) for node in pipeline.nodes]
            datasets = describe_datasets(lookup, dataset_names(pipeline.nodes), project)
            if with_catalog:
                entries = catalog_entries(context, dataset_names(pipeline.nodes))
        document = {
            "format": FORMAT,
            "project": {
                "name": metadata.project_name,
                "package": metadata.package_name,
                "kedro_version": kedro.__version__,
            },
            # The env the session used: --env, else $KEDRO_ENV, else null (Kedro
            # then reads conf/base overlaid with its default run env, "local").
            "env": context.env or None,
            "pipeline": pipeline_name,
            "pipelines": sorted(registry),
            "nodes": nodes,
            "datasets": datasets,
        }
        referenced = catalog_credentials(context)
        if referenced:
            document["credentials"] = referenced
        registered = sorted({node.name for p in registry.values() for node in p.nodes})
        if registered != sorted(node["name"] for node in nodes):
            document["registered_nodes"] = registered
        if with_catalog:
            document["catalog"] = entries
        return document


class StandInCredentials(dict):
    """Credentials that are never read: any key holds an entry that names it.

    Exporting needs no secret (only each dataset's type and location), and neither
    ``init`` nor ``check`` may fail because a local ``credentials.yml`` is missing, as it
    is in CI and in the image.
    """

    def __missing__(self, key: str) -> dict:
        return StandInEntry(key)

    def __bool__(self) -> bool:  # Kedro replaces falsy credentials with {}
        return True


class StandInEntry(dict):
    """A credentials entry standing in for ``key``: any field is present, as a placeholder."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def __contains__(self, item: object) -> bool:
        return True

    def __missing__(self, item: str) -> str:
        return f"kedro-sfn-stand-in-{self.key}"


def stand_in_credentials() -> None:
    """Give the project's context class stand-in credentials (see ``StandInCredentials``).

    Kedro reads credentials in ``KedroContext._get_config_credentials`` (0.19.0 to 1.7),
    only to build the catalog; nothing else of the session changes.
    """
    from kedro.framework.project import settings

    def _get_config_credentials(self: Any) -> dict:
        return StandInCredentials()

    settings.CONTEXT_CLASS._get_config_credentials = _get_config_credentials


def catalog_credentials(context: Any) -> dict:
    """Every credentials key the env's catalog names, with the entries (patterns
    included) that name it: Kedro resolves them all when it builds the catalog, so each
    key needs a source on AWS, whichever datasets the pipeline uses."""
    referenced: dict = {}
    for name, config in context.config_loader["catalog"].items():
        if name.startswith("_") or not isinstance(config, dict):
            continue
        for key in credential_names(config):
            referenced.setdefault(key, []).append(name)
    return {key: sorted(names) for key, names in sorted(referenced.items())}


def load_pipelines() -> dict:
    """The project's registered pipelines, by name (``None`` entries dropped).

    ``find_pipelines()`` without ``raise_errors=True`` (its default; project
    templates only pass it since Kedro 1.x) merely *warns* when a pipeline
    module fails to import, and leaves that pipeline out: deploying would then
    silently ship fewer nodes. Those warnings are raised as errors here; other
    warnings are shown as usual.
    """
    from kedro.framework.project import pipelines

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry = {name: p for name, p in dict(pipelines).items() if p is not None}
    for warning in caught:
        message = str(warning.message)
        if message.startswith(PIPELINE_IMPORT_WARNING):
            raise PipelineImportError(message)
        warnings.showwarning(
            warning.message, warning.category, warning.filename, warning.lineno
        )
    return registry


def describe_node(node: Any) -> dict:
    """One node as Kedro names it: namespaced name and dataset names, params included."""
    return {
        "name": node.name,
        "func": function_path(node.func),
        "inputs": list(node.inputs),
        "outputs": list(node.outputs),
        "tags": sorted(node.tags),
        "namespace": node.namespace or None,
    }


def function_path(func: Any) -> str:
    """``module.qualname`` of a node's function (through ``functools.partial``)."""
    while hasattr(func, "func") and hasattr(func, "args"):  # functools.partial
        func = func.func
    module = getattr(func, "__module__", None) or type(func).__module__
    name = (
        getattr(func, "__qualname__", None)
        or getattr(func, "__name__", None)
        or type(func).__qualname__
    )
    return f"{module}.{name}"


def is_parameter(name: str) -> bool:
    """``parameters`` and ``params:*`` are node inputs but not datasets."""
    return name == "parameters" or name.startswith("params:")


def dataset_names(nodes: list) -> set:
    """Every dataset any of the nodes reads or writes."""
    names = set()
    for node in nodes:
        names.update(n for n in (*node.inputs, *node.outputs) if not is_parameter(n))
    return names


# ------------------------------------------------------------------ the catalog


def describe_datasets(
    lookup: Callable[[str], Optional[DatasetConfig]], names: set, project: Path
) -> dict:
    """Each dataset as the session's catalog resolves it for the env, by name."""
    described = {}
    for name in sorted(names):
        config = lookup(name)
        described[name] = (
            {"type": MEMORY_DATASET, "filepath": None, "versioned": False, "default": True}
            if config is None
            else summarize_config(config, project)
        )
    return described


def catalog_lookup(context: Any) -> Callable[[str], Optional[DatasetConfig]]:
    """A function giving a dataset's catalog config, or ``None`` when nothing in
    the catalog matches it (Kedro would then make it a MemoryDataset).

    Order, as Kedro's own catalog applies it: an explicit entry, a dataset put
    into the catalog in code (e.g. by an ``after_catalog_created`` hook), a
    dataset factory pattern (the user's catch-all included).
    """
    catalog = context.catalog
    resolver = getattr(catalog, "config_resolver", None)
    if resolver is None:
        return legacy_catalog_lookup(context, catalog)

    if hasattr(resolver, "match_dataset_pattern"):  # Kedro >= 1.0
        def matches_pattern(name: str) -> bool:
            return bool(
                resolver.match_dataset_pattern(name)
                or resolver.match_user_catch_all_pattern(name)
            )
    else:  # Kedro 0.19.9-0.19.x: one match_pattern (no runtime patterns outside a run)
        def matches_pattern(name: str) -> bool:
            return resolver.match_pattern(name) is not None

    registered = registered_names(catalog)

    def lookup(name: str) -> Optional[DatasetConfig]:
        if name in resolver.config:
            return resolver.config[name]
        if name in registered:
            return config_of_object(catalog, name)
        if matches_pattern(name):
            return resolver.resolve_pattern(name)
        return None

    return lookup


def legacy_catalog_lookup(context: Any, catalog: Any) -> Callable[[str], Optional[DatasetConfig]]:
    """Kedro 0.19.0-0.19.8 (checked against 0.19.3), which has no config resolver.

    Explicit entries come from the config loader (public); factory patterns
    need the catalog's private ``_dataset_patterns``, ``_match_pattern`` and
    ``_resolve_config`` — the only private attributes this exporter touches.
    """
    explicit = {
        name: config
        for name, config in context.config_loader["catalog"].items()
        if not name.startswith("_") and "{" not in name and isinstance(config, dict)
    }
    patterns = getattr(catalog, "_dataset_patterns", {}) or {}
    registered = registered_names(catalog)

    def lookup(name: str) -> Optional[DatasetConfig]:
        if name in explicit:
            return explicit[name]
        if name in registered:
            return config_of_object(catalog, name)
        pattern = catalog._match_pattern(patterns, name)
        if pattern is not None:
            return catalog._resolve_config(name, pattern, copy.deepcopy(patterns[pattern]))
        return None

    return lookup


def catalog_entries(context: Any, names: set) -> dict:
    """Each dataset's catalog entry as the env's config files write it, by name.

    ``None`` for a name no entry or pattern matches (a MemoryDataset). A name a
    factory pattern matches gets the pattern's entry with the placeholders
    filled in, by Kedro's own resolver. Credentials stay *names*: the resolver
    is given a credentials table that maps every name to itself, so no secret
    is read, and the entry can be written into another env's catalog as is.
    Kedro 0.19.9 and later have the resolver (``match_pattern`` before 1.0,
    ``match_dataset_pattern`` since); 0.19.0-0.19.8 match patterns with the
    catalog's own private helpers, as ``legacy_catalog_lookup`` does.
    """
    raw = {
        name: config
        for name, config in context.config_loader["catalog"].items()
        if not name.startswith("_") and isinstance(config, dict)
    }
    try:
        from kedro.io.catalog_config_resolver import CatalogConfigResolver
    except ImportError:
        return legacy_catalog_entries(context.catalog, raw, names)

    referenced = credential_names(raw)
    resolver = CatalogConfigResolver(config=raw, credentials={n: n for n in referenced})
    if hasattr(resolver, "match_dataset_pattern"):  # Kedro >= 1.0
        def matches(name: str) -> bool:
            return bool(
                resolver.match_dataset_pattern(name)
                or resolver.match_user_catch_all_pattern(name)
            )
    else:  # Kedro 0.19.9-0.19.x
        def matches(name: str) -> bool:
            return resolver.match_pattern(name) is not None
    entries = {}
    for name in sorted(names):
        if name in resolver.config:
            entries[name] = resolver.config[name]
        elif matches(name):
            entries[name] = resolver.resolve_pattern(name)
        else:
            entries[name] = None
    return entries


def legacy_catalog_entries(catalog: Any, raw: dict, names: set) -> dict:
    """``catalog_entries`` for Kedro 0.19.0-0.19.8: explicit entries as written, patterns
    matched and filled in by the catalog's ``_match_pattern`` and ``_resolve_config``."""
    patterns = {name: config for name, config in raw.items() if "{" in name}
    if hasattr(catalog, "_sort_patterns"):
        patterns = catalog._sort_patterns(patterns)
    entries = {}
    for name in sorted(names):
        if name in raw and "{" not in name:
            entries[name] = raw[name]
            continue
        pattern = catalog._match_pattern(patterns, name) if patterns else None
        entries[name] = (
            None if pattern is None
            else catalog._resolve_config(name, pattern, copy.deepcopy(patterns[pattern]))
        )
    return entries


def credential_names(value: Any) -> set:
    """Every ``credentials: <name>`` in a catalog config, at any depth."""
    found = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "credentials" and isinstance(inner, str):
                found.add(inner)
            else:
                found |= credential_names(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= credential_names(inner)
    return found


def registered_names(catalog: Any) -> set:
    """Names of datasets the catalog holds (``keys()`` in 1.x, ``list()`` in 0.19)."""
    names = catalog.keys() if hasattr(catalog, "keys") else catalog.list()
    return set(names)


def config_of_object(catalog: Any, name: str) -> DatasetConfig:
    """A config-like summary of a dataset object that has no catalog entry.

    Such datasets are put into the catalog in code. ``_describe()`` is the method
    every ``AbstractDataset`` implements for Kedro's own repr and logs (checked
    0.19-1.7); it holds the path under the dataset's own constructor key.
    """
    dataset = catalog[name] if hasattr(catalog, "__getitem__") else catalog._get_dataset(name)
    cls = type(dataset)
    config: DatasetConfig = {"type": f"{cls.__module__}.{cls.__qualname__}"}
    try:
        description = dataset._describe() or {}
    except Exception:  # noqa: BLE001 - a description is a nicety
        description = {}
    for key in PATH_KEYS:
        if description.get(key) is not None:
            config[key] = str(description[key])
            break
    config["versioned"] = getattr(dataset, "_version", None) is not None
    return config


def summarize_config(config: DatasetConfig, project: Path) -> dict:
    """Type, location and versioned flag of one catalog entry — nothing else, so
    no credentials or other settings ever leave this process."""
    return {
        "type": short_type(config.get("type", "")),
        "filepath": location(config, project),
        "versioned": bool(config.get("versioned", False)),
    }


def short_type(type_name: Any) -> str:
    """The short spelling of a dataset type, whichever way the catalog wrote it.

    ``kedro_datasets.pandas.CSVDataset`` and
    ``kedro_datasets.pandas.csv_dataset.CSVDataset`` become ``pandas.CSVDataset``;
    ``MemoryDataset`` and ``kedro.io.memory_dataset.MemoryDataset`` become
    ``kedro.io.MemoryDataset`` (Kedro looks bare names up in ``kedro.io`` first).
    Any other type is returned as written.
    """
    if not isinstance(type_name, str):  # a class given in code
        type_name = f"{type_name.__module__}.{type_name.__qualname__}"
    parts = type_name.split(".")
    if parts[0] == "kedro_datasets" and len(parts) >= 3:
        return f"{parts[1]}.{parts[-1]}"
    if parts[:2] == ["kedro", "io"] and len(parts) >= 3:
        return f"kedro.io.{parts[-1]}"
    if len(parts) == 1 and is_kedro_io_class(type_name):
        return f"kedro.io.{type_name}"
    return type_name


def is_kedro_io_class(name: str) -> bool:
    """Whether ``kedro.io`` exports a class of that name (MemoryDataset, CachedDataset...)."""
    import kedro.io

    return isinstance(getattr(kedro.io, name, None), type)


def location(config: DatasetConfig, project: Path) -> Optional[str]:
    """The dataset's path, project-relative when local, without URL credentials."""
    for key in PATH_KEYS:
        value = config.get(key)
        if value is not None:
            return redact_url_credentials(project_relative(str(value), project))
    return None


def project_relative(path: str, project: Path) -> str:
    """Undo the absolute paths the session's catalog makes of relative ones.

    Kedro's context rewrites ``data/x.csv`` as ``<project>/data/x.csv``; the
    document shows it as the catalog wrote it, so that it is the same on every
    machine. Paths outside the project and URLs are left as they are.
    """
    if "://" in path or not os.path.isabs(path):
        return path
    try:
        relative = Path(path).resolve().relative_to(project)
    except ValueError:
        return path
    return str(PurePosixPath(*relative.parts)) if relative.parts else "."


URL_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")


def redact_url_credentials(path: str) -> str:
    """``s3://key:secret@bucket/x`` -> ``s3://bucket/x``."""
    return URL_USERINFO.sub(r"\g<scheme>", path, count=1)


# ------------------------------------------------------------------- failures


def report_load_failure(project: Path, exc: BaseException) -> None:
    """One summary line, the end of the traceback, a hint — at most 20 lines."""
    root = root_cause(exc)
    summary = f"{type(exc).__name__}: {first_line(exc)}"
    cause = describe_cause(exc, root)
    if cause:
        summary += f" (caused by {cause})"
    lines = [f"kedro-sfn export: could not load the Kedro project at {project}: {summary}"]
    lines += [f"  {line}" for line in traceback_tail(root)]
    lines.append(hint_for(project, root))
    print("\n".join(lines), file=sys.stderr)


def describe_cause(exc: BaseException, root: BaseException) -> str:
    """What lies under the exception: its chained root, or the last line of the
    traceback Kedro quoted in a pipeline-import warning."""
    if root is not exc:
        return f"{type(root).__name__}: {first_line(root)}"
    details = getattr(exc, "details", "")
    return details.splitlines()[-1].strip() if details else ""


def hint_for(project: Path, root: BaseException) -> str:
    """Import-time failures are almost always a missing dependency in this Python."""
    if isinstance(root, (ImportError, SyntaxError)):
        return (
            "hint: check that the project's dependencies are installed in the Python "
            f"given with --python ({sys.executable}), e.g. `pip install -e {project}`"
        )
    return (
        "hint: check the project's settings and conf/ for this env; "
        f"`kedro run` in {project} with the same Python should show the same error"
    )


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain: the one that says what is wrong."""
    seen = {id(exc)}
    while True:
        inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if inner is None or id(inner) in seen:
            return exc
        seen.add(id(inner))
        exc = inner


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (Kedro's are often multi-line)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


def traceback_tail(exc: BaseException) -> list:
    """The last lines of an exception's traceback (the one Kedro quoted, for
    a pipeline import that it turned into a warning)."""
    details = getattr(exc, "details", "")
    text = details or "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, chain=False))
    lines = [
        line
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith('File "<frozen ')
    ]
    return lines[-TRACEBACK_LINES:]


if __name__ == "__main__":
    sys.exit(main())
