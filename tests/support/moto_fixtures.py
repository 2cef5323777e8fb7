"""Test fixtures on a moto server, through boto3 (AWS_ENDPOINT_URL points at moto).

    python moto_fixtures.py roles                 -> {"lambda": ARN, "states": ARN}
    python moto_fixtures.py image REPO TAG        -> {"uri": "REGISTRY/REPO@sha256:..."}
        (a placeholder manifest recorded with PutImage: moto runs no containers)
    python moto_fixtures.py function NAME IMAGE_URI ROLE   an untagged function
    python moto_fixtures.py delete-function NAME
    python moto_fixtures.py function-info NAME   -> {"image_uri", "tags"}
    python moto_fixtures.py token                -> {"user", "password", "endpoint"} (ECR login)
    python moto_fixtures.py ecr-digest REPO TAG  -> {"digest"}
    python moto_fixtures.py describe STATE_MACHINE_NAME ALIAS
        -> {"alias_version": ARN, "definition": {...}, "functions": {name: {...}}}
    python moto_fixtures.py run-outcome MACHINE NAME
        -> {"status", "start_time" (as its first scheduled task was given it),
            "succeeded": [Task states with a TaskSucceeded event]}
    python moto_fixtures.py topic NAME          -> {"arn"} an SNS topic
    python moto_fixtures.py operations GROUP RULE
        -> {"group": {"tags"} | null, "schedules": {name: {...}}, "rule": {...} | null}
    python moto_fixtures.py schedule GROUP NAME TARGET_ARN ROLE   a schedule made by hand
    python moto_fixtures.py alert-message RULE MACHINE_ARN
        -> {"messages": [...]} what the rule's own pattern and input transformer make of
           a FAILED and a SUCCEEDED status-change event, delivered by moto to an SQS queue
           (moto cannot deliver to SNS: the rule's SNS target is removed first)
    python moto_fixtures.py task-definitions PREFIX
        -> {family: [{"revision", "status", "cpu", "memory", "image", "entry_point", "command",
                      "environment", "tags"}]} every revision, read with boto3's ECS client
"""

import hashlib
import json
import re
import sys

import boto3

TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                   "Action": "sts:AssumeRole"}],
})


def roles():
    iam = boto3.client("iam")
    out = {}
    for key, name in (("lambda", "kedro-sfn-test-lambda"), ("states", "kedro-sfn-test-states")):
        try:
            out[key] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        except iam.exceptions.EntityAlreadyExistsException:
            out[key] = iam.get_role(RoleName=name)["Role"]["Arn"]
    return out


def image(repo, tag):
    ecr = boto3.client("ecr")
    try:
        ecr.create_repository(repositoryName=repo, imageTagMutability="IMMUTABLE")
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(tag),
                   "digest": "sha256:" + hashlib.sha256(tag.encode()).hexdigest()},
        "layers": [],
    }, sort_keys=True)
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag=tag, imageDigest=digest)
    uri = ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]["repositoryUri"]
    return {"uri": f"{uri}@{digest}"}


def function(name, image_uri, role):
    boto3.client("lambda").create_function(
        FunctionName=name, PackageType="Image", Code={"ImageUri": image_uri}, Role=role)
    return {"created": name}


def delete_function(name):
    boto3.client("lambda").delete_function(FunctionName=name)
    return {"deleted": name}


def functions(machine):
    """The functions named for ``machine`` (``<machine>-...``), sorted."""
    names = []
    for page in boto3.client("lambda").get_paginator("list_functions").paginate():
        names += [f["FunctionName"] for f in page["Functions"]
                  if f["FunctionName"].startswith(f"{machine}-")]
    return sorted(names)


def execution_input(machine, name):
    """The input of ``machine``'s execution ``name``, as Step Functions stored it."""
    sfn = boto3.client("stepfunctions")
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == machine)
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
        for execution in page["executions"]:
            if execution["name"] == name:
                described = sfn.describe_execution(executionArn=execution["executionArn"])
                return json.loads(described["input"])
    raise SystemExit(f"no execution {name} of {machine}")


