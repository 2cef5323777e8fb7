"""Create the plan's functions and state machine in a moto server, run one execution, and
print what happened as JSON: {"status": ..., "entered": [state names], "error": ...}.

Used by tests/it/moto_execution.rs; talks to moto through boto3 only (the Rust side has no AWS
code yet). Usage: moto_run_definition.py ENDPOINT DEFINITION_JSON PLAN_JSON
"""

import json
import sys
import time

import boto3

REGION = "eu-west-1"


def client(service, endpoint):
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def main(endpoint, definition_path, plan_path):
    with open(definition_path) as f:
        definition = f.read()
    with open(plan_path) as f:
        plan = json.load(f)
    role = client("iam", endpoint).create_role(
        RoleName="kedro-sfn-test",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lam = client("lambda", endpoint)
    for function in plan["functions"]:
        lam.create_function(
            FunctionName=function["name"],
            Role=role,
            PackageType="Image",
            Code={"ImageUri": f"123456789012.dkr.ecr.{REGION}.amazonaws.com/test:latest"},
            MemorySize=function["memory_mb"],
            Timeout=function["timeout_s"],
        )
    sfn = client("stepfunctions", endpoint)
    machine = sfn.create_state_machine(
        name=plan["state_machine"]["name"], definition=definition, roleArn=role
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=machine, name="test-execution-1", input=json.dumps({"params": {}})
    )["executionArn"]
    deadline = time.time() + 120
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING" or time.time() > deadline:
            break
        time.sleep(0.2)
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    entered = [
        e["stateEnteredEventDetails"]["name"]
        for e in events
        if "stateEnteredEventDetails" in e
    ]
    print(
        json.dumps(
            {
                "status": described["status"],
                "entered": entered,
                "error": described.get("error"),
                "cause": described.get("cause"),
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
