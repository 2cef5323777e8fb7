"""A stressed AWS in front of moto: a loopback HTTP proxy that injects AWS's faults.

    python fault_proxy.py --upstream http://127.0.0.1:PORT [--port 0] [--seed 1]
        [--throttle P] [--error P] [--lose P] [--latency-ms MS] [--settle-ms MS]
        [--kill-after-write K]

The SDK under test points AWS_ENDPOINT_URL here; every call is forwarded to moto
(``--upstream``) unless a fault answers it first. On start one line,
``fault-proxy listening on 127.0.0.1:PORT``, goes to stdout (the harness reads
the port from it); nothing else is ever printed, so nobody has to drain the pipe.

Calls it knows (faulted and counted):
  * Lambda (REST-JSON, ``/20YY-MM-DD/...`` paths, no X-Amz-Target): GET reads,
    any other method writes;
  * JSON-protocol services by X-Amz-Target (Step Functions, ECR, ECS, Resource
    Groups Tagging, EventBridge): Describe*/List*/Get*/BatchGet*/Validate* read, the
    rest write;
  * EventBridge Scheduler (REST-JSON, by the credential scope ``scheduler``): GET reads,
    any other method writes.
Anything else (S3, STS, IAM, ...) is forwarded untouched and not counted.

Faults, per call, from one seeded random.Random under a lock (a run repeats given
the same call order): latency; then a throttle roll (the service's own throttling
error); then an error roll (a 500 before forwarding); for writes then a lose roll
(forwarded, moto's answer replaced by a 500: the call took effect, the client
thinks it failed). ``--settle-ms`` makes a Lambda function "updating" for a while
after a create or update, as on AWS (State/LastUpdateStatus rewritten, updates
and PublishVersion refused with 409 ResourceConflictException).
``--kill-after-write K`` SIGKILLs the client (pid given by ``POST
/__proxy/client-pid``) right after moto answered its K-th write, which is left
unanswered: a deploy interrupted at any point. ``fail_operations`` (config only:
a list of operation names, e.g. ``["ListExecutions"]``) answers every call of those
operations with a 500: a service that is down for one API. ``invoke_with`` (config only:
``{"handler": PATH, "python": PATH, "project": DIR, "env": {...}}``) makes Lambda's Invoke
run the real kedro-sfn handler instead of moto's echo: a process per invocation calls
``handler(event, None)`` with the invoked version's environment variables (read from
moto) plus ``env`` and ``KEDRO_SFN_PROJECT_DIR=project``, and its result, or its error as
Lambda reports an unhandled one (``X-Amz-Function-Error: Unhandled``, ``errorType``,
``errorMessage``), is the answer.

Control endpoints (never forwarded, never faulted): ``POST /__proxy/config``,
``POST /__proxy/client-pid``, ``GET /__proxy/stats``, ``POST /__proxy/reset-stats``.

Standard library only: the Rust harness runs it with any Python 3.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "expect", "content-length",
}
# X-Amz-Target prefix -> the service's short name in stats.
JSON_SERVICES = {
    "AWSStepFunctions": "states",
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
    "AmazonEC2ContainerServiceV20141113": "ecs",
    "ResourceGroupsTaggingAPI_20170126": "tag",
    "AWSEvents": "events",
}
READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Validate")
LAMBDA_PATH = re.compile(r"^/20\d\d-\d\d-\d\d/")
SCOPE_SERVICE = re.compile(r"Credential=[^/,]*/[^/,]*/([^/,]*)/([^/,]*)/")
# (method, sub-resource after functions/NAME) -> Lambda operation
FUNCTION_OPERATIONS = {
    ("GET", None): "GetFunction",
    ("DELETE", None): "DeleteFunction",
    ("PUT", "code"): "UpdateFunctionCode",
    ("PUT", "configuration"): "UpdateFunctionConfiguration",
    ("GET", "configuration"): "GetFunctionConfiguration",
    ("POST", "versions"): "PublishVersion",
    ("GET", "versions"): "ListVersionsByFunction",
    ("POST", "invocations"): "Invoke",
}
# Runs the handler on one event (stdin) and writes Lambda's answer to the file argv[2]:
# the handler's own stdout (Kedro's logs) stays out of the answer.
INVOKE_RUNNER = """
import json, sys, traceback
sys.path.insert(0, sys.argv[1])
import kedro_sfn_handler
event = json.load(sys.stdin)
try:
    answer, failed = kedro_sfn_handler.handler(event, None), False