def token():
    import base64
    data = boto3.client("ecr").get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return {"user": user, "password": password, "endpoint": data["proxyEndpoint"]}


def ecr_digest(repo, tag):
    images = boto3.client("ecr").describe_images(repositoryName=repo, imageIds=[{"imageTag": tag}])
    return {"digest": images["imageDetails"][0]["imageDigest"]}


def function_info(name):
    got = boto3.client("lambda").get_function(FunctionName=name)
    return {"image_uri": got.get("Code", {}).get("ImageUri"), "tags": got.get("Tags", {})}


def describe(machine, alias):
    sfn = boto3.client("stepfunctions")
    lam = boto3.client("lambda")
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == machine)
    routes = sfn.describe_state_machine_alias(stateMachineAliasArn=f"{arn}:{alias}")["routingConfiguration"]
    version = routes[0]["stateMachineVersionArn"]
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=version)["definition"])
    functions = {}
    for page in lam.get_paginator("list_functions").paginate():
        for f in page["Functions"]:
            got = lam.get_function(FunctionName=f["FunctionName"])
            c = got["Configuration"]
            functions[f["FunctionName"]] = {
                "image_uri": got.get("Code", {}).get("ImageUri"),
                "memory": c.get("MemorySize"), "timeout": c.get("Timeout"),
                "environment": c.get("Environment", {}).get("Variables", {}),
                "tags": got.get("Tags", {}),
                "description": c.get("Description", ""),
                "code_sha256": c.get("CodeSha256"),
                "versions": [v["Version"] for v in lam.list_versions_by_function(FunctionName=f["FunctionName"])["Versions"]],
            }
    return {"arn": arn, "alias_version": version, "definition": definition, "functions": functions}


def alias_runnable(machine, alias):
    """Whether the alias can run: it exists, every child machine version its definition
    starts exists, and every function version its definition (and those children's) pins
    exists. {"alias": false} when there is no state machine or alias yet."""
    sfn = boto3.client("stepfunctions")
    lam = boto3.client("lambda")
    arn = next((m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == machine), None)
    if arn is None:
        return {"alias": False}
    try:
        routes = sfn.describe_state_machine_alias(stateMachineAliasArn=f"{arn}:{alias}")["routingConfiguration"]
    except sfn.exceptions.ResourceNotFound:
        return {"alias": False}
    definition = sfn.describe_state_machine(stateMachineArn=routes[0]["stateMachineVersionArn"])["definition"]
    missing = []
    definitions = [definition]
    children = sorted(set(re.findall(r'"StateMachineArn":\s*"([^"]+:stateMachine:[^":]+:\d+)"', definition)))
    for child in children:
        try:
            definitions.append(sfn.describe_state_machine(stateMachineArn=child)["definition"])
        except sfn.exceptions.StateMachineDoesNotExist:
            missing.append(child)
    pinned = sorted({pin for text in definitions for pin in re.findall(r'"FunctionName":\s*"([^"]+):(\d+)"', text)})
    for name, version in pinned:
        try:
            lam.get_function(FunctionName=name, Qualifier=version)
        except lam.exceptions.ResourceNotFoundException:
            missing.append(f"{name}:{version}")
    return {"alias": True, "pinned": len(pinned), "children": children, "missing": missing}


def machine(name):
    """A state machine's tags and what its `live` alias routes to (null without one)."""
    sfn = boto3.client("stepfunctions")
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == name)
    tags = {t["key"]: t["value"] for t in sfn.list_tags_for_resource(resourceArn=arn)["tags"]}
    try:
        routes = sfn.describe_state_machine_alias(stateMachineAliasArn=f"{arn}:live")["routingConfiguration"]
        live = routes[0]["stateMachineVersionArn"]
    except sfn.exceptions.ResourceNotFound:
        live = None
    return {"arn": arn, "tags": tags, "live": live}


