"""``kedro sfn ...``: the kedro-sfn binary as a Kedro project command.

Kedro loads ``commands`` through the ``kedro.project_commands`` entry point when it runs
inside a project. Each subcommand runs the binary with what Kedro already knows, so that
nothing else needs setting:

- ``--project``: the project's root (Kedro finds it from any directory inside it);
- ``--python``: the interpreter running Kedro, which has the project's dependencies;
- ``-e/--env`` and ``-p/--pipeline``, Kedro's own spellings, passed on as ``--env`` and
  ``--pipeline`` where the subcommand takes them.

Every other argument, ``--help`` included, goes to the binary unchanged, so
``kedro sfn plan --help`` shows the binary's own help and a flag added to the binary needs
no change here. ``KEDRO_ENV`` is deliberately not read: the env kedro-sfn deploys (``env:``
in kedro-sfn.yml, usually ``aws``) is rarely the one a shell sets for local runs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from kedro_sfn._binary import BinaryNotFound, run


@dataclass(frozen=True)
class Subcommand:
    """One binary subcommand and which of Kedro's facts it takes."""

    path: tuple[str, ...]
    help: str
    project: bool = True
    python: bool = True
    env: bool = True
    pipeline: bool = True


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand(("init",), "Write the AWS env: catalog on S3, kedro-sfn.yml and the workflow."),
    Subcommand(("check",), "Check that the pipeline can run on Lambda; lists every problem."),
    Subcommand(("plan",), "Plan the state machine and functions; writes the definition and diff."),
    Subcommand(("deploy",), "Deploy the functions and the state machine; optionally run it."),
    Subcommand(
        ("execute",),
        "Start an execution of the deployed state machine; --wait follows it.",
        python=False,
        env=False,
        pipeline=False,
    ),
    Subcommand(
        ("rollback",),
        "Move the alias back to the previous (or a given) state machine version.",
        python=False,
        env=False,
        pipeline=False,
    ),
    Subcommand(("run-task",), "Run one task here through the real handler, as Lambda would."),
    Subcommand(("export",), "Print the pipeline document that kedro-sfn plans from."),
    Subcommand(
        ("image", "build"),
        "Build the Lambda container image of this project.",
        pipeline=False,
    ),
    Subcommand(
        ("image", "push"),
        "Push the built image to ECR and record its digest.",
        project=False,
        python=False,
        env=False,
        pipeline=False,
    ),
)


def binary_args(
    sub: Subcommand,
    project: Path,
    python: str,
    env: str | None,
    pipeline: str | None,
    rest: Sequence[str],
) -> list[str]:
    """The binary's arguments for one ``kedro sfn`` call.

    A flag the user gave explicitly (``--python /other/python``) wins over the one Kedro
    implies: the implied one is left out rather than passed twice.
    """
    given = {arg.split("=", 1)[0] for arg in rest if arg.startswith("--")}
    args = [*sub.path]
    if sub.project and "--project" not in given:
        args += ["--project", str(project)]
    if sub.python and "--python" not in given:
        args += ["--python", python]
    if env is not None:
        args += ["--env", env]
    if pipeline is not None:
        args += ["--pipeline", pipeline]
    return args + list(rest)


def _project_path(metadata) -> Path:
    path = getattr(metadata, "project_path", None)
    if path is None:
        raise click.ClickException(
            "kedro sfn runs inside a Kedro project: run it from the project's directory "
            "(where pyproject.toml has [tool.kedro]), or run kedro-sfn --project DIR"
        )
    return Path(path)


def _make_command(sub: Subcommand) -> click.Command:
    params: list[click.Parameter] = []
    if sub.env:
        params.append(
            click.Option(["-e", "--env"], help="The Kedro env (conf/<env>); passed as --env.")
        )
    if sub.pipeline:
        params.append(
            click.Option(
                ["-p", "--pipeline"], help="The registered pipeline; passed as --pipeline."
            )
        )
    params.append(click.Argument(["rest"], nargs=-1, type=click.UNPROCESSED))

    @click.pass_context
    def callback(ctx: click.Context, rest, env=None, pipeline=None):
        args = binary_args(sub, _project_path(ctx.obj), sys.executable, env, pipeline, rest)
        try:
            code = run(args)
        except BinaryNotFound as error:
            raise click.ClickException(str(error)) from error
        ctx.exit(code)

    return click.Command(
        name=sub.path[-1],
        params=params,
        callback=callback,
        help=sub.help + f" (kedro-sfn {' '.join(sub.path)} --help: all options)",
        short_help=sub.help,
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(name="kedro-sfn")
def commands():
    """kedro-sfn's project commands."""


@commands.group(name="sfn")
def sfn():
    """Ship this project to AWS Step Functions (kedro-sfn). `kedro sfn COMMAND --help` shows
    a command's options; --project, --python, -e/--env and -p/--pipeline are filled in from
    this Kedro project."""


def _group_for(path: tuple[str, ...]) -> click.Group:
    group = sfn
    for name in path[:-1]:
        existing = group.commands.get(name)
        if existing is None:
            existing = click.Group(name=name, help=f"kedro-sfn {name} subcommands.")
            group.add_command(existing)
        group = existing
    return group


for _sub in SUBCOMMANDS:
    _group_for(_sub.path).add_command(_make_command(_sub))
