"""Tests of tests/support/fault_proxy.py, the stressed AWS that the Rust deploy tests
put in front of moto.

Each fault is checked against a real moto_server through boto3 with retries off, so
the caller sees every injected fault as an SDK's first attempt would, and moto
itself (reached directly, behind the proxy's back) shows whether a call took effect.

Run: .venv/bin/python -m pytest python/tests/test_fault_proxy.py
"""

from __future__ import annotations

import http.client
import json
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import need

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError, ConnectionClosedError
except ImportError:  # fail, never skip, saying how to get it
    need(False, f"boto3 in {sys.executable}")

PROXY = Path(__file__).resolve().parents[2] / "tests" / "support" / "fault_proxy.py"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:latest"  # moto stubs ECR
PASS_DEFINITION = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
# botocore's retries "max_attempts" counts retries (1 would mean two attempts);
# "total_max_attempts" counts attempts.
NO_RETRIES = Config(
    retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=20,
    s3={"addressing_style": "path"},
)


def aws(service: str, endpoint: str):
    """A boto3 client that makes exactly one attempt per call."""
    return boto3.client(
        service, endpoint_url=endpoint, region_name="eu-west-1", config=NO_RETRIES,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


def control(endpoint: str, path: str, body: dict | None = None) -> dict:
    """A control endpoint's JSON answer: GET without a body, POST with one."""
    request = urllib.request.Request(
        f"{endpoint}/__proxy/{path}", method="GET" if body is None else "POST",
        data=None if body is None else json.dumps(body).encode(),
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def failure(call) -> tuple[str, int]:
    """(error code, HTTP status) of a call that must fail with an AWS error."""
    with pytest.raises(ClientError) as caught:
        call()
    answer = caught.value.response
    return answer["Error"]["Code"], answer["ResponseMetadata"]["HTTPStatusCode"]


def unique(prefix: str) -> str:
    """A fresh resource name: moto is shared by the whole session."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_function(client, name: str, role: str) -> dict:
    return client.create_function(
        FunctionName=name, Role=role, PackageType="Image", Code={"ImageUri": IMAGE}
    )


def states(configuration: dict) -> tuple[str, str]:
    return configuration["State"], configuration["LastUpdateStatus"]


@pytest.fixture(scope="module")
def role(moto_endpoint) -> str:
    """An IAM role for functions, made in moto directly (moto checks it exists)."""
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    iam = aws("iam", moto_endpoint)
    return iam.create_role(RoleName=unique("fault-proxy"), AssumeRolePolicyDocument=trust)[
        "Role"]["Arn"]


@pytest.fixture
def start_proxy(moto_endpoint):
    """``start_proxy(*args) -> endpoint``: a fault proxy in front of moto, started as the
    harness starts it (its port read from its first line), killed after the test. A
    traceback on its stderr fails the test: connection trouble must stay quiet."""
    started: list[tuple[subprocess.Popen, object]] = []

    def start(*args: str) -> str:
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen(
            [sys.executable, str(PROXY), "--upstream", moto_endpoint, *args],
            stdout=subprocess.PIPE, stderr=log, text=True,
        )
        started.append((proc, log))
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        line = proc.stdout.readline() if ready else ""
        match = re.fullmatch(r"fault-proxy listening on 127\.0\.0\.1:(\d+)\n", line)
        if match is None:
            log.seek(0)
            pytest.fail(f"the fault proxy did not start ({line!r}):\n{log.read().decode()[-3000:]}")
        return f"http://127.0.0.1:{match.group(1)}"

    yield start
    stderr = []
    for proc, log in started:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        log.seek(0)
        stderr.append(log.read().decode())
        log.close()
    assert "Traceback" not in "".join(stderr), "".join(stderr)[-3000:]


def test_throttling_answers_as_each_service_does_and_reaches_nothing(start_proxy):
    proxy = start_proxy("--throttle", "1.0")
    assert failure(aws("lambda", proxy).list_functions) == ("TooManyRequestsException", 429)
    sfn = aws("stepfunctions", proxy)
    assert failure(sfn.list_state_machines) == ("ThrottlingException", 400)
    assert failure(lambda: sfn.create_state_machine(
        name=unique("throttled"), definition=PASS_DEFINITION,
        roleArn="arn:aws:iam::123456789012:role/r",
    )) == ("ThrottlingException", 400)
    # ECR speaks JSON 1.1: the error must still parse as ThrottlingException.
    assert failure(aws("ecr", proxy).describe_repositories) == ("ThrottlingException", 400)

    stats = control(proxy, "stats")
    assert (stats["reads"], stats["writes"], stats["throttled"]) == (0, 0, 4)
    assert stats["by_operation"] == {
        "lambda:ListFunctions": 1, "states:ListStateMachines": 1,
        "states:CreateStateMachine": 1, "ecr:DescribeRepositories": 1,
    }


def test_errors_are_500s_before_forwarding(start_proxy, role, moto_endpoint):
    proxy = start_proxy("--error", "1.0")
    lam, sfn = aws("lambda", proxy), aws("stepfunctions", proxy)
    name = unique("errored")
    assert failure(lam.list_functions) == ("ServiceException", 500)
    assert failure(lambda: create_function(lam, name, role)) == ("ServiceException", 500)
    assert failure(sfn.list_state_machines) == ("ServiceException", 500)
    assert failure(lambda: sfn.create_state_machine(
        name=name, definition=PASS_DEFINITION, roleArn=role
    )) == ("ServiceException", 500)

    direct = aws("lambda", moto_endpoint)
    assert failure(lambda: direct.get_function(FunctionName=name))[0] == "ResourceNotFoundException"
    stats = control(proxy, "stats")
    assert (stats["reads"], stats["writes"], stats["errors"]) == (0, 0, 4)


def test_a_lost_answer_hides_a_write_that_took_effect(start_proxy, role, moto_endpoint):
    proxy = start_proxy("--lose", "1.0")
    lam, sfn = aws("lambda", proxy), aws("stepfunctions", proxy)
    name = unique("lost")
    assert failure(lambda: create_function(lam, name, role)) == ("ServiceException", 500)
    assert failure(lambda: sfn.create_state_machine(
        name=name, definition=PASS_DEFINITION, roleArn=role
    )) == ("ServiceException", 500)

    assert aws("lambda", moto_endpoint).get_function(FunctionName=name)[
        "Configuration"]["FunctionName"] == name
    assert name in [m["name"] for m in aws("stepfunctions", moto_endpoint).list_state_machines()[
        "stateMachines"]]
    # Reads are never lost.
    assert lam.get_function_configuration(FunctionName=name)["FunctionName"] == name
    stats = control(proxy, "stats")
    assert (stats["reads"], stats["writes"], stats["lost"]) == (1, 2, 2)


def test_a_function_settles_after_a_create_or_update(start_proxy, role, moto_endpoint):
    """As on AWS: Pending/InProgress after a create, updates and PublishVersion refused
    with 409 until it settles, Active/InProgress after an update; published versions
    are untouched."""
    # A window far longer than the test: no assertion depends on how fast this machine is.
    proxy = start_proxy("--settle-ms", "600000")
    lam, direct = aws("lambda", proxy), aws("lambda", moto_endpoint)
    name = unique("settling")
    assert create_function(lam, name, role)["State"] == "Pending"

    assert states(lam.get_function_configuration(FunctionName=name)) == ("Pending", "InProgress")
    arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{name}"
    assert states(lam.get_function(FunctionName=arn)["Configuration"]) == ("Pending", "InProgress")
    assert states(lam.get_function_configuration(FunctionName=name, Qualifier="$LATEST")) == (
        "Pending", "InProgress")
    assert failure(lambda: lam.update_function_configuration(FunctionName=name, Timeout=30)) == (
        "ResourceConflictException", 409)
    assert failure(lambda: lam.update_function_code(FunctionName=f"{name}:$LATEST",
                                                    ImageUri=IMAGE)) == (
        "ResourceConflictException", 409)
    assert failure(lambda: lam.publish_version(FunctionName=arn)) == (
        "ResourceConflictException", 409)
    version = direct.publish_version(FunctionName=name)["Version"]  # behind the proxy's back
    assert states(lam.get_function_configuration(FunctionName=name, Qualifier=version)) == (
        "Active", "Successful")

    # The window ends (as it would after its time): settled, and a new one starts with
    # the next update.
    control(proxy, "config", {"settle_ms": 0})
    assert states(lam.get_function_configuration(FunctionName=name)) == ("Active", "Successful")
    control(proxy, "config", {"settle_ms": 600000})
    updated = lam.update_function_configuration(FunctionName=name, Timeout=30)
    assert (states(updated), updated["Timeout"]) == (("Active", "InProgress"), 30)
    assert states(lam.get_function(FunctionName=name)["Configuration"]) == ("Active", "InProgress")
    assert control(proxy, "stats")["refused_in_progress"] == 3


def test_the_client_is_killed_after_its_kth_write(start_proxy, role, moto_endpoint):
    """The k-th write reaches moto, then the client dies before any answer: reads and
    refused calls do not count."""
    proxy = start_proxy("--kill-after-write", "2")
    client = subprocess.Popen(["sleep", "60"])
    try:
        assert control(proxy, "client-pid", {"pid": client.pid}) == {"pid": client.pid}
        lam = aws("lambda", proxy)
        first, second = unique("first"), unique("second")
        assert create_function(lam, first, role)["FunctionName"] == first
        assert lam.get_function(FunctionName=first)["Configuration"]["FunctionName"] == first
        assert client.poll() is None
        with pytest.raises(ConnectionClosedError):
            create_function(lam, second, role)
        assert client.wait(timeout=10) == -signal.SIGKILL
        assert aws("lambda", moto_endpoint).get_function(FunctionName=second)[
            "Configuration"]["FunctionName"] == second
        stats = control(proxy, "stats")
        assert (stats["reads"], stats["writes"], stats["killed"]) == (1, 2, True)
    finally:
        client.kill()
        client.wait()


def test_the_same_seed_gives_the_same_faults(start_proxy):
    def outcomes(seed: str) -> list[str]:
        proxy = start_proxy("--seed", seed, "--throttle", "0.5")
        lam = aws("lambda", proxy)
        seen = []
        for _ in range(40):
            try:
                lam.list_functions()
                seen.append("ok")
            except ClientError as error:
                seen.append(error.response["Error"]["Code"])
        stats = control(proxy, "stats")
        assert (stats["throttled"], stats["reads"]) == (seen.count("TooManyRequestsException"),
                                                        seen.count("ok"))
        return seen

    first = outcomes("7")
    assert outcomes("7") == first
    assert outcomes("8") != first
    assert set(first) == {"ok", "TooManyRequestsException"}
    assert 10 <= first.count("TooManyRequestsException") <= 30


def test_config_turns_faults_off_at_runtime(start_proxy):
    proxy = start_proxy("--throttle", "1.0", "--error", "1.0", "--latency-ms", "300")
    lam = aws("lambda", proxy)
    began = time.monotonic()
    assert failure(lam.list_functions) == ("TooManyRequestsException", 429)
    assert time.monotonic() - began >= 0.3
    assert control(proxy, "config", {"throttle": 0, "latency_ms": 0})["throttle"] == 0.0
    assert failure(lam.list_functions) == ("ServiceException", 500)
    assert control(proxy, "config", {"error": 0}) == {
        "throttle": 0.0, "error": 0.0, "lose": 0.0, "latency_ms": 0, "settle_ms": 0,
        "kill_after_write": 0, "fail_operations": [], "invoke_with": None,
    }
    assert "Functions" in lam.list_functions()
    assert control(proxy, "stats")["reads"] == 1
    with pytest.raises(urllib.error.HTTPError) as refused:
        control(proxy, "config", {"throttel": 1})
    assert refused.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as refused:
        control(proxy, "config", {"invoke_with": {"python": "python3"}})
    assert refused.value.code == 400, "invoke_with needs handler, python and project"

    control(proxy, "reset-stats", {})
    assert control(proxy, "stats") == {
        "reads": 0, "writes": 0, "throttled": 0, "errors": 0, "lost": 0,
        "refused_in_progress": 0, "killed": False, "by_operation": {},
    }

    # One operation down, the others up.
    control(proxy, "config", {"fail_operations": ["ListFunctions"]})
    assert failure(lam.list_functions) == ("ServiceException", 500)
    assert control(proxy, "stats")["errors"] == 1
    control(proxy, "config", {"fail_operations": []})
    assert "Functions" in lam.list_functions()


def test_other_services_pass_untouched(start_proxy):
    """S3 and STS are neither faulted nor counted, even an S3 path that looks like
    Lambda's (a bucket named like a Lambda API version); HEAD keeps moto's length."""
    proxy = start_proxy("--throttle", "1.0", "--error", "1.0")
    s3 = aws("s3", proxy)
    bucket = "2015-03-31"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket=bucket, Key="functions/x", Body=b"payload")
    assert s3.get_object(Bucket=bucket, Key="functions/x")["Body"].read() == b"payload"
    assert s3.head_object(Bucket=bucket, Key="functions/x")["ContentLength"] == 7
    assert aws("sts", proxy).get_caller_identity()["Account"] == "123456789012"
    stats = control(proxy, "stats")
    assert (stats["reads"], stats["writes"], stats["by_operation"]) == (0, 0, {})


def test_broken_clients_and_chunked_bodies(start_proxy):
    """Clients that vanish mid-request leave the server serving; a chunked request body
    is forwarded whole; answers carry a true Content-Length on a kept-alive connection."""
    proxy = start_proxy()
    port = int(proxy.rsplit(":", 1)[1])
    for partial in (
        b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"Fun",
        b"POST /2015-03-31/functions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"",
        b"GET /2015-03-31/functi",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(partial)

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/", body=iter([b"{", b"}"]), encode_chunked=True, headers={
            "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/eu-west-1/states/"
                             "aws4_request, SignedHeaders=host, Signature=0",
        })
        answer = connection.getresponse()
        body = answer.read()
        assert answer.status == 200, body
        assert int(answer.getheader("Content-Length")) == len(body)
        assert "stateMachines" in json.loads(body)

        connection.request("GET", "/__proxy/stats")  # the same connection, kept alive
        answer = connection.getresponse()
        stats = json.loads(answer.read())
    finally:
        connection.close()
    assert (stats["reads"], stats["by_operation"]) == (1, {"states:ListStateMachines": 1})