def machine_version(version_arn):
    """A state machine version's description; fails (exit 1) when it does not exist."""
    sfn = boto3.client("stepfunctions")
    described = sfn.describe_state_machine(stateMachineArn=version_arn)
    return {"arn": described["stateMachineArn"], "bytes": len(described["definition"])}


def task_durations(machine):
    """What the history of each successful execution says, read independently of kedro-sfn:
    {"executions": n, "tasks": {"node\\nnode": [seconds per execution]}}, a task known by its
    sorted nodes (from its TaskScheduled parameters), seconds from TaskStateEntered to
    TaskStateExited."""
    sfn = boto3.client("stepfunctions")
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == machine)
    executions = sfn.list_executions(stateMachineArn=arn, statusFilter="SUCCEEDED")["executions"]
    tasks = {}
    for execution in executions:
        events = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution["executionArn"]):
            events.extend(page["events"])
        by_id = {e["id"]: e for e in events}
        entered = {}
        nodes = {}
        for event in events:
            if event["type"] == "TaskStateEntered":
                entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
            elif event["type"] == "TaskScheduled":
                state = by_id[event["previousEventId"]]["stateEnteredEventDetails"]["name"]
                payload = json.loads(event["taskScheduledEventDetails"]["parameters"])["Payload"]
                nodes[state] = "\n".join(sorted(payload["nodes"]))
            elif event["type"] == "TaskStateExited":
                name = event["stateExitedEventDetails"]["name"]
                seconds = (event["timestamp"] - entered[name]).total_seconds()
                tasks.setdefault(nodes[name], []).append(seconds)
    return {"executions": len(executions), "tasks": tasks}


def task_definitions(prefix):
    ecs = boto3.client("ecs")
    out = {}
    for status in ("ACTIVE", "INACTIVE"):
        for arn in ecs.list_task_definitions(status=status)["taskDefinitionArns"]:
            answer = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
            definition = answer["taskDefinition"]
            if not definition["family"].startswith(prefix):
                continue
            container = definition["containerDefinitions"][0]
            out.setdefault(definition["family"], []).append({
                "revision": definition["revision"],
                "status": definition["status"],
                "cpu": definition.get("cpu"),
                "memory": definition.get("memory"),
                "image": container.get("image"),
                "entry_point": container.get("entryPoint"),
                "command": container.get("command"),
                "environment": {v["name"]: v["value"] for v in container.get("environment", [])},
                "tags": {t["key"]: t["value"] for t in answer.get("tags", [])},
            })
    for revisions in out.values():
        revisions.sort(key=lambda r: r["revision"])
    return out


def topic(name):
    return {"arn": boto3.client("sns").create_topic(Name=name)["TopicArn"]}


def operations(group, rule):
    scheduler = boto3.client("scheduler")
    events = boto3.client("events")
    out = {"group": None, "schedules": {}, "rule": None}
    try:
        got = scheduler.get_schedule_group(Name=group)
        tags = scheduler.list_tags_for_resource(ResourceArn=got["Arn"])["Tags"]
        out["group"] = {"tags": {t["Key"]: t["Value"] for t in tags}}
        for summary in scheduler.list_schedules(GroupName=group)["Schedules"]:
            s = scheduler.get_schedule(GroupName=group, Name=summary["Name"])
            out["schedules"][summary["Name"]] = {
                "expression": s["ScheduleExpression"],
                "timezone": s.get("ScheduleExpressionTimezone"),
                "state": s.get("State"),
                "description": s.get("Description"),
                "target": s["Target"]["Arn"],
                "role": s["Target"]["RoleArn"],
                "input": json.loads(s["Target"].get("Input") or "null"),
                "window": s.get("FlexibleTimeWindow", {}).get("Mode"),
            }
    except scheduler.exceptions.ResourceNotFoundException:
        pass
    try:
        got = events.describe_rule(Name=rule)
        targets = events.list_targets_by_rule(Rule=rule)["Targets"]
        tags = events.list_tags_for_resource(ResourceARN=got["Arn"])["Tags"]
        out["rule"] = {
            "pattern": json.loads(got["EventPattern"]),
            "state": got.get("State"),
            "tags": {t["Key"]: t["Value"] for t in tags},
            "targets": [{"arn": t["Arn"], "transformer": t.get("InputTransformer")} for t in targets],
        }
    except events.exceptions.ResourceNotFoundException:
        pass
    return out


