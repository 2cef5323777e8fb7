"""Build a Kedro project's wheel and list what the image must install before it.

kedro-sfn embeds this file and runs it with the project's Python:

    python kedro_sfn_package.py --project DIR --out DIR [--extra NAME ...]
                                [--requirements-file FILE]

It writes the wheel into --out (as `kedro package` does, with `pip wheel --no-deps`) and
prints one JSON object on stdout:

    {"wheel": "spaceflights-0.1-py3-none-any.whl", "name": "spaceflights",
     "version": "0.1", "requirements": ["kedro~=1.7.0", ...],
     "sources": ["wheel", ...], "skipped": [{"line": "-e .", "file": ..., "why": ...}],
     "requirements_file": "requirements.txt", "extras_available": ["aws"],
     "source_dir": "src"}

`requirements` are the wheel's own Requires-Dist, plus those of the chosen extras (their
`extra == ...` marker removed), in the wheel's order, then every requirement of the
project's requirements file whose distribution the wheel does not name: many projects (and
Kedro's own template before it read the file dynamically) list what they run with only in
`requirements.txt`. The file is --requirements-file when given, else `requirements.txt` at
the project's root, else `src/requirements.txt`. `sources` says where each requirement came
from ("wheel" or the file's name). Lines pip options or local paths (`-e .`, `-r other.txt`,
`--index-url`) are not carried into the image; each is listed in `skipped` with the reason,
so nothing is dropped silently. The image installs the list in a layer of its own, before
the project's code, so a code-only change rebuilds one small layer.

SOURCE_DATE_EPOCH is fixed, so the same sources give the same wheel bytes; the image tag
and layer cache depend on that.

Exit codes: 0 done, 2 usage (e.g. an unknown extra), 3 the wheel could not be built.
Only the standard library and pip are used.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

# 1980-01-01, the earliest time a zip file can hold.
REPRODUCIBLE_EPOCH = "315532800"

EXTRA_MARKER = re.compile(
    r"""^(?P<req>.*?)\s*;\s*(?P<marker>.*\bextra\s*==\s*['"](?P<extra>[^'"]+)['"].*)$"""
)


def fail(code: int, message: str) -> "NoReturn":  # noqa: F821
    print(f"kedro-sfn package: {message}", file=sys.stderr)
    sys.exit(code)


# Never copied into the wheel's build tree: data, config, caches and old build output (a
# stale build/ directory would put deleted modules back into the wheel).
TOP_LEVEL_IGNORED = {
    ".git", ".venv", "venv", "node_modules", "data", "conf", "build", "dist", "logs",
    "notebooks",
}
EVERYWHERE_IGNORED = shutil.ignore_patterns(
    "__pycache__", "*.egg-info", "*.pyc", ".pytest_cache", "kedro-sfn-*"
)


def ignored(project: pathlib.Path):
    def ignore(directory: str, names: list[str]) -> set[str]:
        skip = set(EVERYWHERE_IGNORED(directory, names))
        if pathlib.Path(directory) == project:
            skip |= TOP_LEVEL_IGNORED & set(names)
        return skip

    return ignore


def build_wheel(project: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="kedro-sfn-wheel-") as scratch:
        # A clean copy: the build writes nothing into the user's project.
        source = pathlib.Path(scratch) / project.name
        shutil.copytree(project, source, ignore=ignored(project), symlinks=True)
        return run_pip_wheel(source, out)


def run_pip_wheel(project: pathlib.Path, out: pathlib.Path) -> pathlib.Path:
    env = dict(os.environ, SOURCE_DATE_EPOCH=REPRODUCIBLE_EPOCH, PIP_NO_INPUT="1")
    command = [
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
        "--quiet", "--wheel-dir", str(out), str(project),
    ]
    # pip's own output goes to our stderr: stdout carries only the JSON.
    result = subprocess.run(command, env=env, stdout=sys.stderr, stderr=sys.stderr)
    if result.returncode != 0:
        fail(3, f"`pip wheel` failed for {project} (exit code {result.returncode}); "
                "run it by hand to see why: " + " ".join(command))
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        fail(3, f"expected one wheel in {out}, found {len(wheels)}")
    return wheels[0]


def read_metadata(wheel: pathlib.Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            fail(3, f"{wheel.name} has no single .dist-info/METADATA")
        text = archive.read(names[0]).decode("utf-8")
    return email.parser.Parser().parsestr(text)


def requirements(metadata: email.message.Message, extras: list[str]) -> list[str]:
    available = sorted(set(metadata.get_all("Provides-Extra") or []))
    unknown = [e for e in extras if e not in available]
    if unknown:
        fail(2, f"unknown extra(s) {', '.join(unknown)}; the project offers: "
                f"{', '.join(available) or 'none'} (image.extras in kedro-sfn.yml)")
    chosen: list[str] = []
    for requirement in metadata.get_all("Requires-Dist") or []:
        match = EXTRA_MARKER.match(requirement)
        if match is None:
            chosen.append(requirement.strip())
        elif match.group("extra") in extras:
            marker = match.group("marker")
            rest = re.sub(r"""\s*(and\s+)?\bextra\s*==\s*['"][^'"]+['"]\s*(and\s+)?""", " ",
                          marker).strip()
            chosen.append(match.group("req").strip() + (f"; {rest}" if rest else ""))
    return chosen


# PEP 508's name at the start of a requirement; PEP 503 normalizes it for comparison.
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def distribution_name(requirement: str) -> str | None:
    """``Scikit_Learn[x]>=1 ; python_version>'3'`` -> ``scikit-learn`` (PEP 503)."""
    match = REQUIREMENT_NAME.match(requirement)
    if match is None:
        return None
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def requirements_file(project: pathlib.Path, explicit: pathlib.Path | None) -> pathlib.Path | None:
    """The file whose requirements the image installs beside the wheel's, or ``None``."""
    if explicit is not None:
        path = explicit if explicit.is_absolute() else project / explicit
        if not path.is_file():
            fail(2, f"the requirements file {path} does not exist (image.requirements_file "
                    "in kedro-sfn.yml)")
        return path
    for candidate in (project / "requirements.txt", project / "src" / "requirements.txt"):
        if candidate.is_file():
            return candidate
    return None