except Exception as exc:
    answer, failed = {"errorType": type(exc).__name__, "errorMessage": str(exc),
                      "stackTrace": traceback.format_tb(exc.__traceback__)}, True
with open(sys.argv[2], "w") as out:
    json.dump({"failed": failed, "answer": answer}, out)
"""
TAG_OPERATIONS = {"POST": "TagResource", "DELETE": "UntagResource", "GET": "ListTags"}
SETTLE_STARTERS = {"CreateFunction", "UpdateFunctionCode", "UpdateFunctionConfiguration"}
SETTLE_REFUSED = {"UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion"}
SETTLE_REWRITTEN = {"GetFunction", "GetFunctionConfiguration"}
ACCOUNT = "123456789012"  # moto's default account, for the ARN in a 409's message


def function_name(text: str) -> tuple[str, str]:
    """(bare name, qualifier) of a function name, ``name:qualifier``, or (partial) ARN."""
    text = unquote(text)
    if ":function:" in text:
        text = text.split(":function:", 1)[1]
    name, _, qualifier = text.partition(":")
    return name, qualifier


class Call:
    """One AWS call as the proxy sees it: service, operation, read or write, and for
    Lambda's function calls the function (bare name) and qualifier."""

    def __init__(self, service: str, operation: str, write: bool,
                 function: str | None = None, qualifier: str = ""):
        self.service, self.operation, self.write = service, operation, write
        self.function, self.qualifier = function, qualifier

    @property
    def key(self) -> str:
        return f"{self.service}:{self.operation}"


def classify(method: str, target: str, headers, body: bytes) -> Call | None:
    """The call a request is, or None for one to forward untouched."""
    amz_target = headers.get("X-Amz-Target")
    if amz_target:
        prefix, _, operation = amz_target.partition(".")
        service = JSON_SERVICES.get(prefix)
        if service is None or not operation:
            return None
        return Call(service, operation, not operation.startswith(READ_PREFIXES))
    url = urlsplit(target)
    scope = SCOPE_SERVICE.search(headers.get("Authorization", ""))
    if scope and scope.group(2) == "scheduler":
        return scheduler_call(method, url.path)
    if not LAMBDA_PATH.match(url.path):
        return None
    if scope and scope.group(2) != "lambda":
        return None  # e.g. an S3 bucket whose name looks like a date
    return lambda_call(method, url.path, parse_qs(url.query), body)


# (method, first path segment) -> EventBridge Scheduler operation (REST-JSON)
SCHEDULER_OPERATIONS = {
    ("GET", "schedules"): "GetSchedule", ("POST", "schedules"): "CreateSchedule",
    ("PUT", "schedules"): "UpdateSchedule", ("DELETE", "schedules"): "DeleteSchedule",
    ("GET", "schedule-groups"): "GetScheduleGroup",
    ("POST", "schedule-groups"): "CreateScheduleGroup",
    ("DELETE", "schedule-groups"): "DeleteScheduleGroup",
    ("GET", "tags"): "ListTagsForResource", ("POST", "tags"): "TagResource",
    ("DELETE", "tags"): "UntagResource",
}


def scheduler_call(method: str, path: str) -> Call:
    parts = [p for p in path.split("/") if p]
    operation = SCHEDULER_OPERATIONS.get((method, parts[0] if parts else ""))
    if operation in ("GetSchedule", "GetScheduleGroup") and len(parts) == 1:
        operation = "ListSchedules" if parts[0] == "schedules" else "ListScheduleGroups"
    return Call("scheduler", operation or f"{method} {path}", method not in ("GET", "HEAD"))