def schedule(group, name, target, role):
    boto3.client("scheduler").create_schedule(
        GroupName=group, Name=name, ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": target, "RoleArn": role})
    return {}


def alert_message(rule, machine_arn):
    events = boto3.client("events")
    sqs = boto3.client("sqs")
    got = events.describe_rule(Name=rule)
    target = events.list_targets_by_rule(Rule=rule)["Targets"][0]
    events.remove_targets(Rule=rule, Ids=[target["Id"]])
    queue = sqs.create_queue(QueueName="alert-probe")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="alert-probe", EventPattern=got["EventPattern"])
    events.put_targets(Rule="alert-probe", Targets=[{
        "Id": "probe", "Arn": queue_arn, "InputTransformer": target["InputTransformer"]}])
    name = machine_arn.split(":")[-1]
    for status in ("FAILED", "SUCCEEDED"):
        run = f"run-{status.lower()}"
        events.put_events(Entries=[{
            "Source": "aws.states",
            "DetailType": "Step Functions Execution Status Change",
            "Detail": json.dumps({
                "executionArn": machine_arn.replace(":stateMachine:", ":execution:") + f":{run}",
                "stateMachineArn": machine_arn, "name": run, "status": status,
                "error": "split_data_node.Failed" if status == "FAILED" else None,
            }),
        }])
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return {"messages": [m["Body"] for m in messages]}


def run_outcome(machine, name):
    """What ``machine``'s execution ``name`` did, read independently of kedro-sfn: its
    status, its start time as ``$$.Execution.StartTime`` (milliseconds, Z), and the Task
    states with a TaskSucceeded event in its history."""
    sfn = boto3.client("stepfunctions")
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == machine)
    execution = arn.replace(":stateMachine:", ":execution:") + ":" + name
    described = sfn.describe_execution(executionArn=execution)
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    by_id = {e["id"]: e for e in events}

    def state_of(event):
        while event is not None:
            if event["type"] == "TaskStateEntered":
                return event["stateEnteredEventDetails"]["name"]
            event = by_id.get(event.get("previousEventId"))
        return None

    succeeded = sorted({state_of(e) for e in events if e["type"] == "TaskSucceeded"} - {None})
    scheduled = [json.loads(e["taskScheduledEventDetails"]["parameters"]) for e in events
                 if e["type"] == "TaskScheduled"]
    return {
        "status": described["status"],
        # $$.Execution.StartTime as the run's tasks were given it (their data version).
        "start_time": scheduled[0]["Payload"]["execution"]["StartTime"] if scheduled else None,
        "succeeded": succeeded,
    }


def executions(machine):
    """The names of ``machine``'s executions, sorted."""
    sfn = boto3.client("stepfunctions")
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == machine)
    return sorted(e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"])


def versions(machine):
    """The version numbers of ``machine`` that exist, ascending."""
    sfn = boto3.client("stepfunctions")
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == machine)
    listed = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    return sorted(int(v["stateMachineVersionArn"].rsplit(":", 1)[1]) for v in listed)


COMMANDS = {"versions": versions, "executions": executions, "run-outcome": run_outcome, "topic": topic, "operations": operations, "schedule": schedule, "alert-message": alert_message, "task-definitions": task_definitions, "machine": machine, "machine-version": machine_version, "alias-runnable": alias_runnable, "task-durations": task_durations, "roles": roles, "image": image, "function": function,
            "delete-function": delete_function, "describe": describe, "functions": functions, "execution-input": execution_input,
            "function-info": function_info, "token": token, "ecr-digest": ecr_digest}

if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])))
