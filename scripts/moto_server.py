"""moto_server, plus the behaviours of AWS that kedro-sfn relies on and moto lacks:
StartExecution on an alias ARN, DescribeStateMachineForExecution giving the definition the
execution ran (moto gives the machine's latest), the two version operations moto does not
implement, ListStateMachineVersions and DeleteStateMachineVersion (a deploy keeps the
newest `deploy.keep_versions`), and a function's LastModified moving when its code or
configuration is updated (moto keeps the creation time; a deploy reads it to know which
functions changed since the served version was published).

    python scripts/moto_server.py -H 127.0.0.1 -p PORT     # moto_server's own arguments

On AWS, starting ``arn:...:stateMachine:NAME:ALIAS`` runs the version the alias routes to
(picked by the routing weights), and the execution belongs to the state machine: it is
listed, described and its history read through the machine. moto 5 answers
``StateMachineDoesNotExist`` instead. kedro-sfn starts its runs through the alias only (a
run after a rollback must run the version rolled back to), so the demo and the tests run
moto through this file: the alias is resolved to a version as AWS does, the version's own
definition runs, and the execution is filed under the machine. `execute --resume` compares
what a failed run ran with what the alias serves now, so each execution's definition is
kept as it started and DescribeStateMachineForExecution answers with it. Nothing else
changes.
"""

from __future__ import annotations

import random
import sys
import threading

from moto.server import main
from moto.stepfunctions.models import StepFunctionBackend
from moto.stepfunctions.responses import StepFunctionResponse

LOCK = threading.Lock()
# Execution ARN -> the definition it started with.
RAN: dict = {}


def alias_target(backend: StepFunctionBackend, arn: str) -> str:
    """The version ARN an alias ARN routes to (by weight); any other ARN unchanged."""
    parts = arn.split(":")
    # arn:aws:states:REGION:ACCOUNT:stateMachine:NAME:QUALIFIER
    if len(parts) != 8 or parts[-1].isnumeric():
        return arn
    alias = backend.describe_state_machine_alias(arn)
    routes = alias.routing_configuration
    weights = [int(route.get("weight", 0)) for route in routes]
    if sum(weights) <= 0:
        return routes[0]["stateMachineVersionArn"]
    return random.choices(
        [route["stateMachineVersionArn"] for route in routes], weights=weights
    )[0]


def with_aliases(start_execution):
    def start(self, state_machine_arn, *args, **kwargs):
        target = alias_target(self, state_machine_arn)
        if target == state_machine_arn:
            execution = start_execution(self, state_machine_arn, *args, **kwargs)
            RAN[execution.execution_arn] = self.describe_state_machine(target).definition
            return execution
        # moto runs only a machine's own definition: start the machine with the version's
        # definition in place (the execution takes its snapshot at start), then put back.
        version = self.describe_state_machine(target)
        machine = self.describe_state_machine(version.source_arn)
        with LOCK:
            latest = (machine.definition, machine.roleArn)
            machine.definition, machine.roleArn = version.definition, version.roleArn
            try:
                execution = start_execution(self, machine.arn, *args, **kwargs)
                RAN[execution.execution_arn] = version.definition
                return execution
            finally:
                machine.definition, machine.roleArn = latest

    return start


def describe_for_execution(original):
    def describe(self):
        result = original(self)
        ran = RAN.get(self._get_param("executionArn"))
        if ran is not None and isinstance(getattr(result, "result", None), dict):
            result.result["definition"] = ran
        return result

    return describe


def list_state_machine_versions(self):
    """ListStateMachineVersions: newest first, as AWS lists them (one page)."""
    from moto.core.responses import ActionResult

    machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
    versions = sorted(machine.versions.items(), key=lambda item: -item[0])
    return ActionResult({"stateMachineVersions": [
        {"stateMachineVersionArn": version.arn, "creationDate": version.creation_date}
        for _, version in versions
    ]})


def delete_state_machine_version(self):
    """DeleteStateMachineVersion; refused, as on AWS, while an alias routes to it."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import ValidationException

    arn = self._get_param("stateMachineVersionArn")
    source, _, number = arn.rpartition(":")
    machine = self.stepfunction_backend.describe_state_machine(source)
    for alias in machine.aliases.values():
        if any(r["stateMachineVersionArn"] == arn for r in alias.routing_configuration):
            raise ValidationException(f"Version {arn} is referenced by the alias {alias.arn}")
    machine.versions.pop(int(number), None)
    return ActionResult({})


def touching(update):
    """An update of a function that moves its LastModified, as Lambda's does."""
    from moto.core.utils import iso_8601_datetime_with_nanoseconds

    def updated(self, *args, **kwargs):
        result = update(self, *args, **kwargs)
        self.last_modified = iso_8601_datetime_with_nanoseconds()
        return result

    return updated


def patch() -> None:
    from moto.awslambda.models import LambdaFunction

    for name in ("update_function_code", "update_configuration"):
        setattr(LambdaFunction, name, touching(getattr(LambdaFunction, name)))
    StepFunctionResponse.list_state_machine_versions = list_state_machine_versions
    StepFunctionResponse.delete_state_machine_version = delete_state_machine_version
    StepFunctionResponse.describe_state_machine_for_execution = describe_for_execution(
        StepFunctionResponse.describe_state_machine_for_execution
    )
    classes = [StepFunctionBackend]
    try:
        from moto.stepfunctions.parser.models import StepFunctionsParserBackend

        classes.append(StepFunctionsParserBackend)
    except ImportError:  # a moto without the executing backend: the base class serves
        pass
    for cls in classes:
        if "start_execution" in cls.__dict__:
            cls.start_execution = with_aliases(cls.__dict__["start_execution"])


if __name__ == "__main__":
    patch()
    sys.argv[0] = "moto_server"
    sys.exit(main())