def lambda_call(method: str, path: str, query: dict, body: bytes) -> Call:
    parts = path.split("/")[2:]  # after "", "2015-03-31"
    write = method not in ("GET", "HEAD")
    qualifier = (query.get("Qualifier") or [""])[0]
    if parts[0] == "functions":
        if len(parts) == 1 or (len(parts) == 2 and parts[1] == ""):
            if method == "POST":
                try:
                    name = json.loads(body or b"{}").get("FunctionName", "")
                except (ValueError, AttributeError):
                    name = ""
                return Call("lambda", "CreateFunction", True, function_name(name)[0] or None)
            if method == "GET":
                return Call("lambda", "ListFunctions", False)
        elif len(parts) in (2, 3):
            operation = FUNCTION_OPERATIONS.get((method, parts[2] if len(parts) == 3 else None))
            if operation:
                name, in_name = function_name(parts[1])
                return Call("lambda", operation, write, name, qualifier or in_name)
    elif parts[0] == "tags" and len(parts) == 2 and method in TAG_OPERATIONS:
        return Call("lambda", TAG_OPERATIONS[method], write)
    return Call("lambda", f"{method} {path}", write)


class Proxy:
    """The proxy's settings, statistics and Lambda settle state, behind one lock."""

    def __init__(self, upstream: tuple[str, int], seed: int):
        self.upstream = upstream
        self.lock = threading.Lock()
        self.random = random.Random(seed)
        self.config = {
            "throttle": 0.0, "error": 0.0, "lose": 0.0, "latency_ms": 0, "settle_ms": 0,
            "kill_after_write": 0, "fail_operations": [], "invoke_with": None,
        }
        self.client_pid: int | None = None
        self.forwarded_writes = 0
        self.settling: dict[str, tuple[float, str]] = {}  # function -> (until, after which)
        self.reset_stats()

    def reset_stats(self) -> None:
        self.stats = {
            "reads": 0, "writes": 0, "throttled": 0, "errors": 0, "lost": 0,
            "refused_in_progress": 0, "killed": False, "by_operation": {},
        }

    def configure(self, changes: dict) -> dict:
        with self.lock:
            unknown = set(changes) - set(self.config)
            if unknown:
                raise ValueError(f"unknown settings {sorted(unknown)}; "
                                 f"known: {sorted(self.config)}")
            for key, value in changes.items():
                if key == "fail_operations":
                    self.config[key] = [str(name) for name in value]
                elif key == "invoke_with":
                    if value is not None and not {"handler", "python", "project"} <= set(value):
                        raise ValueError("invoke_with needs handler, python and project")
                    self.config[key] = value
                elif key in ("throttle", "error", "lose"):
                    if not 0.0 <= float(value) <= 1.0:
                        raise ValueError(f"{key} must be a probability, got {value!r}")
                    self.config[key] = float(value)
                else:
                    self.config[key] = int(value)
            if "kill_after_write" in changes:
                self.forwarded_writes = 0
            if "settle_ms" in changes:
                # A new window applies from the next create or update; those settling now
                # settle at once (tests end a window without waiting for a clock).
                self.settling.clear()
            return dict(self.config)

    def decide(self, call: Call) -> str:
        """What happens to a call: "throttle", "error", "refuse", "lose" or "forward".
        All of one call's rolls are taken at once, so concurrent calls cannot
        interleave them."""
        with self.lock:
            config = self.config
            if call.operation in config["fail_operations"]:
                self.stats["errors"] += 1
                return "error"
            if config["throttle"] > 0 and self.random.random() < config["throttle"]:
                self.stats["throttled"] += 1
                return "throttle"
            if config["error"] > 0 and self.random.random() < config["error"]:
                self.stats["errors"] += 1
                return "error"
            if call.operation in SETTLE_REFUSED and self.settle_state(call.function):
                self.stats["refused_in_progress"] += 1
                return "refuse"
            if call.write and config["lose"] > 0 and self.random.random() < config["lose"]:
                return "lose"
            return "forward"

    def settle_state(self, function: str | None) -> str | None:
        """"create" or "update" while ``function`` is settling, else None (lock held)."""
        entry = self.settling.get(function) if function else None
        if entry is None:
            return None
        if time.monotonic() >= entry[0]:
            del self.settling[function]
            return None
        return entry[1]

    def reached_moto(self, call: Call, status: int, lost: bool) -> bool:
        """Account for a call moto answered; True when the client is to be killed now."""
        with self.lock:
            self.stats["writes" if call.write else "reads"] += 1
            if lost:
                self.stats["lost"] += 1
            settle_ms = self.config["settle_ms"]
            if (settle_ms > 0 and call.operation in SETTLE_STARTERS and call.function
                    and 200 <= status < 300):
                kind = "create" if call.operation == "CreateFunction" else "update"
                self.settling[call.function] = (time.monotonic() + settle_ms / 1000, kind)
            if not call.write:
                return False
            self.forwarded_writes += 1
            kill = self.config["kill_after_write"]
            if kill <= 0 or self.forwarded_writes != kill or self.client_pid is None:
                return False
            try:
                os.kill(self.client_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.stats["killed"] = True
            return True


def lambda_error(status: int, error_type: str, body: dict) -> tuple[int, list, bytes]:
    return status, [("x-amzn-ErrorType", error_type), ("Content-Type", "application/json")], \
        json.dumps(body).encode()


def json_error(request_type: str, status: int, error_type: str,
               message: str) -> tuple[int, list, bytes]:
    return status, [("Content-Type", request_type)], \
        json.dumps({"__type": error_type, "message": message}).encode()


def with_settle_state(body: bytes, operation: str, kind: str) -> bytes:
    """A Lambda answer rewritten to say the function is still being created or updated."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    config = answer.get("Configuration") if operation == "GetFunction" else answer
    if not isinstance(config, dict):
        return body
    config["State"] = "Pending" if kind == "create" else "Active"
    config["LastUpdateStatus"] = "InProgress"
    return json.dumps(answer).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300  # an idle keep-alive connection's thread ends after this
    proxy: Proxy  # set on the class by main()

    def log_message(self, format, *args):  # noqa: A002  (the base class's signature)
        """Silent: nobody drains this process's stderr."""

    def parse_request(self):
        """A request line cut short by a vanished client is no (HTTP/0.9) request."""
        if not self.raw_requestline.endswith(b"\n"):
            self.close_connection = True
            return False
        return super().parse_request()

    def handle_one_request(self):
        """One request; a client gone mid-request ends its connection, not the server."""
        try:
            super().handle_one_request()
        except (ConnectionError, socket.timeout, ValueError):
            self.close_connection = True

    def serve(self) -> None:
        body = self.read_body()
        if self.path.startswith("/__proxy/"):
            self.respond(*self.control(body))
            return
        call = classify(self.command, self.path, self.headers, body)
        if call is None:
            answer = self.forward(body)
            if answer is not None:
                self.respond(*answer)
            return
        with self.proxy.lock:
            by_operation = self.proxy.stats["by_operation"]
            by_operation[call.key] = by_operation.get(call.key, 0) + 1
            latency_ms = self.proxy.config["latency_ms"]
        if latency_ms > 0:
            time.sleep(latency_ms / 1000)
        decision = self.proxy.decide(call)
        with self.proxy.lock:
            invoke_with = self.proxy.config["invoke_with"]
        if decision == "forward" and call.operation == "Invoke" and invoke_with:
            self.respond(*self.invoke(call, body, invoke_with))
            return
        if decision == "throttle":
            self.respond(*self.throttled(call))
        elif decision == "error":
            self.respond(*self.service_error(call))
        elif decision == "refuse":
            region = self.region()
            self.respond(*lambda_error(409, "ResourceConflictException", {
                "Type": "User",
                "message": "The operation cannot be performed at this time. An update is in "
                           f"progress for resource: arn:aws:lambda:{region}:{ACCOUNT}:function:"
                           f"{call.function}",
            }))
        else:
            answer = self.forward(body)
            if answer is None:
                return
            status, headers, payload = answer
            if self.proxy.reached_moto(call, status, lost=decision == "lose"):
                self.close_connection = True  # killed: the answer never arrives
                return
            if decision == "lose":
                self.respond(*self.service_error(call))
                return
            if call.service == "lambda" and 200 <= status < 300:
                payload = self.settled(call, payload)
            self.respond(status, headers, payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = serve

    def invoke(self, call: Call, body: bytes, invoke_with: dict) -> tuple[int, list, bytes]:
        """Lambda's Invoke, answered by the real handler (see ``invoke_with``)."""
        import subprocess
        import tempfile

        qualifier = call.qualifier or "$LATEST"
        saved_path, saved_command = self.path, self.command
        self.path = f"/2015-03-31/functions/{call.function}/configuration?Qualifier={qualifier}"
        self.command = "GET"
        try:
            status, _, payload = self.forward(b"") or (502, [], b"{}")
        finally:
            self.path, self.command = saved_path, saved_command
        if status != 200:
            return status, [("Content-Type", "application/json")], payload
        variables = (json.loads(payload).get("Environment") or {}).get("Variables") or {}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEDRO_"))}
        env.update(invoke_with.get("env") or {})
        env.update(variables)
        env["KEDRO_SFN_PROJECT_DIR"] = invoke_with["project"]
        with tempfile.TemporaryDirectory(prefix="fault-proxy-invoke-") as scratch:
            answer_file = os.path.join(scratch, "answer.json")
            handler_dir = os.path.dirname(invoke_with["handler"])
            ran = subprocess.run(
                [invoke_with["python"], "-c", INVOKE_RUNNER, handler_dir, answer_file],
                input=body, env=env, cwd=scratch, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, timeout=600,
            )
            try:
                with open(answer_file) as handle:
                    result = json.load(handle)
            except (OSError, ValueError):
                result = {"failed": True, "answer": {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"exit code {ran.returncode}: "
                                    f"{ran.stderr.decode(errors='replace')[-2000:]}",
                }}
        headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", qualifier)]
        if result["failed"]:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        return 200, headers, json.dumps(result["answer"]).encode()

    def settled(self, call: Call, payload: bytes) -> bytes:
        """moto's answer, as AWS would give it while ``call.function`` settles."""
        if call.operation in SETTLE_STARTERS:
            with self.proxy.lock:
                kind = self.proxy.settle_state(call.function)
            return with_settle_state(payload, "", kind) if kind else payload
        if call.operation in SETTLE_REWRITTEN and call.qualifier in ("", "$LATEST"):
            with self.proxy.lock:
                kind = self.proxy.settle_state(call.function)
            if kind:
                return with_settle_state(payload, call.operation, kind)
        return payload

    def throttled(self, call: Call) -> tuple[int, list, bytes]:
        if call.service == "lambda":
            return lambda_error(429, "TooManyRequestsException", {
                "Reason": "CallerRateLimitExceeded", "Type": "User", "message": "Rate exceeded",
            })
        return json_error(self.request_type(), 400, "ThrottlingException", "Rate exceeded")

    def service_error(self, call: Call) -> tuple[int, list, bytes]:
        message = "injected: service unavailable"
        if call.service == "lambda":
            return lambda_error(500, "ServiceException", {"Type": "Service", "message": message})
        return json_error(self.request_type(), 500, "ServiceException", message)

    def request_type(self) -> str:
        return self.headers.get("Content-Type", "application/x-amz-json-1.0")

    def region(self) -> str:
        scope = SCOPE_SERVICE.search(self.headers.get("Authorization", ""))
        return scope.group(1) if scope else "us-east-1"

    def control(self, body: bytes) -> tuple[int, list, bytes]:
        path = urlsplit(self.path).path
        proxy = self.proxy
        try:
            if self.command == "GET" and path == "/__proxy/stats":
                with proxy.lock:
                    answer = json.loads(json.dumps(proxy.stats))
            elif self.command == "POST" and path == "/__proxy/config":
                answer = proxy.configure(json.loads(body or b"{}"))
            elif self.command == "POST" and path == "/__proxy/client-pid":
                pid = int(json.loads(body)["pid"])
                with proxy.lock:
                    proxy.client_pid = pid
                answer = {"pid": pid}
            elif self.command == "POST" and path == "/__proxy/reset-stats":
                with proxy.lock:
                    proxy.reset_stats()
                answer = {}
            else:
                return 404, [("Content-Type", "application/json")], \
                    json.dumps({"message": f"no control endpoint {self.command} {path}"}).encode()
        except (ValueError, KeyError, TypeError, AttributeError) as problem:
            return 400, [("Content-Type", "application/json")], \
                json.dumps({"message": f"bad request: {problem!r}"}).encode()
        return 200, [("Content-Type", "application/json")], json.dumps(answer).encode()

    def read_body(self) -> bytes:
        """The request body, by Content-Length or chunked transfer coding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(1024)
                if not size_line.endswith(b"\n"):
                    raise ConnectionError("request ended inside a chunk size")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                chunks.append(self.read_exactly(size))
                self.read_exactly(2)  # CRLF after the chunk
            while self.rfile.readline(65537).strip():
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.read_exactly(length)

    def read_exactly(self, length: int) -> bytes:
        data = self.rfile.read(length) if length else b""
        if len(data) != length:
            raise ConnectionError(f"request body ended after {len(data)} of {length} bytes")
        return data

    def forward(self, body: bytes) -> tuple[int, list, bytes] | None:
        """moto's answer to the request, or a 502 when moto cannot be reached."""
        connection_tokens = {
            token.strip().lower() for token in self.headers.get("Connection", "").split(",")
        }
        host, port = self.proxy.upstream
        upstream = http.client.HTTPConnection(host, port, timeout=120)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            if "Host" not in self.headers:
                upstream.putheader("Host", f"{host}:{port}")
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() not in connection_tokens:
                    upstream.putheader(name, value)
            if body or "Content-Length" in self.headers or "Transfer-Encoding" in self.headers:
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body or None)
            response = upstream.getresponse()
            payload = response.read()
            headers = [(name, value) for name, value in response.getheaders()
                       if name.lower() not in HOP_BY_HOP]
            if self.command == "HEAD" and response.getheader("Content-Length") is not None:
                headers.append(("Content-Length", response.getheader("Content-Length")))
            return response.status, headers, payload
        except (OSError, http.client.HTTPException) as problem:
            return 502, [("Content-Type", "application/json")], \
                json.dumps({"message": f"fault proxy: upstream failed: {problem!r}"}).encode()
        finally:
            upstream.close()

    def respond(self, status: int, headers: list, payload: bytes) -> None:
        """An answer with a Content-Length that matches what is sent (HEAD: moto's)."""
        self.send_response_only(status)
        names = {name.lower() for name, _ in headers}
        if "x-amzn-requestid" not in names:
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in headers:
            self.send_header(name, value)
        if self.command != "HEAD" and status not in (204, 304):
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:  # the client asked for it (HTTP/1.0 or Connection: close)
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(payload)
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        """A connection's trouble (a client gone) is that connection's alone; anything
        else is a bug worth a traceback on stderr."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, socket.timeout)):
            super().handle_error(request, client_address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="moto's endpoint, http://HOST:PORT")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--throttle", type=float, default=0.0)
    parser.add_argument("--error", type=float, default=0.0)
    parser.add_argument("--lose", type=float, default=0.0)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--settle-ms", type=int, default=0)
    parser.add_argument("--kill-after-write", type=int, default=0, help="0: off")
    args = parser.parse_args()
    upstream = urlsplit(args.upstream)
    if upstream.scheme != "http" or not upstream.hostname:
        parser.error(f"--upstream must be http://HOST:PORT, got {args.upstream!r}")
    proxy = Proxy((upstream.hostname, upstream.port or 80), args.seed)
    try:
        proxy.configure({
            "throttle": args.throttle, "error": args.error, "lose": args.lose,
            "latency_ms": args.latency_ms, "settle_ms": args.settle_ms,
            "kill_after_write": args.kill_after_write,
        })
    except ValueError as problem:
        parser.error(str(problem))
    Handler.proxy = proxy
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"fault-proxy listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