def file_requirements(path: pathlib.Path, project: pathlib.Path) -> tuple[list, list]:
    """The requirements ``path`` lists, and the lines it holds that are not requirements a
    pip in the image can install (options, includes, local paths), each with why."""
    shown = path.relative_to(project) if project in path.parents else path
    found, skipped = [], []
    for raw in path.read_text(encoding="utf-8-sig").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        why = None
        if line.startswith(("-r", "--requirement", "-c", "--constraint")):
            why = "includes another file: list its requirements in image.requirements"
        elif line.startswith(("-e", "--editable")):
            why = "an editable install: the project itself is installed from its wheel"
        elif line.startswith("-"):
            why = "a pip option: the image's pip does not take it from here"
        elif line.startswith((".", "/", "file:")) or distribution_name(line) is None:
            why = "a local path: the image has no copy of it"
        if why is None:
            found.append(line)
        else:
            skipped.append({"line": line, "file": str(shown), "why": why})
    return found, skipped


def merged_requirements(
    wheel_requirements: list, path: pathlib.Path | None, project: pathlib.Path
) -> dict:
    """The wheel's requirements, then the file's that the wheel lacks, with their sources."""
    requirements = list(wheel_requirements)
    sources = ["wheel"] * len(requirements)
    skipped: list = []
    if path is not None:
        named = {distribution_name(r) for r in requirements}
        listed, skipped = file_requirements(path, project)
        shown = str(path.relative_to(project) if project in path.parents else path)
        for requirement in listed:
            name = distribution_name(requirement)
            if name in named:
                continue
            named.add(name)
            requirements.append(requirement)
            sources.append(shown)
    return {"requirements": requirements, "sources": sources, "skipped": skipped}


def source_dir(pyproject: pathlib.Path) -> str:
    """`[tool.kedro] source_dir`: Kedro's bootstrap needs that directory to exist."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        match = re.search(r'^source_dir\s*=\s*"([^"]+)"', pyproject.read_text(), re.M)
        return match.group(1) if match else "src"
    with pyproject.open("rb") as handle:
        return tomllib.load(handle).get("tool", {}).get("kedro", {}).get("source_dir", "src")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kedro_sfn_package")
    parser.add_argument("--project", required=True, type=pathlib.Path)
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--extra", action="append", default=[])
    parser.add_argument("--requirements-file", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    if not (args.project / "pyproject.toml").is_file():
        fail(2, f"{args.project} has no pyproject.toml: is it a Kedro project's root?")
    project = args.project.resolve()
    extra_file = requirements_file(project, args.requirements_file)
    wheel = build_wheel(project, args.out.resolve())
    metadata = read_metadata(wheel)
    merged = merged_requirements(requirements(metadata, args.extra), extra_file, project)
    result = {
        "wheel": wheel.name,
        "name": metadata["Name"],
        "version": metadata["Version"],
        **merged,
        "requirements_file": (
            str(extra_file.relative_to(project) if project in extra_file.parents else extra_file)
            if extra_file is not None else None
        ),
        "extras_available": sorted(set(metadata.get_all("Provides-Extra") or [])),
        "source_dir": source_dir(args.project / "pyproject.toml"),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
